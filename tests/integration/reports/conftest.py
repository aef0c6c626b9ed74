"""One seeded demo per database, shared by the report tests of this package: 14 months (enough
history for anomalies and fitted curves with intervals), the six demo users, a scenario saved by
the Brand Manager, and a scenario, project and brand of the second organization."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.budget import run_budget
from core.demo import seed_demo
from core.models import Brand, Organization, Project, ProjectBrand, Scenario, User
from core.scenarios import save_from_job
from core.security import load_principal
from tests.support import demo_people, finished_job

CHANNELS = ["Meta", "Search", "TV"]


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    from tests.conftest import _empty

    db = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty(db)
    tmp = tmp_path_factory.mktemp("reports")
    seed_demo(db, seed=7, months=14)
    people = demo_people(db, tmp)
    with db.session() as s:
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        first, second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[:2]
        organization = s.get(Organization, first).name
    brand = people["Brand Manager"].scope_id
    bm = load_principal(db, ids["Brand Manager"])
    job = finished_job(db, bm, run_budget(db, bm.user_id, {"brand_ids": [brand], "channels": CHANNELS,
                                                            "curve_source": "fitted", "generations": 20,
                                                            "frontier_points": 5}))
    scenario = save_from_job(db, bm, job, "Plan A")
    with db.session() as s:
        project = s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand,
                                                                  ProjectBrand.role == "own")
                            .order_by(ProjectBrand.project_id)).first()
        foreign_project = s.scalars(select(Project.id).where(Project.organization_id == second)).first()
        foreign_brand = s.scalars(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == foreign_project,
                                                                      ProjectBrand.role == "own")).first()
        assert s.get(Brand, foreign_brand).organization_id == second
        theirs = Scenario(organization_id=second, project_id=foreign_project, name="Theirs", kind="budget",
                          inputs={}, constraints={}, result=s.get(Scenario, scenario).result, status="saved")
        s.add(theirs)
        s.flush()
        foreign_scenario = theirs.id
    return {"db": db, "tmp": tmp, "people": people, "ids": ids, "organization": organization, "brand": brand,
            "project": project, "scenario": scenario, "foreign": {"project": foreign_project, "brand": foreign_brand,
                                                                  "scenario": foreign_scenario}}


def principal(world, role: str):
    return load_principal(world["db"], world["ids"][role])


def params(world, kind: str, foreign: bool = False) -> dict:
    source = world["foreign"] if foreign else world
    return {"portfolio": {"project_ids": [source["project"]]},
            "brand": {"brand_id": source["brand"], "project_id": world["foreign"]["project"] if foreign
                      else world["project"]},
            "scenario": {"scenario_id": source["scenario"]}}[kind]
