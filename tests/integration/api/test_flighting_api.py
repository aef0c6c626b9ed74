"""POST /api/v1/flighting: a plan of the brand's weeks as a job, scoped like the optimizer (issue 19)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.models import Job, Spend
from tests.integration.api.conftest import bearer, token_for
from tests.integration.api.test_jobs import poll


def test_a_flighting_plan_runs_for_your_brand_and_is_refused_for_others(client, world, db):
    manager = bearer(token_for(client, world["people"]["Brand Manager"])["access_token"])
    brand = world["people"]["Brand Manager"].scope_id
    with db.session() as s:
        weekly = s.scalar(select(func.sum(Spend.amount)).where(Spend.brand_id == brand)) / 13
    body = {"brand_ids": [brand], "weeks": 8, "budget": 8 * weekly, "curve_source": "truth",
            "blackout": {"TV": [1, 2]}}
    submitted = client.post("/api/v1/flighting", headers=manager, json=body)
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job_id = submitted.get_json()["id"]
    assert submitted.headers["Location"] == f"/api/v1/jobs/{job_id}" and submitted.get_json()["kind"] == "flighting"
    job = poll(client, manager, job_id)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["status"] in ("optimal", "heuristic") and result["outcome"] > 0
    plans = {c["channel"]: c["plan"] for c in result["cells"]}
    assert plans and all(len(p) == 8 for p in plans.values())
    assert abs(sum(map(sum, plans.values())) - 8 * weekly) <= 1e-6 * weekly
    if "TV" in plans:
        assert plans["TV"][:2] == [0.0, 0.0]

    before = _jobs(db)
    foreign = client.post("/api/v1/flighting", headers=manager, json={**body, "brand_ids": [world["foreign"]["brand"]]})
    assert foreign.status_code == 404
    impossible = client.post("/api/v1/flighting", headers=manager,
                             json={**body, "weekly_max": {c: 1.0 for c in plans}})
    assert impossible.status_code == 422 and "weekly maximums" in impossible.get_json()["detail"], impossible.get_json()
    malformed = client.post("/api/v1/flighting", headers=manager, json={**body, "weeks": 0})
    assert malformed.status_code == 422
    assert _jobs(db) == before  # nothing queued for any refusal


def _jobs(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Job))
