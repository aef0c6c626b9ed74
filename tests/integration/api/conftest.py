"""The demo world (two organizations) behind a real app, and helpers to get API tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.demo import seed_demo
from core.models import Brand, Organization, Project, Scenario
from tests.support import DEMO_PASSWORD, demo_people, make_app


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=3)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        foreign_project = s.scalars(select(Project.id).where(Project.organization_id == second)).first()
        home_project = s.scalars(select(Project.id).where(Project.organization_id == first)).first()
        foreign_scenario = Scenario(organization_id=second, project_id=foreign_project, name="Theirs", kind="budget")
        home_brand = s.scalars(select(Brand.id).where(Brand.organization_id == first)).first()
        home_scenario = Scenario(organization_id=first, project_id=home_project, name="Ours", kind="budget",
                                 result={"inputs": {"brand_ids": [home_brand]}, "cells": []},
                                 inputs={"brand_ids": [home_brand]}, constraints={})
        s.add_all([foreign_scenario, home_scenario])
        s.flush()
        foreign = {"organization": second, "project": foreign_project,
                   "brand": s.scalars(select(Brand.id).where(Brand.organization_id == second)).first(),
                   "scenario": foreign_scenario.id}
        home = {"organization": first, "project": home_project, "scenario": home_scenario.id}
    return {"people": people, "foreign": foreign, "home": home}


@pytest.fixture
def app(db, tmp_path, world):
    application = make_app(db, tmp_path, api_rate="10000 per minute", signin_rate_per_ip="1000 per minute",
                           signin_rate_per_account="1000 per minute")
    return application


@pytest.fixture
def client(app):
    return app.server.test_client()


def token_for(client, person, code: str | None = None) -> dict:
    body = {"email": person.email, "password": DEMO_PASSWORD}
    if person.totp_secret:
        import pyotp
        body["totp"] = code or pyotp.TOTP(person.totp_secret).now()
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
