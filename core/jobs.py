"""Long work that outlives a request: the durable Job record and the Celery app.

A background run (a Dash background callback on diskcache or Celery, or a job started by the API)
writes its progress and its result to a `Job` row owned by the person who asked. The row, not the
browser tab, is the record of the run: leaving the page and coming back finds it, another process
can ask it to stop (`request_cancel`; the run sees it through `JobReporter.cancelled`), and only its
owner (or a system administrator) may read it.

`make_celery(redis_url)` builds the one Celery app (broker and result backend on Redis) that the web
process hands to Dash's CeleryManager and that `celery -A worker:celery worker` runs.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.db import Database
from core.models.base import utcnow
from core.models.work import Job
from core.observability.metrics import job_finished
from core.security import Principal
from core.security.authorizer import deny

ACTIVE = ("queued", "running")
# Progress writes are throttled: a run reports many times a second, the row needs a few updates.
PROGRESS_INTERVAL_S = 0.4
CANCEL_POLL_S = 0.5
# A run whose process died (killed worker, terminated job) would stay "running" forever; after this
# long without a progress write it is shown as failed.
STALE_AFTER = timedelta(minutes=30)


class JobNotFound(LookupError):
    """No job with that id that the principal may see."""


def start_job(db: Database, principal: Principal, kind: str, payload: dict[str, Any]) -> str:
    """Record a new running job owned by the principal; returns its id."""
    job_id = str(uuid.uuid4())
    with db.session() as s:
        s.add(Job(id=job_id, organization_id=principal.organization_id, owner_id=principal.user_id, kind=kind,
                  status="running", progress=0.0, message="starting", payload=payload, started_at=utcnow()))
    return job_id


def _owned(principal: Principal, job: Job | None) -> bool:
    return job is not None and (principal.is_system_admin or (
        principal.user_id is not None and job.owner_id == principal.user_id))


def get_job(db: Database, principal: Principal, job_id: Any) -> dict[str, Any]:
    """The job as a dict, if the principal owns it; JobNotFound otherwise (ids come from browsers)."""
    with db.session() as s:
        job = s.get(Job, str(job_id)) if isinstance(job_id, str | int) else None
        if not _owned(principal, job):
            raise JobNotFound(f"no job {job_id!r}")
        return _as_dict(job)


def _as_dict(job: Job) -> dict[str, Any]:
    status, error = job.status, job.error
    last = job.heartbeat_at or job.started_at or job.created_at
    if status in ACTIVE and last is not None and _aware(last) < utcnow() - STALE_AFTER:
        status, error = "failed", error or "no sign of life from the worker running it"
    return {"id": job.id, "kind": job.kind, "status": status, "progress": job.progress, "message": job.message,
            "error": error, "payload": job.payload, "result": job.result, "owner_id": job.owner_id,
            "organization_id": job.organization_id, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "attempts": job.attempts or 0, "heartbeat_at": job.heartbeat_at}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def latest_job(db: Database, principal: Principal, kind: str) -> dict[str, Any] | None:
    """The principal's most recent job of `kind` (running or finished), or None."""
    if principal.user_id is None:
        return None
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.owner_id == principal.user_id, Job.kind == kind)
                        .order_by(Job.created_at.desc()).limit(1)).first()
        return None if job is None else _as_dict(job)


def request_cancel(db: Database, principal: Principal, kind: str, job_id: str | None = None) -> int:
    """Mark the principal's running jobs of `kind` (or just `job_id`) cancelled; returns how many.

    The run notices through its reporter and stops; a process Dash terminated never reports, so the
    row is closed here either way.
    """
    if principal.user_id is None:
        deny(principal, "scenario:run", ("system", None), "no user")
    query = update(Job).where(Job.owner_id == principal.user_id, Job.kind == kind, Job.status.in_(ACTIVE))
    if job_id is not None:
        query = query.where(Job.id == str(job_id))
    now = utcnow()
    with db.session() as s:
        closed = s.execute(query.values(status="cancelled", message="cancelled", finished_at=now)
                           .returning(Job.kind, Job.started_at)).all()
    for job_kind, started in closed:
        _record_finish(job_kind, "cancelled", started, now)
    return len(closed)


def finish_job(db: Database, job_id: str, result: dict[str, Any]) -> bool:
    """Store the result unless the job was cancelled meanwhile; True when it was stored."""
    now = utcnow()
    with db.session() as s:
        done = s.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE)).values(
            status="succeeded", progress=1.0, message="done", result=result, finished_at=now)
            .returning(Job.kind, Job.started_at)).first()
    if done is not None:
        _record_finish(done.kind, "succeeded", done.started_at, now)
    return done is not None


def fail_job(db: Database, job_id: str, error: str, *, cancelled: bool = False) -> None:
    """Close the job as failed (with the reason a person can act on) or as cancelled."""
    status = "cancelled" if cancelled else "failed"
    now = utcnow()
    with db.session() as s:
        closed = s.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE)).values(
            status=status, message=status, error=None if cancelled else error[:4000], finished_at=now)
            .returning(Job.kind, Job.started_at)).first()
    if closed is not None:
        _record_finish(closed.kind, status, closed.started_at, now)


def _record_finish(kind: str, status: str, started: datetime | None, finished: datetime) -> None:
    """Count the outcome for /metrics once the row is committed (a rolled-back close counts nothing)."""
    job_finished(kind, status, None if started is None else (finished - _aware(started)).total_seconds())


class JobReporter:
    """Progress callback and cancellation token for one job, backed by its row.

    Pass it as both `progress` and `cancel` to the optimizers (core.optimize.progress.Monitor reads
    `.cancelled`); `relay` also receives every report (a Dash background callback's set_progress).
    With `attempt` (core.job_queue) every write is conditional on the row still being that attempt's,
    and a run whose attempt was taken over by another worker sees itself cancelled.
    """

    def __init__(self, db: Database, job_id: str, relay: Any = None, *, attempt: int | None = None) -> None:
        self.db, self.job_id, self.relay, self.attempt = db, job_id, relay, attempt
        self._last_write = 0.0
        self._last_poll = 0.0
        self._cancelled = False

    def __call__(self, fraction: float, message: str) -> None:
        if self.relay is not None:
            self.relay(fraction, message)
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            self._last_write = now
            query = update(Job).where(Job.id == self.job_id, Job.status.in_(ACTIVE))
            if self.attempt is not None:
                query = query.where(Job.attempts == self.attempt)
            with self.db.session() as s:
                s.execute(query.values(progress=float(fraction), message=message[:500], heartbeat_at=utcnow()))

    @property
    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            with self.db.session() as s:
                row = s.execute(select(Job.status, Job.attempts).where(Job.id == self.job_id)).first()
            self._cancelled = row is None or row.status == "cancelled" or (
                self.attempt is not None and row.attempts != self.attempt)
        return self._cancelled


def make_celery(redis_url: str, name: str = "digicadence") -> Any:
    """The Celery app for background callbacks and durable jobs: Redis as broker and result backend, JSON only.

    The job tasks (core.job_tasks) are registered on it by `core.job_queue.install`; their delivery
    settings (late acks, requeue on a lost worker, retries) are per task, so background callbacks keep
    Celery's defaults. The visibility timeout is how long an unacknowledged message waits before Redis
    hands it to another worker: longer than any job runs, or a live job would be delivered twice
    (harmless, but wasted work); a dead worker's job is picked up sooner by the sweeper.
    """
    from celery import Celery

    from core.job_queue import QueueSettings

    app = Celery(name, broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,  # long runs: one at a time per worker process
        task_track_started=True,
        broker_transport_options={"visibility_timeout": QueueSettings.from_env().visibility_timeout_s},
        # One Redis can serve several deployments (or test runs): each names its own queue.
        task_default_queue=os.environ.get("DIGICADENCE_CELERY_QUEUE", "celery"),
    )
    return app
