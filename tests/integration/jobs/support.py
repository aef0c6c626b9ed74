"""Shared by the job-queue tests: the demo world, a queue that only records, and polling a job to its end."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from core.db import Database
from core.demo import seed_demo
from core.jobs.queue import QueueSettings
from core.jobs.records import ACTIVE
from core.models import Brand, Job, Organization, ProjectBrand, Scenario, User
from core.security import load_principal
from core.whatif import whatif_pairs
from tests.support import demo_people

CHANNELS = ["Meta", "Search", "TV"]
FAST = QueueSettings(workers=2, heartbeat_s=0.5, stale_after_s=30, sweep_every_s=3600)


def build_world(db: Database, tmp_path, months: int = 2) -> dict[str, Any]:
    """The demo portfolio (two organizations) and the six demo users in the first."""
    seed_demo(db, seed=7, months=months)
    people = demo_people(db, tmp_path)
    with db.session() as s:
        ids = {c.role: s.scalar(select(User.id).where(User.email == c.email)) for c in people.values()}
        second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[1]
        foreign_brand = s.scalars(select(Brand.id).where(Brand.organization_id == second)).first()
        foreign_project = s.scalar(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == foreign_brand))
    return {"db": db, "people": people, "ids": ids, "brand": people["Brand Manager"].scope_id,
            "foreign_brand": foreign_brand, "foreign_project": foreign_project,
            "principal": lambda role: load_principal(db, ids[role])}


def own_pair(world: dict[str, Any], role: str = "Brand Manager") -> tuple[int, int]:
    with world["db"].engine.connect() as conn:
        row = whatif_pairs(conn, world["principal"](role)).iloc[0]
    return int(row.brand_id), int(row.project_id)


def optimization(brand: int, save_as: str | None = None, **extra) -> dict[str, Any]:
    payload: dict[str, Any] = {"inputs": {"brand_ids": [brand], "channels": CHANNELS, "curve_source": "truth",
                                          "generations": 40, "frontier_points": 5, **extra}}
    if save_as is not None:
        payload["save_as"] = save_as
    return payload


class Recorder:
    """A queue that records what was dispatched and runs nothing (the test delivers by hand)."""

    def __init__(self, settings: QueueSettings = FAST) -> None:
        self.settings, self.sent = settings, []

    def dispatch(self, job_id: str) -> None:
        self.sent.append(job_id)


def wait_done(db: Database, job_id: str, timeout: float = 180.0) -> Job:
    """Poll the row until the job is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            job = s.get(Job, job_id)
            if job.status not in ACTIVE:
                return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still active after {timeout} s")


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout} s")


def counts(db: Database, job_id: str | None = None) -> dict[str, int]:
    with db.session() as s:
        return {"jobs": s.scalar(select(func.count()).select_from(Job)),
                "scenarios": s.scalar(select(func.count()).select_from(Scenario)),
                "saved_by_job": s.scalar(select(func.count()).select_from(Scenario)
                                         .where(Scenario.saved_by_job_id == job_id)) if job_id else 0,
                "running": s.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE)))}
