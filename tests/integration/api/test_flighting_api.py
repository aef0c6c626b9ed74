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


def test_month_budgets_and_bookings_hold_and_every_channel_says_why(client, world, db):
    """A month's budget capped below its share binds (and is priced); a booking is a floor; each row has a reason."""
    manager = bearer(token_for(client, world["people"]["Brand Manager"])["access_token"])
    brand = world["people"]["Brand Manager"].scope_id
    with db.session() as s:
        weekly = s.scalar(select(func.sum(Spend.amount)).where(Spend.brand_id == brand)) / 13
    body = {"brand_ids": [brand], "weeks": 13, "budget": 13 * weekly, "curve_source": "truth"}
    free = poll(client, manager, client.post("/api/v1/flighting", headers=manager, json=body).get_json()["id"])
    assert free["status"] == "succeeded", free
    weeks = free["result"]["weeks"]
    month = weeks[0][:7]
    in_month = [i for i, w in enumerate(weeks) if w.startswith(month)]
    spent = sum(sum(c["plan"][i] for i in in_month) for c in free["result"]["cells"])
    channel = free["result"]["cells"][0]["channel"]
    booked = [None] * 12 + [0.2 * weekly]  # the last week, where carry-over matters least
    limited = {**body, "period_budgets": {month: [0, 0.5 * spent]}, "commitments": {channel: booked}}
    job = poll(client, manager, client.post("/api/v1/flighting", headers=manager, json=limited).get_json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    cells = result["cells"]
    assert sum(sum(c["plan"][i] for i in in_month) for c in cells) <= 0.5 * spent * (1 + 1e-9)
    assert next(c for c in cells if c["channel"] == channel)["plan"][12] >= 0.2 * weekly * (1 - 1e-9)
    if result["status"] == "optimal":
        assert result["prices"][f"period {month}"] > 0  # the month's cap holds the plan back: more there earns
    for c in cells:
        assert c["reason"] in ("blackout", "off", "held", "cap", "margin") and c["why"].endswith(".")
        assert c["last_year"] >= 0 and c["weeks_on"] <= 13

    before = _jobs(db)
    for bad, words in (({"period_budgets": {"2027-13": [0, 1]}}, "not a month like 2027-01"),
                       ({"period_budgets": {"1999-01": [0, 1]}}, "no week in the plan"),
                       ({"commitments": {"Carrier pigeon": [1.0]}}, "not in the plan")):
        answer = client.post("/api/v1/flighting", headers=manager, json={**body, **bad})
        problem = answer.get_json()
        said = problem["detail"] + " ".join(e["msg"] for e in problem.get("errors") or [])
        assert answer.status_code == 422 and words in said, problem
    assert _jobs(db) == before
