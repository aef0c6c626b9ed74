"""The "fit" job kind (core.jobs.fit_kind) on both databases: scenario:run on the brand at submit and again in
the worker, progress while it runs, the version stored once with the job's result, the refusals."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select

from core.jobs.executor import LocalExecutor
from core.jobs.kinds import JobInputError
from core.jobs.queue import submit
from core.jobs.records import get_job
from core.jobs.runner import execute
from core.models import Job, RoleGrant, Spend
from core.models.modeling import FitVersion
from core.response_curves import fit_brand
from core.security import Forbidden
from tests.integration.jobs.support import FAST, Recorder, build_world, counts, wait_done

SMALL = {"n_bootstrap": 6, "n_starts": 2}


@pytest.fixture
def world(db, tmp_path):
    return build_world(db, tmp_path, months=15)


def fit_versions(db, brand_id: int) -> list[tuple[int, str, int | None]]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(select(FitVersion.version, FitVersion.trigger, FitVersion.created_by)
                                            .where(FitVersion.brand_id == brand_id).order_by(FitVersion.version))]


def test_fit_job_reports_progress_and_stores_the_next_version_once(world):
    db, analyst, brand = world["db"], world["principal"]("Analyst"), world["brand"]
    fit_brand(db, brand, trigger="cli", **SMALL)  # version 1 exists: the job makes version 2
    pool = LocalExecutor(db, FAST)
    seen: list[float] = []
    stop = threading.Event()

    def watch(job_id: str) -> None:
        while not stop.is_set():
            with db.session() as s:
                progress = s.scalar(select(Job.progress).where(Job.id == job_id))
            if progress is not None and (not seen or progress != seen[-1]):
                seen.append(progress)
            stop.wait(0.05)

    try:
        job_id = submit(db, analyst, "fit", {"brand_id": brand, **SMALL}, dispatcher=pool)
        watcher = threading.Thread(target=watch, args=(job_id,))
        watcher.start()
        job = wait_done(db, job_id)
        stop.set()
        watcher.join()
    finally:
        pool.shutdown()
    assert job.status == "succeeded", job.error
    result = get_job(db, analyst, job_id)["result"]
    assert result["version"] == 2 and result["brand_id"] == brand and result["trigger"] == "manual"
    assert fit_versions(db, brand) == [(1, "cli", None), (2, "manual", analyst.user_id)]
    with db.session() as s:
        stored = s.scalar(select(FitVersion.result).where(FitVersion.brand_id == brand, FitVersion.version == 2))
    assert result["r2"] == stored["r2"] and result["roas"] == stored["roas"] and result["periods"] == 66
    assert any(0.0 < p < 1.0 for p in seen), seen  # progress between start and end was written to the row
    assert seen == sorted(seen) and job.progress == 1.0
    # a duplicate delivery of the finished job stores nothing more
    assert execute(db, job_id, FAST) == "skipped" and len(fit_versions(db, brand)) == 2


def test_viewer_and_other_organization_are_refused_at_submit(world):
    db, queue = world["db"], Recorder()
    viewer, bm = world["principal"]("Viewer"), world["principal"]("Brand Manager")
    with pytest.raises(Forbidden):
        submit(db, viewer, "fit", {"brand_id": world["people"]["Viewer"].scope_id}, dispatcher=queue)
    with pytest.raises(Forbidden):
        submit(db, bm, "fit", {"brand_id": world["foreign_brand"]}, dispatcher=queue)
    assert counts(db)["jobs"] == 0 and queue.sent == []


@pytest.mark.parametrize(("payload", "reason"), [
    ({}, "missing brand_id"),
    ({"brand_id": "x"}, "brand_id"),
    ({"brand_id": 1, "n_bootstrap": 1}, "n_bootstrap: a whole number from 5"),
    ({"brand_id": 1, "n_starts": 2.5}, "n_starts"),
    ({"brand_id": 1, "trigger": "cron"}, "trigger: one of manual, api, import"),
    ({"brand_id": 1, "colour": "red"}, "unknown field"),
])
def test_bad_fit_payloads_say_why(world, payload, reason):
    queue = Recorder()
    with pytest.raises(JobInputError, match=reason):
        submit(world["db"], world["principal"]("Organization Administrator"), "fit", payload, dispatcher=queue)
    assert counts(world["db"])["jobs"] == 0 and queue.sent == []


def test_a_brand_without_history_is_refused_with_the_reason(world):
    db, admin = world["db"], world["principal"]("Organization Administrator")
    with db.session() as s:
        bare = s.scalar(select(Spend.brand_id).where(Spend.brand_id == world["brand"]))
        s.execute(delete(Spend).where(Spend.brand_id == bare))
    with pytest.raises(JobInputError, match=r"cannot be fitted yet: .* has no spend rows"):
        submit(db, admin, "fit", {"brand_id": bare}, dispatcher=Recorder())


def test_the_worker_checks_the_permission_again(world):
    db, analyst, brand, queue = world["db"], world["principal"]("Analyst"), world["brand"], Recorder()
    job_id = submit(db, analyst, "fit", {"brand_id": brand, **SMALL}, dispatcher=queue)
    with db.session() as s:  # the analyst's grant is taken away while the job waits
        s.execute(delete(RoleGrant).where(RoleGrant.user_id == analyst.user_id))
    assert execute(db, job_id, FAST) == "failed"
    job = get_job(db, analyst, job_id)
    assert job["status"] == "failed" and job["error"].startswith("not permitted")
    assert fit_versions(db, brand) == []
