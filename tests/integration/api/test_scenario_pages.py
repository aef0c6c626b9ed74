"""GET /api/v1/scenarios a page at a time: newest first, every row once, nothing outside the caller's scope."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.models import Organization, Project, Scenario
from core.models.base import utcnow
from tests.integration.api.conftest import bearer, token_for


def test_pages_walk_every_readable_scenario_once_newest_first(client, world, db):
    admin = bearer(token_for(client, world["people"]["Organization Administrator"])["access_token"])
    with db.session() as s:
        first = s.scalars(select(Organization.id).order_by(Organization.id)).first()
        project = s.scalars(select(Project.id).where(Project.organization_id == first)).first()
        now = utcnow()
        # Seven more of ours, two of them saved in the same instant (the id breaks the tie), one a weekly plan.
        for i in range(7):
            s.add(Scenario(organization_id=first, project_id=project, name=f"Plan {i}", inputs={}, constraints={},
                           kind="flighting" if i == 3 else "budget", result={"cells": []},
                           created_at=now - timedelta(minutes=10 * (i if i != 5 else 4))))
    everything = client.get("/api/v1/scenarios?limit=500", headers=admin).get_json()
    assert everything["next_cursor"] is None
    ids = [s["id"] for s in everything["items"]]
    assert world["foreign"]["scenario"] not in ids and len(ids) >= 8

    walked, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/scenarios?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=admin)
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        assert len(body["items"]) <= 3
        walked += [s["id"] for s in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert walked == ids and pages == -(-len(ids) // 3)  # the same rows in the same order, each once

    weekly = client.get("/api/v1/scenarios?kind=flighting", headers=admin).get_json()["items"]
    assert [s["name"] for s in weekly] == ["Plan 3"]
    for bad in ("not-a-cursor", "WyJ5ZXN0ZXJkYXkiLDFd"):  # garbage, and a well-formed cursor with no date in it
        answer = client.get(f"/api/v1/scenarios?cursor={bad}", headers=admin)
        assert answer.status_code == 422 and "cursor" in answer.get_data(as_text=True)
    assert client.get("/api/v1/scenarios?limit=0", headers=admin).status_code == 422
