"""core.jobs (queue, runner, executor) on both databases with the in-process executor: submit → run → result,
authorization, validation, duplicate deliveries, cancel, idempotency keys, the sweeper. The Celery worker, killed
mid-job, is in test_worker_killed.py.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

import core.jobs.builtin
from core.budget_inputs import BudgetInputs
from core.jobs.executor import LocalExecutor
from core.jobs.kinds import JobInputError
from core.jobs.queue import IdempotencyConflict, QueueSettings, QueueUnavailable, submit
from core.jobs.records import JobNotFound, cancel, get_job, job_status, list_jobs
from core.jobs.runner import execute, sweep
from core.models import AuditEvent, Job, Scenario
from core.models.base import utcnow
from core.security import Forbidden
from tests.integration.jobs.support import FAST, Recorder, build_world, counts, optimization, own_pair, wait_done


@pytest.fixture
def world(db, tmp_path):
    return build_world(db, tmp_path)


@pytest.fixture
def executor(db):
    pool = LocalExecutor(db, FAST)
    yield pool
    pool.shutdown()


def test_optimization_runs_in_process_and_saves_its_scenario_once(world, executor):
    db, bm = world["db"], world["principal"]("Brand Manager")
    job_id = submit(db, bm, "optimization", optimization(world["brand"], save_as="Next year  plan"),
                    dispatcher=executor)
    job = wait_done(db, job_id)
    assert job.status == "succeeded", job.error
    shown = get_job(db, bm, job_id)
    result = shown["result"]
    assert shown["attempts"] == 1 and shown["progress"] == 1.0
    assert result["run_by"] == bm.user_id and result["job_id"] == job_id
    assert sum(c["optimal"] for c in result["cells"]) == pytest.approx(result["budget"], rel=1e-6)
    with db.session() as s:
        scenario = s.scalars(select(Scenario).where(Scenario.saved_by_job_id == job_id)).one()
        assert scenario.id == result["scenario_id"] and scenario.name == "Next year plan"
        assert scenario.owner_id == bm.user_id and scenario.kind == "budget"
        assert scenario.result["cells"] == result["cells"]
    assert [j["id"] for j in list_jobs(db, bm)] == [job_id]
    with pytest.raises(JobNotFound):  # somebody else's job is not theirs to read or cancel
        get_job(db, world["principal"]("Portfolio Manager"), job_id)
    with pytest.raises(JobNotFound):
        cancel(db, world["principal"]("Portfolio Manager"), job_id)
    # What a polling page reads: the same row and rule, without the payload and the result.
    status = job_status(db, bm, job_id)
    assert status == {k: shown[k] for k in ("id", "status", "progress", "message", "error", "owner_id")}
    for stranger in (world["principal"]("Portfolio Manager"), None, "no-such-job"):
        with pytest.raises(JobNotFound):
            if stranger == "no-such-job":
                job_status(db, bm, "no-such-job")
            else:
                job_status(db, stranger or bm, job_id if stranger else ["not", "an", "id"])


def test_recommendation_runs_in_process(world, executor):
    db, bm = world["db"], world["principal"]("Brand Manager")
    brand, project = own_pair(world)
    job_id = submit(db, bm, "recommendation", {"brand_id": brand, "project_id": project, "effort_budget": 3,
                                               "k": 2}, dispatcher=executor)
    job = wait_done(db, job_id)
    assert job.status == "succeeded", job.error
    plan = job.result
    assert plan["brand_id"] == brand and plan["project_id"] == project and len(plan["steps"]) <= 2
    assert plan["final_score"] >= plan["base_score"] and plan["effort"] <= 3 + 1e-9
    assert job.payload == {"brand_id": brand, "project_id": project, "effort_budget": 3.0, "k": 2,
                           "percentile_cap": None}


def test_the_job_reads_its_inputs_with_the_pages_model(world):
    """One schema (core.budget_inputs): the optimization job takes the form as the page sends it
    ("1 000", "15 %", grid rows with display columns) and stores exactly what BudgetInputs reads."""
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    form = optimization(world["brand"], budget="1 000 000", max_change_pct="15 %", generations="", cells=[
        {"brand_id": world["brand"], "brand": "Ours", "channel": "TV", "current": 1.0, "lower": "1,000"}])["inputs"]
    job_id = submit(db, bm, "optimization", {"inputs": form}, dispatcher=queue)
    stored = get_job(db, bm, job_id)["payload"]["inputs"]
    assert stored == BudgetInputs.read(form).model_dump(mode="json")
    assert stored["budget"] == 1e6 and stored["max_change_pct"] == 15.0 and stored["generations"] == 120
    assert stored["cells"][0]["lower"] == 1000.0 and "brand" not in stored["cells"][0]


def test_other_organizations_brand_and_a_viewer_are_refused(world):
    db, queue = world["db"], Recorder()
    bm, viewer = world["principal"]("Brand Manager"), world["principal"]("Viewer")
    with pytest.raises(Forbidden):
        submit(db, bm, "optimization", optimization(world["foreign_brand"]), dispatcher=queue)
    with pytest.raises(Forbidden):
        submit(db, viewer, "optimization", optimization(world["brand"]), dispatcher=queue)
    with pytest.raises(Forbidden):
        submit(db, bm, "recommendation", {"brand_id": world["foreign_brand"], "project_id": world["foreign_project"],
                                          "effort_budget": 2}, dispatcher=queue)
    brand, project = own_pair(world)
    with pytest.raises(Forbidden):
        submit(db, viewer, "recommendation", {"brand_id": brand, "project_id": project, "effort_budget": 2},
               dispatcher=queue)
    assert counts(db)["jobs"] == 0 and queue.sent == []
    with db.session() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "authz.denied",
                                                    AuditEvent.actor_id == bm.user_id))


@pytest.mark.parametrize(("kind", "payload", "reason"), [
    ("optimization", {"inputs": {"brand_ids": [], "channels": ["TV"]}}, "choose at least one brand"),
    ("optimization", {"inputs": {"brand_ids": ["B"], "channels": ["TV"], "budget": "lots"}}, "brand"),
    ("optimization", "not a dict", "expected an object"),
    ("optimization", {"inputs": {}, "colour": "red"}, "unknown field"),
    ("optimization", {"save_as": "x"}, "missing inputs"),
    ("recommendation", {"brand_id": 1, "project_id": 1, "effort_budget": 0}, "effort_budget"),
    ("recommendation", {"brand_id": 1, "project_id": 1, "effort_budget": 2, "k": 11}, "k: a whole number"),
    ("recommendation", {"brand_id": "x", "project_id": 1, "effort_budget": 2}, "brand_id"),
    ("report", {}, "unknown job kind"),
])
def test_bad_payloads_say_why_and_write_nothing(world, kind, payload, reason):
    queue = Recorder()
    with pytest.raises(JobInputError, match=reason):
        submit(world["db"], world["principal"]("Brand Manager"), kind, payload, dispatcher=queue)
    assert counts(world["db"]) == {"jobs": 0, "scenarios": 0, "saved_by_job": 0, "running": 0}
    assert queue.sent == []


def test_bad_budget_and_bad_scenario_name_write_nothing(world):
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    with pytest.raises(JobInputError, match="budget: 'lots' is not a number"):
        submit(db, bm, "optimization", optimization(world["brand"], budget="lots"), dispatcher=queue)
    with pytest.raises(JobInputError, match="save_as"):
        submit(db, bm, "optimization", optimization(world["brand"], save_as="   "), dispatcher=queue)
    with pytest.raises(JobInputError, match="idempotency key"):
        submit(db, bm, "optimization", optimization(world["brand"]), idempotency_key="x" * 201, dispatcher=queue)
    assert counts(db)["jobs"] == 0 and queue.sent == []


def test_duplicate_deliveries_do_the_work_once_and_save_one_scenario(world, monkeypatch):
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    calls = []
    real = core.jobs.builtin.run_budget

    def counting(*args, **kwargs):
        calls.append(kwargs.get("job_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(core.jobs.builtin, "run_budget", counting)
    job_id = submit(db, bm, "optimization", optimization(world["brand"], save_as="once"), dispatcher=queue)
    assert queue.sent == [job_id]
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(execute(db, job_id, FAST))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes.append(execute(db, job_id, FAST))  # a late re-delivery of the finished job
    assert sorted(outcomes) == ["skipped", "skipped", "skipped", "succeeded"]
    assert calls == [job_id]
    assert counts(db, job_id)["saved_by_job"] == 1 and counts(db)["scenarios"] == 1
    assert get_job(db, bm, job_id)["attempts"] == 1


def test_the_final_write_happens_once_even_when_an_attempt_is_taken_over(world):
    """A slow attempt whose job was taken over (its worker looked dead) finishes second and writes nothing."""
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    job_id = submit(db, bm, "optimization", optimization(world["brand"], save_as="taken over"), dispatcher=queue)
    with db.session() as s:  # attempt 1 claimed by a process on another host that went silent
        s.execute(update(Job).where(Job.id == job_id).values(status="running", attempts=1,
                                                              claimed_by="elsewhere:1", heartbeat_at=None))
    assert execute(db, job_id, FAST) == "succeeded"  # attempt 2 takes over and saves
    from core.jobs.kinds import KINDS, JobRun
    from core.jobs.records import JobReporter
    from core.jobs.runner import _finish

    stale = JobRun(job_id, 1, db, bm, {}, JobReporter(db, job_id, attempt=1))
    assert _finish(db, stale, KINDS["optimization"], {"cells": []}, None) is False
    job = wait_done(db, job_id)
    assert job.attempts == 2 and job.result["cells"] and counts(db, job_id)["saved_by_job"] == 1


def test_cancel_a_queued_job_and_a_running_one(world, executor):
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    queued = submit(db, bm, "optimization", optimization(world["brand"], save_as="never"), dispatcher=queue)
    assert cancel(db, bm, queued)["status"] == "cancelled"
    assert execute(db, queued, FAST) == "skipped"  # its message arrives after the cancel: nothing runs
    assert get_job(db, bm, queued)["result"] is None
    running = submit(db, bm, "optimization", optimization(world["brand"], save_as="stopped", generations=2000,
                                                          max_active_per_brand=2, max_change_pct=None),
                     dispatcher=executor)

    def started() -> bool:
        job = get_job(db, bm, running)
        return job["status"] == "running" and job["progress"] > 0

    from tests.integration.jobs.support import wait_for

    wait_for(started, what="the run to report progress")
    assert cancel(db, bm, running)["status"] == "cancelled"
    job = wait_done(db, running)
    assert job.status == "cancelled" and job.result is None
    wait_for(lambda: executor._pending == 0, what="the cancelled run to stop")
    assert get_job(db, bm, running)["status"] == "cancelled" and counts(db)["scenarios"] == 0
    assert cancel(db, bm, running)["status"] == "cancelled"  # cancelling twice changes nothing


def test_idempotency_key_returns_the_first_job(world):
    db, bm, queue = world["db"], world["principal"]("Brand Manager"), Recorder()
    first = submit(db, bm, "optimization", optimization(world["brand"]), idempotency_key="pipeline-42",
                   dispatcher=queue)
    again = submit(db, bm, "optimization", optimization(world["brand"]), idempotency_key="pipeline-42",
                   dispatcher=queue)
    assert again == first and queue.sent == [first]
    with pytest.raises(IdempotencyConflict):
        submit(db, bm, "optimization", optimization(world["brand"], budget=1000), idempotency_key="pipeline-42",
               dispatcher=queue)
    other = submit(db, world["principal"]("Portfolio Manager"), "optimization", optimization(world["brand"]),
                   idempotency_key="pipeline-42", dispatcher=queue)  # keys are per person
    assert other != first and counts(db)["jobs"] == 2


def test_redis_down_fails_the_job_with_the_reason_at_once(world):
    """Celery on a Redis nobody listens on: submit says so; the job is closed as failed, not left queued."""
    from core.jobs.tasks import CeleryDispatcher, make_celery

    down = CeleryDispatcher(make_celery("redis://127.0.0.1:1/0", FAST), FAST)
    db, bm = world["db"], world["principal"]("Brand Manager")
    with pytest.raises(QueueUnavailable, match="the job queue is unavailable"):
        submit(db, bm, "optimization", optimization(world["brand"]), dispatcher=down)
    job = list_jobs(db, bm)[0]
    assert job["status"] == "failed" and "could not queue the job" in job["error"]


def test_sweeper_requeues_a_dead_workers_job_and_fails_it_after_max_attempts(world):
    db, bm = world["db"], world["principal"]("Brand Manager")
    queue = Recorder(QueueSettings(max_attempts=2, stale_after_s=60))
    dead = submit(db, bm, "optimization", optimization(world["brand"]), dispatcher=queue)
    silent = submit(db, bm, "optimization", optimization(world["brand"]), dispatcher=queue)
    alive = submit(db, bm, "optimization", optimization(world["brand"]), dispatcher=queue)
    dashboard_run = "legacy-budget-run"  # a row of the former dashboard background runs: a kind the queue lacks
    with db.session() as s:
        s.add(Job(id=dashboard_run, organization_id=bm.organization_id, owner_id=bm.user_id, kind="budget",
                  status="running", progress=0.0, payload={}))
    import socket

    with db.session() as s:  # a pid above Linux's pid_max; a host we cannot see with an old heartbeat
        s.execute(update(Job).where(Job.id == dead).values(status="running", attempts=1,
                                                           claimed_by=f"{socket.gethostname()}:4194305"))
        s.execute(update(Job).where(Job.id == silent).values(status="running", attempts=2, claimed_by="gone:1",
                                                             heartbeat_at=utcnow().replace(year=2000)))
        s.execute(update(Job).where(Job.id == alive).values(status="running", attempts=1, claimed_by="other:1",
                                                            heartbeat_at=utcnow()))
        s.execute(update(Job).where(Job.id == dashboard_run).values(started_at=utcnow().replace(year=2000)))
    queue.sent.clear()
    assert sweep(db, queue) == {"requeued": 1, "failed": 1, "resent": 0}
    assert queue.sent == [dead]
    assert get_job(db, bm, dead)["status"] == "queued"
    failed = get_job(db, bm, silent)
    assert failed["status"] == "failed" and "attempt 2 of 2" in failed["error"]
    assert get_job(db, bm, alive)["status"] == "running"
    with db.session() as s:
        assert s.get(Job, dashboard_run).status == "running"
    assert execute(db, dead, queue.settings) == "succeeded"  # the re-queued message runs it as attempt 2
    assert get_job(db, bm, dead)["attempts"] == 2
    assert sweep(db, queue) == {"requeued": 0, "failed": 0, "resent": 0}


def test_the_app_without_redis_runs_jobs_in_its_own_pool(sqlite_db, tmp_path):
    """create_app installs the in-process executor; submit finds it from the request's app context."""
    from core.jobs.queue import EXTENSION
    from tests.support import make_app

    world = build_world(sqlite_db, tmp_path)
    app = make_app(sqlite_db, tmp_path)
    executor = app.server.extensions[EXTENSION]
    assert isinstance(executor, LocalExecutor)
    try:
        with app.server.app_context():
            job_id = submit(sqlite_db, world["principal"]("Brand Manager"), "optimization",
                            optimization(world["brand"]))
        assert wait_done(sqlite_db, job_id).status == "succeeded"
    finally:
        executor.shutdown()
