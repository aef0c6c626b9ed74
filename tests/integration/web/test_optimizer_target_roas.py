"""Issue 16 item 12 through the optimizer page's callbacks: the target-ROAS scenarios run, say the budget they
found, save, export and compare; a target out of reach is refused in the currency, before any plan is shown."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from sqlalchemy import select

from core.budget import preview, result_tables
from core.formatting import Units
from core.models import Scenario
from core.scenario_compare import input_differences
from core.scenarios import get_scenario
from core.security import load_principal
from tests.integration.web.optimizer_support import find_component, follow, page_layout, post, start_run
from tests.integration.web.test_optimizer_jobs import build, run_values, signed_in, submitted, user_id
from tests.integration.web.test_optimizer_plan import SAVE, shown, words

CONCAVE = ["Meta", "Search"]  # the demo's truth curves for these are concave (Hill shape ≤ 1): the exact path
GOALS = "optimizer-scenario-type.value"


def _result(db, job_id: str) -> dict:
    from core.models import Job

    with db.session() as s:
        return s.get(Job, job_id).result


def test_the_form_shows_the_target_roas_only_for_its_scenarios(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    layout = page_layout(client, headers)
    values = [o["value"] for o in find_component(layout, "optimizer-scenario-type")["options"]]
    assert values == ["max_outcome", "min_budget", "marginal_roas", "overall_roas"]
    assert find_component(layout, "optimizer-target-roas-col")["style"] == {"display": "none"}
    assert find_component(layout, "optimizer-budget-col")["style"] == {}
    expected = {"max_outcome": (True, False, False), "min_budget": (True, True, False),
                "marginal_roas": (False, False, True), "overall_roas": (False, False, True)}
    for scenario, (budget, target, roas) in expected.items():
        answer = post(client, headers, app, GOALS, {"scenario_type": scenario}).get_json()["response"]
        shown_ = [answer[f"optimizer-{name}-col"]["style"] == {} for name in ("budget", "target", "target-roas")]
        assert shown_ == [budget, target, roas], scenario


def test_a_marginal_roas_run_finds_its_budget_and_saves_exports_and_compares(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    pv = preview(sqlite_db, principal, [brand], CONCAVE, "truth")
    target = round(pv["current_outcome"] / pv["budget"] * 0.6, 2)

    job_id = submitted(start_run(client, headers, app, run_values(
        brand, channels=CONCAVE, scenario_type="marginal_roas", target_roas=f"{target:,}", budget="ignored")))
    final, _ = follow(client, headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id, final["optimizer-message"]
    result = _result(sqlite_db, job_id)
    assert result["scenario"] == "marginal_roas" and result["target_roas"] == target
    assert result["status"] == "optimal"
    free = [c for c in result["cells"] if c["lower"] + 1e-6 < c["optimal"] < (c["upper"] or np.inf) - 1e-6]
    assert free and all(abs(c["marginal_roi"] / target - 1) < 1e-6 for c in free)  # spend stops at T
    # the plan's budget is its cells' sum, up to the last bit (the cells are summed in another order)
    assert result["budget"] == pytest.approx(sum(c["optimal"] for c in result["cells"]), rel=1e-12)
    assert result["budget"] != pv["budget"]

    units = Units("INR")
    tree = json.loads(shown(client, headers, app, job_id, None))
    found = words(find_component(tree, "optimizer-budget-found"))
    assert found.strip() == (f"Budget found: {units.money(result['budget'], 4)} — spend stops where each extra ₹1 "
                             f"returns ₹{target:.2f}")

    saved = post(client, headers, app, SAVE, {"n_clicks": 1, "name": "Marginal", "job_id": job_id,
                                              "scenario_id": None})
    assert "Saved as scenario" in saved.get_data(as_text=True)
    export = post(client, headers, app, "optimizer-export-csv.n_clicks",
                  {"csv_clicks": 1, "xlsx_clicks": None, "job_id": job_id, "scenario_id": None})
    assert export.status_code == 200, export.data[:300]
    csv = base64.b64decode(export.get_json()["response"]["optimizer-download"]["data"]["content"]).decode()
    assert "Meta" in csv and "Search" in csv
    summary = result_tables(result)["Summary"]
    assert summary.loc[summary["item"] == "target ROAS", "value"].tolist() == [f"₹{target:.2f} per ₹1"]

    overall_target = round(pv["current_outcome"] / pv["budget"] * 1.1, 2)
    second = submitted(start_run(client, headers, app, run_values(
        brand, 2, channels=CONCAVE, scenario_type="overall_roas", target_roas=str(overall_target))))
    assert follow(client, headers, app, second)[0]["optimizer-job"]["data"] == second
    overall = _result(sqlite_db, second)
    assert overall["roi"] >= overall_target and overall["status"] == "optimal"
    assert "the largest budget whose plan returns at least ₹" in words(
        find_component(json.loads(shown(client, headers, app, second, None)), "optimizer-budget-found"))
    post(client, headers, app, SAVE, {"n_clicks": 1, "name": "Overall", "job_id": second, "scenario_id": None})

    with sqlite_db.session() as s:
        ids = s.scalars(select(Scenario.id).order_by(Scenario.id)).all()
    both = [get_scenario(sqlite_db, principal, i) for i in ids]
    rows = {r["input"]: r["values"] for r in input_differences(both)}
    assert rows["Goal"] == ["Spend until the marginal ROAS falls to the target",
                            "Largest budget whose ROAS meets the target"]
    assert rows["Target ROAS"] == [f"₹{target:.2f} per ₹1", f"₹{overall_target:.2f} per ₹1"]


def test_s_shaped_curves_give_a_heuristic_plan_and_targets_out_of_reach_are_refused(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    pv = preview(sqlite_db, principal, [brand], ["Meta", "Search", "TV"], "truth")
    target = round(pv["current_outcome"] / pv["budget"], 2)
    job_id = submitted(start_run(client, headers, app, run_values(
        brand, scenario_type="overall_roas", target_roas=str(target), max_change=60, risk=[])))
    final, _ = follow(client, headers, app, job_id)
    assert final["optimizer-job"]["data"] == job_id, final["optimizer-message"]
    result = _result(sqlite_db, job_id)
    assert result["status"] in ("envelope_bound", "feasible")  # never called optimal
    assert result["roi"] >= target * (1 - 1e-9)

    capped = submitted(start_run(client, headers, app, run_values(
        brand, 9, channels=CONCAVE, scenario_type="marginal_roas", target_roas="0.01", max_change=30)))
    assert follow(client, headers, app, capped)[0]["optimizer-job"]["data"] == capped
    most = _result(sqlite_db, capped)["budget"]
    note = words(find_component(json.loads(shown(client, headers, app, capped, None)), "optimizer-target-note"))
    assert note.strip() == ("Every channel reaches its limit (at most +30 % per channel) before its return falls to "
                            f"₹0.01 per ₹1: the plan is the most the limits allow, {Units('INR').money(most, 4)}; "
                            "raise the cap to spend more.")
    assert most == pytest.approx(sum(c["current"] for c in _result(sqlite_db, capped)["cells"]) * 1.3, rel=1e-9)

    cases = [
        ({"target_roas": ""}, "the target-ROAS scenarios need a target ROAS"),
        ({"target_roas": "lots"}, "target ROAS: 'lots' is not a number"),
        ({"target_roas": "1000000", "max_change": 30}, "The best overall ROAS the limits allow is ₹"),
    ]
    for clicks, (extra, said) in enumerate(cases, start=2):
        answer = start_run(client, headers, app, run_values(brand, clicks, channels=CONCAVE,
                                                             scenario_type="overall_roas", **extra))
        message = answer.get_json()["response"]["optimizer-message"]
        if answer.get_json()["response"]["optimizer-watch"]["data"]:
            message = follow(client, headers, app, answer.get_json()["response"]["optimizer-watch"]["data"])[0][
                "optimizer-message"]
        assert said in str(message), (extra, message)
