"""Jobs through the API: an optimization submitted, polled and saved once by the in-process executor;
validation problems that write nothing; other people's brands and jobs as the same 404; cancel;
Idempotency-Key replays; a queue that cannot take the job as a 503 with Retry-After."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from core.jobs import queue as job_queue
from core.models import Job, Scenario
from tests.integration.api.conftest import bearer, token_for

CHANNELS = ["Meta", "Search", "TV"]
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


class Recorder:
    """A queue that takes jobs and runs none (they stay queued)."""

    settings = job_queue.QueueSettings()

    def __init__(self) -> None:
        self.sent: list[str] = []

    def dispatch(self, job_id: str) -> None:
        self.sent.append(job_id)


class Down:
    settings = job_queue.QueueSettings()

    def dispatch(self, job_id: str) -> None:
        raise job_queue.QueueUnavailable("the queue holds too many jobs")


def optimization(brand: int, save_as: str | None = None, **inputs) -> dict:
    payload = {"inputs": {"brand_ids": [brand], "channels": CHANNELS, "curve_source": "truth", "generations": 40,
                          "frontier_points": 5, **inputs}}
    if save_as is not None:
        payload["save_as"] = save_as
    return {"kind": "optimization", "payload": payload}


def poll(client, headers, job_id: str, timeout: float = 300.0) -> dict:
    """GET the job until it is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def jobs_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Job))


@pytest.fixture
def brand_manager(client, world):
    return bearer(token_for(client, world["people"]["Brand Manager"])["access_token"])


@pytest.fixture
def brand(world) -> int:
    return world["people"]["Brand Manager"].scope_id


def test_an_optimization_runs_to_a_result_and_saves_its_scenario_once(client, brand_manager, brand, db):
    body = optimization(brand, save_as="API plan")
    submitted = client.post("/api/v1/jobs", headers={**brand_manager, "Idempotency-Key": "plan-1"}, json=body)
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job_id = submitted.get_json()["id"]
    assert submitted.headers["Location"] == f"/api/v1/jobs/{job_id}"
    assert submitted.get_json()["kind"] == "optimization"

    replay = client.post("/api/v1/jobs", headers={**brand_manager, "Idempotency-Key": "plan-1"}, json=body)
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["id"] == job_id and replay.headers["Location"] == f"/api/v1/jobs/{job_id}"
    other = client.post("/api/v1/jobs", headers={**brand_manager, "Idempotency-Key": "plan-1"},
                        json=optimization(brand, save_as="Another plan"))
    assert other.status_code == 422 and other.content_type == "application/problem+json"

    job = poll(client, brand_manager, job_id)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1 and job["progress"] == 1.0 and job["error"] is None
    result = job["result"]
    assert result["cells"] and {c["channel"] for c in result["cells"]} == set(CHANNELS)
    assert result["outcome"] > 0 and result["scenario_id"]
    with db.session() as s:
        saved = s.scalars(select(Scenario).where(Scenario.name == "API plan")).all()
        assert [sc.id for sc in saved] == [result["scenario_id"]] and saved[0].saved_by_job_id == job_id
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == "optimization")) == 1
    scenario = client.get(f"/api/v1/scenarios/{result['scenario_id']}", headers=brand_manager)
    assert scenario.status_code == 200 and scenario.get_json()["name"] == "API plan"
    listed = client.get("/api/v1/jobs?limit=5", headers=brand_manager).get_json()["items"]
    assert [j["id"] for j in listed] == [job_id]


def test_a_budget_the_limits_cannot_place_fails_with_the_pages_words(client, brand_manager, brand):
    """Issue 16 item 2: the job's error in the API names the most the cap lets the plan place and what to
    change, the same sentence the optimizer page shows (core.plan_limits), not the allocator's "5.5e+08"."""
    submitted = client.post("/api/v1/jobs", headers=brand_manager,
                            json=optimization(brand, budget=1e12, max_change_pct=20))
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job = poll(client, brand_manager, submitted.get_json()["id"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"].startswith("With at most +20 % per channel the most you can place is "), job["error"]
    assert job["error"].endswith(", less than the budget of ₹1 T; lower the budget or raise the cap."), job["error"]


@pytest.mark.parametrize("body, where", [
    ({"kind": "optimization"}, "payload"),
    ({"kind": "teleport", "payload": {}}, "kind"),
    ({"kind": "optimization", "payload": {"inputs": {"brand_ids": [], "channels": ["TV"]}}}, "brand_ids"),
    ({"kind": "optimization", "payload": {"inputs": {"brand_ids": [1], "channels": ["TV"], "budget": -5}}},
     "budget"),
    ({"kind": "optimization", "payload": {"inputs": {"brand_ids": [1], "channels": ["TV"]}, "extra": 1}}, "extra"),
])
def test_a_malformed_job_is_a_422_problem_and_writes_nothing(client, brand_manager, db, body, where):
    before = jobs_count(db)
    response = client.post("/api/v1/jobs", headers=brand_manager, json=body)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and any(where in str(e["loc"]) + e["msg"] for e in problem["errors"]), problem
    assert jobs_count(db) == before


def _reason(problem: dict) -> str:
    return " ".join([problem.get("detail") or "", *(e["msg"] for e in problem.get("errors") or [])])


def test_money_and_unit_inputs_outside_their_range_are_422_with_the_allowed_range(client, brand_manager, brand, db):
    """Issue 12 item 8: a spend unit of 1e-320 was accepted and the job died with OverflowError. Every
    money, unit and effort number is refused at submit with the range it must be in; nothing is queued."""
    before = jobs_count(db)
    cases = [  # (inputs, what the reason says)
        ({"unit": 1e-320}, "spend unit: a number from 0.01 to 1,000,000,000,000,000"),
        ({"unit": 0}, "spend unit: a number from 0.01"),
        ({"unit": -1}, "spend unit: a number from 0.01"),
        ({"unit": 0.01, "budget": 1e12}, "into more than 1,000,000,000 units; use a unit of at least 1,000"),
        ({"unit": 5e6, "budget": 1e6}, "larger than the whole budget"),
        ({"budget": 1e300}, "budget: a number from 0 to 1,000,000,000,000,000"),
        ({"scenario": "min_budget", "target": 1e300}, "target outcome: a number from 0 to"),
        ({"max_change_pct": 1e9}, "max change %: a number from 0 to 1,000"),
        ({"cells": [{"brand_id": brand, "channel": "TV", "min_spend": 1e300}]},
         f"{brand} / TV minimum when on: a number from 0 to"),
    ]
    for inputs, reason in cases:
        response = client.post("/api/v1/jobs", headers=brand_manager, json=optimization(brand, **inputs))
        assert response.status_code == 422 and response.content_type == "application/problem+json", inputs
        assert reason in _reason(response.get_json()), (inputs, response.get_json())
    # NaN and infinities as the JSON literals Python and browsers write; 1e309 parses as infinity.
    for literal in ("NaN", "Infinity", "-Infinity", "1e309"):
        for field in ("unit", "budget"):
            raw = (f'{{"kind": "optimization", "payload": {{"inputs": {{"brand_ids": [{brand}], "channels": ["TV"], '
                   f'"curve_source": "truth", "{field}": {literal}}}}}}}')
            response = client.post("/api/v1/jobs", headers=brand_manager, data=raw, content_type="application/json")
            assert response.status_code in (400, 422), (field, literal, response.status_code)
            assert response.content_type == "application/problem+json"
            problem = response.get_json()
            assert field in str(problem.get("errors")) or field in problem["detail"], problem
    for effort, reason in ((0, "effort budget: a number above 0 and at most 100"), (1e300, "at most 100")):
        response = client.post("/api/v1/jobs", headers=brand_manager, json={
            "kind": "recommendation", "payload": {"brand_id": brand, "project_id": 1, "effort_budget": effort}})
        assert response.status_code == 422 and reason in _reason(response.get_json()), response.get_json()
    assert jobs_count(db) == before


def test_what_the_inputs_refuse_is_a_422_with_the_pages_reason(client, brand_manager, brand, db):
    """A smallest-budget run needs a target: refused at the edge by core.budget_inputs, the page's own
    words on the field that is wrong."""
    before = jobs_count(db)
    response = client.post("/api/v1/jobs", headers=brand_manager, json=optimization(brand, scenario="min_budget"))
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    [error] = response.get_json()["errors"]
    assert error["loc"][-1] == "target" and error["msg"] == "the smallest-budget scenario needs a target outcome"
    assert jobs_count(db) == before


def test_another_organizations_brand_is_the_404_of_an_unknown_one(client, brand_manager, world, db):
    unknown = client.get("/api/v1/brands/2147483000", headers=brand_manager).get_json()
    before = jobs_count(db)
    for brand in (world["foreign"]["brand"], 2147483000):
        response = client.post("/api/v1/jobs", headers=brand_manager, json=optimization(brand))
        assert response.status_code == 404 and response.get_json() == unknown
        recommendation = client.post("/api/v1/jobs", headers=brand_manager, json={
            "kind": "recommendation", "payload": {"brand_id": brand, "project_id": world["foreign"]["project"],
                                                  "effort_budget": 10}})
        assert recommendation.status_code == 404 and recommendation.get_json() == unknown
    assert jobs_count(db) == before


def test_cancel_and_other_peoples_jobs(app, client, brand_manager, brand, world):
    app.server.extensions[job_queue.EXTENSION] = Recorder()  # the job stays queued until cancelled
    job_id = client.post("/api/v1/jobs", headers=brand_manager, json=optimization(brand)).get_json()["id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=brand_manager).get_json()["status"] == "queued"

    unknown = client.get(f"/api/v1/jobs/{UNKNOWN_JOB}", headers=brand_manager)
    assert unknown.status_code == 404 and unknown.content_type == "application/problem+json"
    portfolio_manager = bearer(token_for(client, world["people"]["Portfolio Manager"])["access_token"])
    for method, path in [("get", f"/api/v1/jobs/{job_id}"), ("delete", f"/api/v1/jobs/{job_id}"),
                         ("get", f"/api/v1/jobs/{job_id}/file"), ("get", "/api/v1/jobs/not-a-uuid")]:
        response = getattr(client, method)(path, headers=portfolio_manager)
        assert response.status_code == 404 and response.get_json() == unknown.get_json(), path
    assert client.get("/api/v1/jobs", headers=portfolio_manager).get_json()["items"] == []

    cancelled = client.delete(f"/api/v1/jobs/{job_id}", headers=brand_manager)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.get(f"/api/v1/jobs/{job_id}", headers=brand_manager).get_json()["status"] == "cancelled"
    again = client.delete(f"/api/v1/jobs/{job_id}", headers=brand_manager)
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"
    no_file = client.get(f"/api/v1/jobs/{job_id}/file", headers=brand_manager)
    assert no_file.status_code == 404  # an optimization makes no file


def test_a_queue_that_cannot_take_the_job_is_a_503_with_retry_after(app, client, brand_manager, brand, db):
    app.server.extensions[job_queue.EXTENSION] = Down()
    response = client.post("/api/v1/jobs", headers={**brand_manager, "Idempotency-Key": "down-1"},
                           json=optimization(brand))
    assert response.status_code == 503 and response.content_type == "application/problem+json"
    assert response.headers["Retry-After"].isdigit() and "too many jobs" in response.get_json()["detail"]
    with db.session() as s:  # the row is closed with the reason, never left queued
        assert [(j.status, "too many jobs" in j.error) for j in s.scalars(select(Job))] == [("failed", True)]
    app.server.extensions[job_queue.EXTENSION] = Recorder()
    retried = client.post("/api/v1/jobs", headers={**brand_manager, "Idempotency-Key": "down-1"},
                          json=optimization(brand))
    assert retried.status_code == 202 and retried.get_json()["status"] == "queued"  # a new job, not the dead one


def test_a_fit_job_through_the_api(app, client, brand_manager, brand, world, db):
    """`fit` is submitted like every kind: another organization's brand is the 404 of an unknown one, a brand
    whose history is too short says so (the demo here has 3 months; a fit needs a year of weeks), a
    Viewer holds no scenario:run, and the trigger is the API's own (a client cannot claim an import)."""
    unknown = client.get("/api/v1/brands/2147483000", headers=brand_manager).get_json()
    before = jobs_count(db)
    for other in (world["foreign"]["brand"], 2147483000):
        response = client.post("/api/v1/jobs", headers=brand_manager,
                               json={"kind": "fit", "payload": {"brand_id": other}})
        assert response.status_code == 404 and response.get_json() == unknown
    short = client.post("/api/v1/jobs", headers=brand_manager, json={"kind": "fit", "payload": {"brand_id": brand}})
    assert short.status_code == 422 and "cannot be fitted yet" in short.get_json()["detail"], short.get_json()
    viewer = bearer(token_for(client, world["people"]["Viewer"])["access_token"])
    own = world["people"]["Viewer"].scope_id  # readable, but not theirs to fit: the same 404 as any refused object
    refused = client.post("/api/v1/jobs", headers=viewer, json={"kind": "fit", "payload": {"brand_id": own}})
    assert refused.status_code == 404 and refused.get_json() == unknown
    bad = client.post("/api/v1/jobs", headers=brand_manager,
                      json={"kind": "fit", "payload": {"brand_id": brand, "trigger": "import"}})
    assert bad.status_code in (400, 422)
    assert jobs_count(db) == before


def test_the_target_roas_scenarios_go_through_the_api_with_the_same_schema(client, brand_manager, brand):
    """Issue 16 item 12: the API takes both target-ROAS types (the one BudgetInputs schema); the budget is
    found, and a missing target is a 422 with the page's words, writing nothing."""
    missing = client.post("/api/v1/jobs", headers=brand_manager,
                          json=optimization(brand, scenario="overall_roas", channels=["Meta", "Search"]))
    assert missing.status_code == 422 and missing.content_type == "application/problem+json"
    assert "the target-ROAS scenarios need a target ROAS" in missing.get_data(as_text=True)
    schema = client.get("/api/v1/openapi.json").get_json()
    assert "target_roas" in json.dumps(schema) and "overall_roas" in json.dumps(schema)

    submitted = client.post("/api/v1/jobs", headers=brand_manager, json=optimization(  # null: no change cap
        brand, scenario="marginal_roas", target_roas=0.5, channels=["Meta", "Search"], max_change_pct=None))
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job = poll(client, brand_manager, submitted.get_json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["scenario"] == "marginal_roas" and result["target_roas"] == 0.5 and result["status"] == "optimal"
    top = [np.inf if c["upper"] is None else c["upper"] for c in result["cells"]]
    free = [c for c, hi in zip(result["cells"], top, strict=True) if c["lower"] + 1e-6 < c["optimal"] < hi - 1e-6]
    assert free and all(abs(c["marginal_roi"] - 0.5) <= 0.5e-6 for c in free)
