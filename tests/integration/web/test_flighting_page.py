"""Issue 19 item 5: the flighting planner page, over HTTP as Dash's renderer drives its callbacks.

A Brand Manager plans a quarter on the truth curves: the form starts from last year's spend over the same
weeks, Run submits a durable "flighting" job that the follow ticks track to its plan; the plan spends the
budget exactly, keeps the weekly caps and blackout weeks typed into the grid, beats the flat plan it is
compared with, and downloads as a media plan (CSV and XLSX). A Viewer, a brand outside the person's scope
and a cap that is not an amount are refused with nothing queued.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from datetime import date, timedelta

import numpy as np
import openpyxl
from dash._utils import split_callback_id
from sqlalchemy import func, select

from core.demo import seed_demo
from core.flighting.compare import YEAR
from core.models import Brand, Channel, Job, Spend, join_channel
from core.scenarios import get_scenario, list_scenarios
from core.security import load_principal
from tests.integration.web.optimizer_support import body, callback_key, find_component, post
from tests.integration.web.test_optimizer_jobs import signed_in, user_id
from tests.support import demo_people, make_app

RUN, FOLLOW, SHOW = "flighting-run.n_clicks", "flighting-watch-tick.n_intervals", "flighting-job.data"
DEFAULTS, EXPORT_CSV = "flighting-brands.value", "flighting-export-csv.n_clicks"
CHANNELS = ["Meta", "Search", "TV"]


def build(db, tmp_path):
    seed_demo(db, seed=7, months=15)  # more than a year of weeks: last year's same weeks exist
    people = demo_people(db, tmp_path)
    app = make_app(db, tmp_path)
    app.server.extensions["dash_app"] = app
    return app, people


def weekly_spend(db, brand: int) -> tuple[list[date], dict[date, float]]:
    """The brand's weekly spend on CHANNELS, all channels together, straight from the table."""
    with db.session() as s:
        rows = s.execute(join_channel(select(Spend.period, func.sum(Spend.amount)), Spend)
                         .where(Spend.brand_id == brand, Channel.name.in_(CHANNELS)).group_by(Spend.period)).all()
    totals = {p: float(a) for p, a in rows}
    return sorted(totals), totals


def values(brand: int, budget, clicks: int = 1, bounds=None, limits=None) -> dict:
    return {"n_clicks": clicks, "brand_ids": [brand], "channels": CHANNELS, "weeks": 13, "budget": budget,
            "source": "truth", "carryover": ["on"], "bounds": bounds or [], "limits": limits or []}


def follow(client, headers, app, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    tick = 0
    while time.monotonic() < deadline:
        tick += 1
        response = post(client, headers, app, FOLLOW, {"_tick": tick, "job_id": job_id})
        assert response.status_code == 200, response.data[:500]
        answer = response.get_json()["response"]
        if answer["flighting-watch"]["data"] is None:
            return answer
        time.sleep(0.2)
    raise AssertionError("the flighting job did not end in time")


def jobs(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Job))


def page(client, headers) -> str:
    """/flighting's layout as Dash's page router serves it on a load."""
    app_key = next(k for k in client.application.extensions["dash_app"].callback_map if "_pages_content" in k)
    entry = client.application.extensions["dash_app"].callback_map[app_key]
    deps = [*entry["inputs"], *entry.get("state", [])]
    given = {"pathname": "/flighting", "search": ""}
    filled = [{**d, "value": given.get(d["property"])} for d in deps]
    response = client.post("/_dash-update-component", headers=headers, json={
        "output": app_key, "outputs": split_callback_id(app_key), "inputs": filled[: len(entry["inputs"])],
        "state": filled[len(entry["inputs"]):], "changedPropIds": ["_pages_location.pathname"]})
    assert response.status_code == 200, response.data[:300]
    return json.dumps(response.get_json(), ensure_ascii=False)


def test_a_brand_manager_plans_a_quarter_and_downloads_the_media_plan(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    assert "Flighting planner" in page(client, headers)

    # The budget starts at last year's spend over the same 13 weeks (52 weeks before the plan's weeks).
    weeks, totals = weekly_spend(sqlite_db, brand)
    last = weeks[-1]
    same_weeks = [last + timedelta(weeks=w + 1 - YEAR) for w in range(13)]
    expected = sum(totals.get(d, 0.0) for d in same_weeks)
    defaults = post(client, headers, app, DEFAULTS, {"brand_ids": [brand], "channels": CHANNELS, "weeks": 13,
                                                     "rows": []}).get_json()["response"]
    assert defaults["flighting-budget"]["value"] == f"{expected:,.0f}"
    assert (last + timedelta(weeks=1)).isoformat() in json.dumps(defaults["flighting-window"])
    assert [c["field"] for c in defaults["flighting-bounds"]["columnDefs"]][2:] == [f"w{w}" for w in range(1, 14)]
    assert [(r["channel"], r["row"]) for r in defaults["flighting-bounds"]["rowData"]][:2] == [
        (CHANNELS[0], "at most"), (CHANNELS[0], "booked")]
    starts = [last + timedelta(weeks=w + 1) for w in range(13)]
    months = list(dict.fromkeys(d.strftime("%Y-%m") for d in starts))
    limit_rows = defaults["flighting-limits"]["rowData"]
    assert [r["limit"] for r in limit_rows] == [f"Month {m}" for m in months] + [f"{c}, all weeks" for c in CHANNELS]

    # Caps and blackouts typed into the grid: TV dark in weeks 1–3, Search at most 1 a week less than even.
    budget = round(expected)
    cap = budget / 13 / 3 * 0.8
    bounds = [{"channel": "TV", "w1": 0, "w2": "0", "w3": 0},
              {"channel": "Search", **{f"w{w}": f"{cap:,.0f}" for w in range(1, 14)}}, {"channel": "Meta"},
              {"channel": "Meta", "kind": "booked", "row": "booked", "w13": f"{cap:,.0f}"}]  # booked: a floor
    # The plan's first month gets at most a fifth of the budget, typed as a person would in the totals grid.
    first = [w for w, d in enumerate(starts) if d.strftime("%Y-%m") == months[0]]
    month_cap = round(budget * 0.2 * len(first) / 13)
    limits = [{**r, "most": f"{month_cap:,}"} if r["limit"] == f"Month {months[0]}" else r for r in limit_rows]
    answer = post(client, headers, app, RUN, values(brand, f"{budget:,}", bounds=bounds,
                                                    limits=limits)).get_json()["response"]
    job_id = answer["flighting-watch"]["data"]
    assert job_id, answer.get("flighting-message")
    final = follow(client, headers, app, job_id)
    assert final["flighting-job"]["data"] == job_id, final["flighting-message"]

    with sqlite_db.session() as s:
        job = s.get(Job, job_id)
        assert job.kind == "flighting" and job.payload["week_max"]["Search"][0] == round(cap)
        result = job.result
    plan = {c["channel"]: np.array(c["plan"]) for c in result["cells"]}
    assert set(plan) == set(CHANNELS) and all(len(p) == 13 for p in plan.values())
    assert abs(sum(p.sum() for p in plan.values()) - budget) <= 1e-6 * budget
    assert np.all(plan["TV"][:3] == 0) and np.all(plan["Search"] <= round(cap) * (1 + 1e-9))
    assert sum(p[first].sum() for p in plan.values()) <= month_cap * (1 + 1e-9)
    assert plan["Meta"][12] >= round(cap) * (1 - 1e-9) and job.payload["commitments"]["Meta"][12] == round(cap)
    assert all(c["why"] for c in result["cells"])
    assert result["weeks"][0] == (last + timedelta(weeks=1)).isoformat()
    compare = result["compare"]
    assert abs(compare["plan"]["outcome"] - result["outcome"]) <= 1e-6 * result["outcome"]
    assert result["status"] in ("optimal", "heuristic") and compare["plan"]["outcome"] >= compare["flat"]["outcome"]
    assert len(compare["carryover"]["weekly"]) == 13 and compare["carryover"]["weekly"][0] > 0

    shown = json.dumps(post(client, headers, app, SHOW, {"job_id": job_id, "watched": None}).get_json(),
                       ensure_ascii=False)
    assert "flighting-heatmap" in shown and "Carry-over from past spend" in shown and "₹" in shown
    assert "on the total budget adds about" in shown and "Why each channel gets what it gets" in shown

    download = post(client, headers, app, EXPORT_CSV, {"csv_clicks": 1, "xlsx_clicks": None, "job_id": job_id})
    assert download.status_code == 200, download.data[:300]
    data = download.get_json()["response"]["flighting-download"]["data"]
    text = base64.b64decode(data["content"]).decode("utf-8") if data.get("base64") else data["content"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Brand", "Channel", *result["weeks"], "Total"]
    table = {r[1]: [float(v) for v in r[2:]] for r in rows[1:]}
    assert set(table) == {*CHANNELS, "Total"}
    assert abs(table["Total"][-1] - budget) <= 13 and table["TV"][:3] == [0.0, 0.0, 0.0]
    assert all(abs(sum(r[:-1]) - r[-1]) <= 14 for r in table.values())

    request = body(app, callback_key(app, EXPORT_CSV), {"csv_clicks": None, "xlsx_clicks": 1, "job_id": job_id})
    request["changedPropIds"] = ["flighting-export-xlsx.n_clicks"]  # the XLSX button pressed
    xlsx = client.post("/_dash-update-component", headers=headers, json=request).get_json()["response"]
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xlsx["flighting-download"]["data"]["content"])))
    ws = sheet["Media plan"]
    assert ws.cell(1, 3).value == result["weeks"][0] and "₹" in ws.cell(2, 3).number_format


def test_refusals_queue_nothing(sqlite_db, tmp_path):
    """A Viewer (no scenario:run), a brand outside the Brand Manager's scope and a cap that is not an amount."""
    app, people = build(sqlite_db, tmp_path)
    brand = people["Brand Manager"].scope_id
    with sqlite_db.session() as s:
        other = s.scalar(select(Brand.id).where(Brand.id != brand).order_by(Brand.id))
    viewer, viewer_headers = signed_in(app, people, "Viewer")
    assert post(viewer, viewer_headers, app, RUN, values(brand, "1 M")).status_code == 403
    client, headers = signed_in(app, people, "Brand Manager")
    assert post(client, headers, app, RUN, values(other, "1 M")).status_code == 403
    assert post(client, headers, app, DEFAULTS, {"brand_ids": [other], "channels": CHANNELS,
                                                 "weeks": 13}).status_code == 403
    typo = post(client, headers, app, RUN, values(brand, "1 M", bounds=[{"channel": "TV", "w2": "lots"}]))
    assert typo.status_code == 200 and "TV, week 2 must be an amount" in typo.get_data(as_text=True)
    upside_down = post(client, headers, app, RUN, values(brand, "1 M", limits=[
        {"key": "channel:TV", "limit": "TV, all weeks", "least": "2 M", "most": "1 M"}]))
    assert "TV, all weeks: “at least” is above “at most”" in json.dumps(upside_down.get_json(), ensure_ascii=False)
    no_budget = post(client, headers, app, RUN, values(brand, ""))
    assert "Enter a budget above zero" in no_budget.get_data(as_text=True)
    impossible = post(client, headers, app, RUN, values(brand, "1 B", bounds=[
        {"channel": c, **{f"w{w}": 1 for w in range(1, 14)}} for c in CHANNELS]))
    assert "weekly maximums" in impossible.get_data(as_text=True)
    assert jobs(sqlite_db) == 0


def test_a_plan_is_saved_as_a_scenario_with_its_horizon_and_reopens(sqlite_db, tmp_path):
    app, people = build(sqlite_db, tmp_path)
    client, headers = signed_in(app, people, "Brand Manager")
    brand = people["Brand Manager"].scope_id
    answer = post(client, headers, app, RUN, {**values(brand, "5 M"), "weeks": 26}).get_json()["response"]
    job_id = answer["flighting-watch"]["data"]
    assert job_id, answer.get("flighting-message")
    assert follow(client, headers, app, job_id)["flighting-job"]["data"] == job_id
    reloaded = json.loads(page(client, headers))  # a reload finds the person's last run: its plan, its 26 weeks
    assert find_component(reloaded, "flighting-job")["data"] == job_id
    assert find_component(reloaded, "flighting-weeks")["value"] == 26
    saved = post(client, headers, app, "flighting-save.n_clicks", {"n_clicks": 1, "name": "Q1 flighting",
                                                                   "job_id": job_id})
    assert "Saved as scenario" in saved.get_data(as_text=True), saved.get_data(as_text=True)[:300]
    principal = load_principal(sqlite_db, user_id(sqlite_db, people, "Brand Manager"))
    listed = [s for s in list_scenarios(sqlite_db, principal) if s["name"] == "Q1 flighting"]
    assert len(listed) == 1 and listed[0]["kind"] == "flighting"
    assert listed[0]["scenario"] == "Flighting plan, 26 weeks" and abs(listed[0]["budget"] - 5e6) < 1e-3
    scenario = get_scenario(sqlite_db, principal, listed[0]["id"])
    assert scenario["inputs"]["weeks"] == 26 and len(scenario["result"]["cells"][0]["plan"]) == 26

    reopened = post(client, headers, app, SHOW, {"job_id": None, "scenario_id": listed[0]["id"], "watched": None})
    assert "flighting-heatmap" in reopened.get_data(as_text=True)
    viewer, viewer_headers = signed_in(app, people, "Viewer")
    assert post(viewer, viewer_headers, app, "flighting-save.n_clicks",
                {"n_clicks": 1, "name": "x", "job_id": job_id}).status_code == 403
    other, other_headers = signed_in(app, people, "Portfolio Manager")  # may run plans, but not follow others'
    assert post(other, other_headers, app, FOLLOW, {"_tick": 1, "job_id": job_id}).status_code == 403
    cancel = {"n_clicks": 1, "job_id": job_id}
    assert post(other, other_headers, app, "flighting-cancel.n_clicks", cancel).status_code == 403
    assert post(other, other_headers, app, SHOW, {"job_id": job_id}).status_code == 403
