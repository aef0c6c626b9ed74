"""Issue 16 items 1, 2 and 4 through the optimizer page's callbacks: what is shown, saved and said.

1. A failed, cancelled or refused run clears the result shown before (a saved scenario reopened, or an
   earlier run), so Save and Export have nothing stale to act on; a saved scenario holds the inputs of
   the run that produced its result.
2. A budget the limits cannot place fails with the number that would work and what to change
   (core.plan_limits), on the page as in the job's error.
4. The form starts from fitted curves, a ±30 % change cap, and a risk front switched on only when the
   curves can produce it; the result's footnotes are in a marketer's words.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from core.budget import preview
from core.demo import seed_demo
from core.formatting import Units
from core.models import Scenario
from core.response_curves import fit_brand
from core.scenarios import get_scenario
from core.security import load_principal
from tests.integration.web.optimizer_support import (
    SHOW,
    body,
    find_component,
    follow,
    page_layout,
    post,
    start_run,
)
from tests.integration.web.test_optimizer_jobs import CHANNELS, build, run_values, signed_in, submitted, user_id
from tests.support import demo_people, make_app

SAVE = "optimizer-save.n_clicks"
DEFAULTS = "optimizer-brands.value"


def _money(value: float, digits: int) -> str:
    """An amount as the messages write it: the demo organizations keep their money in INR."""
    return Units("INR").money(value, digits)


def scenarios(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Scenario))


def words(props) -> str:
    """The text a person reads in a JSON layout (its `children` strings), not the component names."""
    if isinstance(props, str):
        return props + " "
    if isinstance(props, list):
        return "".join(words(p) for p in props)
    if isinstance(props, dict):
        inner = props.get("props", props)
        return words(inner.get("children")) if isinstance(inner, dict) else ""
    return ""


def shown(client, headers, app, job_id, scenario_id) -> str:
    """The result area as the page renders it for these stores."""
    response = post(client, headers, app, SHOW, {"job_id": job_id, "scenario_id": scenario_id, "watched": None})
    assert response.status_code == 200, response.data[:300]
    return response.get_data(as_text=True)


def test_a_failed_or_refused_run_clears_the_result_and_leaves_nothing_to_save(sqlite_db, tmp_path):
    """Seen: a failed run left the earlier result on screen with Save active, and saving stored it again
    under the new name. Now the run's end clears both the shown job and a reopened scenario."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    first = submitted(start_run(client, headers, app, run_values(brand, budget=1_000_000)))
    assert follow(client, headers, app, first)[0]["optimizer-job"]["data"] == first
    saved = post(client, headers, app, SAVE, {"n_clicks": 1, "name": "Plan A", "job_id": first, "scenario_id": None})
    assert "Saved as scenario" in saved.get_data(as_text=True)
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    with sqlite_db.session() as s:
        (scenario_id,) = s.scalars(select(Scenario.id)).all()
    assert get_scenario(sqlite_db, principal, scenario_id)["inputs"]["budget"] == 1_000_000  # the run's inputs

    reopened = page_layout(client, headers, f"?scenario={scenario_id}")
    assert find_component(reopened, "optimizer-scenario")["data"] == scenario_id
    assert "optimizer-save" in shown(client, headers, app, None, scenario_id)

    failing = submitted(start_run(client, headers, app, run_values(brand, 2, budget=1e12, max_change=20)))
    final, _ = follow(client, headers, app, failing)
    assert final["optimizer-job"]["data"] is None and final["optimizer-scenario"]["data"] is None
    message = str(final["optimizer-message"])
    assert "the most you can place is" in message and "lower the budget or raise the cap" in message
    after = shown(client, headers, app, None, None)
    assert "optimizer-save" not in after and "optimizer-export" not in after and "No result yet" in after
    nothing = post(client, headers, app, SAVE, {"n_clicks": 1, "name": "Plan B", "job_id": None, "scenario_id": None})
    assert "Run an optimization first" in nothing.get_data(as_text=True)
    assert scenarios(sqlite_db) == 1, "the failed run's name saved the earlier result again"

    refused = start_run(client, headers, app, run_values(brand, 3, budget="lots")).get_json()["response"]
    assert refused["optimizer-watch"]["data"] is None and "not a number" in str(refused["optimizer-message"])
    assert refused["optimizer-job"]["data"] is None and refused["optimizer-scenario"]["data"] is None


def test_limits_the_budget_cannot_meet_are_said_with_the_number_that_works(sqlite_db, tmp_path):
    """Seen: "cannot place budget 5.5495e+08: no cell left to switch on". Each way a marketer's limits rule
    a budget out fails with the computed number and the change to make; a budget exactly at the cap runs."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    current = preview(sqlite_db, principal, [brand], CHANNELS, "truth")["budget"]
    cells = preview(sqlite_db, principal, [brand], CHANNELS, "truth")["cells"]
    tv = next(c for c in cells if c["channel"] == "TV")
    cases = [
        (
            {"budget": round(current * 1.5), "max_change": 20},
            f"With at most +20 % per channel the most you can place is {_money(current * 1.2, 4)}, less than the "
            f"budget of {_money(round(current * 1.5), 4)}; lower the budget or raise the cap.",
        ),
        (
            {"budget": round(current * 0.5), "max_change": 20},
            f"the least you must place is {_money(current * 0.8, 4)}, more than the budget of "
            f"{_money(round(current * 0.5), 4)}; raise the budget or widen the cap.",
        ),
        (
            {
                "budget": round(tv["current"] / 2),
                "max_change": None,
                "cells": [{"brand_id": brand, "channel": "TV", "locked": True}],
            },
            f"The locked channels alone spend {_money(tv['current'], 4)}, more than the budget of",
        ),
        (
            {"max_change": 10, "cells": [{"brand_id": brand, "channel": "TV", "lower": round(tv["current"] * 2)}]},
            f"TV: its minimum {_money(round(tv['current'] * 2), 4)} is more than the "
            f"{_money(tv['current'] * 1.1, 4)} that at most +10 % allows; lower the minimum or raise the cap.",
        ),
        ({"scenario_type": "min_budget", "target": 1e15, "max_change": 20}, "lower the target or raise the cap"),
        (
            {"max_active": 2, "max_change": 30},
            "3 channels must spend (a minimum, the cap or a lock) but at most 2 "
            "may be active; allow more active channels or free a channel.",
        ),
        ({"channels": ["Print"], "max_change": None}, "spent nothing on Print, so there is no response curve"),
    ]
    for clicks, (extra, words) in enumerate(cases, start=1):
        job_id = submitted(start_run(client, headers, app, run_values(brand, clicks, **extra)))
        final, _ = follow(client, headers, app, job_id)
        assert words in str(final["optimizer-message"]), (extra, final["optimizer-message"])
        assert "e+" not in str(final["optimizer-message"])
    at_cap = submitted(start_run(client, headers, app, run_values(brand, 10, budget=current * 1.2, max_change=20)))
    assert follow(client, headers, app, at_cap)[0]["optimizer-job"]["data"] == at_cap


def test_the_form_starts_from_believable_defaults(sqlite_db, tmp_path):
    """Seen: "Demo truth curves" preselected beside "(not fitted yet)", no change cap (OOH cut −100 %), a
    risk front switched on that then said "No risk front for this run", footnotes "genetic · feasible"
    and "no interval (curves without draws)"."""
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    layout = page_layout(client, headers)
    assert find_component(layout, "optimizer-source")["value"] == "fitted"
    assert find_component(layout, "optimizer-max-change")["value"] == 30
    assert "30 % to start" in str(layout) and "clear it for no limit" in str(layout)
    window = str(find_component(layout, "optimizer-window"))
    assert "the run fits them first" in window and "No spend history" not in window, window
    assert find_component(layout, "optimizer-risk")["value"] == ["on"]  # the fit on demand brings its uncertainty

    truth = post(client, headers, app, DEFAULTS, {"brand_ids": [brand], "channels": CHANNELS, "source": "truth"})
    risk = truth.get_json()["response"]["optimizer-risk"]
    assert risk["value"] == [] and risk["options"][0]["disabled"] is True

    job_id = submitted(start_run(client, headers, app, run_values(brand, risk=[], max_change=30)))
    final, _ = follow(client, headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id, final["optimizer-message"]  # S-shaped: the genetic search
    view = shown(client, headers, app, final["optimizer-job"]["data"], None)
    tree = json.loads(view)
    said = words(find_component(tree, "optimizer-kpis")) + words(find_component(tree, "optimizer-notes"))
    for jargon in ("curves without draws", "genetic", "heuristic", "bootstrap", "envelope"):
        assert jargon not in said, jargon
    assert "Risk front" not in view, "a risk front tab with nothing in it"
    assert "exact demo curves: no uncertainty to show" in said
    assert "How this plan was computed" in str(find_component(tree, "optimizer-method-notes"))  # folded, for analysts


def test_a_run_that_fitted_its_brand_stops_calling_it_not_fitted(sqlite_db, tmp_path):
    """After a run that fitted the brand on demand, the form no longer says "(not fitted yet)" and "the run
    fits them first" beside a result from those very curves."""
    seed_demo(sqlite_db, seed=7, months=13)  # a year of history: enough to fit
    people = demo_people(sqlite_db, tmp_path)
    app = make_app(sqlite_db, tmp_path)
    app.server.extensions["dash_app"] = app
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    layout = page_layout(client, headers)
    assert "(not fitted yet)" in str(find_component(layout, "optimizer-brands")["options"])
    fit_brand(sqlite_db, brand, n_bootstrap=5, n_starts=1)  # what the run does for a brand without curves
    key = next(k for k in app.callback_map if "optimizer-brands.options" in k)
    answer = client.post(
        "/_dash-update-component",
        headers=headers,
        json=body(
            app, key, {"job_id": "a-finished-run", "brand_ids": [brand], "channels": CHANNELS, "source": "fitted"}
        ),
    )
    assert answer.status_code == 200, answer.data[:300]
    response = answer.get_json()["response"]
    assert "(not fitted yet)" not in str(response["optimizer-brands"]["options"])
    assert "No fitted curves yet" not in str(response["optimizer-window"]["children"])
