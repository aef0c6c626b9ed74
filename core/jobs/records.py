"""The Job row as its owner sees it: read, list, cancel, close, and the reporter a run writes through.

A job (submitted by the optimizer page or the REST API through core.jobs.queue) writes its progress
and result to a `Job` row owned by the person who asked. The row, not the browser tab or the web
process, is the record of the run: reloading the page or restarting the web process finds it, any
process can ask it to stop (`cancel`; the run sees it through `JobReporter.cancelled`), and only its
owner (or a system administrator) may read it — a foreign id is `JobNotFound`, never a Forbidden
that would confirm the id exists.

This module knows rows only: nothing here imports the queue, the kinds or the domain, so the domain
(core.scenarios saves a scenario from a finished job) may import it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from core.db import Database
from core.models.base import utcnow
from core.models.work import Job
from core.observability.metrics import job_finished
from core.security import Principal

ACTIVE = ("queued", "running")
# Progress writes are throttled: a run reports many times a second, the row needs a few updates.
PROGRESS_INTERVAL_S = 0.4
CANCEL_POLL_S = 0.5


class JobNotFound(LookupError):
    """No job with that id that the principal may see."""


def _owned(principal: Principal, job: Job | None) -> bool:
    return job is not None and (principal.is_system_admin or (
        principal.user_id is not None and job.owner_id == principal.user_id))


def get_job(db: Database, principal: Principal, job_id: Any) -> dict[str, Any]:
    """The job as a dict, if the principal owns it; JobNotFound otherwise (ids come from browsers)."""
    with db.session() as s:
        job = s.get(Job, str(job_id)) if isinstance(job_id, str | int) else None
        if not _owned(principal, job):
            raise JobNotFound(f"no job {job_id!r}")
        return as_dict(job)


_STATUS_COLUMNS = (Job.id, Job.status, Job.progress, Job.message, Job.error, Job.owner_id)


def job_status(db: Database, principal: Principal, job_id: Any) -> dict[str, Any]:
    """`get_job` without the payload and the result: what a page polling a run reads (many times a
    second across the users of a deployment), in one narrow query. JobNotFound as `get_job`."""
    row = None
    if isinstance(job_id, str | int):
        with db.engine.connect() as conn:
            row = conn.execute(select(*_STATUS_COLUMNS).where(Job.id == str(job_id))).first()
    if row is None or not (principal.is_system_admin or (
            principal.user_id is not None and row.owner_id == principal.user_id)):
        raise JobNotFound(f"no job {job_id!r}")
    return dict(row._mapping)


def as_dict(job: Job) -> dict[str, Any]:
    """The row as the API and the page show it (a dead worker's job is the sweeper's to re-run or fail)."""
    return {"id": job.id, "kind": job.kind, "status": job.status, "progress": job.progress, "message": job.message,
            "error": job.error, "payload": job.payload, "result": job.result, "owner_id": job.owner_id,
            "organization_id": job.organization_id, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "attempts": job.attempts or 0, "heartbeat_at": job.heartbeat_at}


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored moment is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def latest_job(db: Database, principal: Principal, kind: str) -> dict[str, Any] | None:
    """The principal's own most recent job of `kind` (active or finished), or None: what a page resumes on load."""
    if principal.user_id is None:
        return None
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.owner_id == principal.user_id, Job.kind == kind)
                        .order_by(Job.created_at.desc()).limit(1)).first()
        return None if job is None else as_dict(job)


def list_jobs(db: Database, principal: Principal, *, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The principal's own jobs, newest first (everyone, administrators included, lists only their own)."""
    if principal.user_id is None:
        return []
    query = select(Job).where(Job.owner_id == principal.user_id).order_by(Job.created_at.desc()).limit(
        max(1, min(int(limit), 500)))
    if kind is not None:
        query = query.where(Job.kind == kind)
    with db.session() as s:
        return [as_dict(j) for j in s.scalars(query)]


def cancel(db: Database, principal: Principal, job_id: Any) -> dict[str, Any]:
    """Cancel the principal's job if it is still queued or running; returns the job as `get_job` does.

    A finished job is returned unchanged. The running attempt notices at its next progress report
    and stops; a queued one is never started.
    """
    job = get_job(db, principal, job_id)  # JobNotFound unless the principal owns it
    if job["status"] in ACTIVE:
        close_job(db, job["id"], None, "cancelled")
    return get_job(db, principal, job["id"])


def close_job(db: Database, job_id: str, attempt: int | None, status: str, error: str | None = None) -> bool:
    """End the job as failed or cancelled if it is still active (and still `attempt`'s); counted for /metrics."""
    query = update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE))
    if attempt is not None:
        query = query.where(Job.attempts == attempt)
    now = utcnow()
    with db.session() as s:
        closed = s.execute(query.values(status=status, message=status, error=(error or "")[:4000] or None,
                                        finished_at=now, heartbeat_at=now).returning(Job.kind, Job.started_at)).first()
    if closed is not None:
        record_finish(closed.kind, status, closed.started_at, now)
    return closed is not None


def record_finish(kind: str, status: str, started: datetime | None, finished: datetime) -> None:
    """Count the outcome for /metrics once the row is committed (a rolled-back close counts nothing)."""
    job_finished(kind, status, None if started is None else (finished - aware(started)).total_seconds())


class JobReporter:
    """Progress callback and cancellation token for one attempt at one job, backed by its row.

    Pass it as both `progress` and `cancel` to the optimizers (core.optimize.progress.Monitor reads
    `.cancelled`). Every write is conditional on the row still being this attempt's, and a run whose
    attempt was taken over by another worker sees itself cancelled.
    """

    def __init__(self, db: Database, job_id: str, *, attempt: int) -> None:
        self.db, self.job_id, self.attempt = db, job_id, attempt
        self._last_write = 0.0
        self._last_poll = 0.0
        self._cancelled = False

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_INTERVAL_S or fraction >= 1.0:
            self._last_write = now
            with self.db.session() as s:
                s.execute(update(Job).where(Job.id == self.job_id, Job.status.in_(ACTIVE),
                                            Job.attempts == self.attempt)
                          .values(progress=float(fraction), message=message[:500], heartbeat_at=utcnow()))

    @property
    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            with self.db.session() as s:
                row = s.execute(select(Job.status, Job.attempts).where(Job.id == self.job_id)).first()
            self._cancelled = row is None or row.status == "cancelled" or row.attempts != self.attempt
        return self._cancelled
