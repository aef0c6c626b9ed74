"""Running a durable job exactly once, and the sweeper that recovers the jobs of dead workers.

Exactly once. The job id is the task's key. A delivery first *claims* the job with a compare-and-set
UPDATE (status and attempt as last read), so only one delivery holds an attempt; a duplicate finds
the job finished, cancelled or held by a live attempt and does nothing. The result, and the scenario
a `save_as` job saves, are written in one transaction that starts with `UPDATE … WHERE status =
'running' AND attempts = <mine>`; `scenarios.saved_by_job_id` is unique on top. A holder is known
dead when its heartbeat is older than `stale_after_s` or, on the same host, its process is gone:
the sweeper then re-queues the job (attempt n+1) or, after `max_attempts`, fails it with the reason.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

import psutil
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from core.db import Database
from core.jobs.kinds import KINDS, JobInputError, JobKind, JobRun, get_kind
from core.jobs.queue import Dispatcher, QueueSettings
from core.jobs.records import ACTIVE, JobReporter, aware, close_job, record_finish
from core.models.base import utcnow
from core.models.work import Job
from core.optimize.problem import InfeasibleError
from core.optimize.progress import Cancelled
from core.security import load_principal
from core.security.authorizer import Forbidden

log = logging.getLogger(__name__)

_RUNNING: set[str] = set()  # job ids this process is running now
_RUNNING_LOCK = threading.RLock()  # held across a claim, so a claim and its registration are one step
PERMANENT = (JobInputError, InfeasibleError, ValueError, LookupError)


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # after a fork the pid changes


def _holder_gone(job_id: str, claimed_by: str | None) -> bool:
    """Whether the recorded holder is known not to be running the job (same host only; else ask the heartbeat)."""
    if not claimed_by or ":" not in claimed_by:
        return False
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        with _RUNNING_LOCK:
            return job_id not in _RUNNING
    try:
        return not psutil.pid_exists(int(pid))
    except (OverflowError, ValueError):  # no such pid can exist
        return True


def _stale(moment: Any, seconds: float) -> bool:
    return moment is None or aware(moment) < utcnow() - timedelta(seconds=seconds)


def _claim(db: Database, job_id: str, settings: QueueSettings) -> int | None:
    """Take the job for a new attempt (compare-and-set); None when it is not this delivery's to run."""
    with db.session() as s:
        row = s.execute(select(Job.status, Job.attempts, Job.heartbeat_at, Job.claimed_by)
                        .where(Job.id == job_id)).first()
    if row is None or row.status not in ACTIVE:
        return None  # finished, cancelled, or unknown: a duplicate or late delivery
    if row.status == "running" and not (_stale(row.heartbeat_at, settings.stale_after_s)
                                         or _holder_gone(job_id, row.claimed_by)):
        return None  # a live attempt holds it
    seen = row.attempts or 0
    if seen >= settings.max_attempts:
        close_job(db, job_id, seen, "failed", f"its worker stopped during attempt {seen} of {settings.max_attempts}; "
                                           "not retried")
        return None
    now = utcnow()
    with db.session() as s:
        won = s.execute(update(Job).where(Job.id == job_id, Job.status == row.status, Job.attempts == seen).values(
            status="running", attempts=seen + 1, claimed_by=_me(), heartbeat_at=now,
            started_at=func.coalesce(Job.started_at, now), message="starting" if not seen else
            f"restarted (attempt {seen + 1} of {settings.max_attempts})"))
        return seen + 1 if won.rowcount else None


class _Heartbeat:
    """Writes the attempt's sign of life every few seconds, also while the run is silent."""

    def __init__(self, db: Database, job_id: str, attempt: int, every: float) -> None:
        self.db, self.job_id, self.attempt, self.every = db, job_id, attempt, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"dc-heartbeat-{job_id[:8]}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.db.session() as s:
                    s.execute(update(Job).where(Job.id == self.job_id, Job.status == "running",
                                                Job.attempts == self.attempt).values(heartbeat_at=utcnow()))
            except Exception as exc:  # a missed beat is not fatal; many in a row make the job stale
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _finish(db: Database, job: JobRun, spec: JobKind, result: dict[str, Any], prepared: Any) -> bool:
    """Store the result, and what the kind saves, once: the first UPDATE wins or nothing is written."""
    now = utcnow()
    with db.session() as s:
        won = s.execute(update(Job).where(Job.id == job.job_id, Job.status == "running", Job.attempts == job.attempt)
                        .values(status="succeeded", progress=1.0, message="done", result=result, error=None,
                                finished_at=now, heartbeat_at=now).returning(Job.kind, Job.started_at)).first()
        if won is None:
            return False  # cancelled meanwhile, or this attempt was taken over
        if spec.save is not None and prepared is not None:
            extra = spec.save(s, job, prepared)
            s.execute(update(Job).where(Job.id == job.job_id).values(result={**result, **extra}))
    record_finish(won.kind, "succeeded", won.started_at, now)
    return True


def _after(spec: JobKind, run: JobRun, result: dict[str, Any]) -> None:
    """The kind's follow-up once its result is stored; a failure there never fails the job."""
    if spec.after is None:
        return
    try:
        spec.after(run, result)
    except Exception:
        log.exception("job %s: the follow-up of its %s result failed", run.job_id, spec.name)


def execute(db: Database, job_id: str, settings: QueueSettings, *, transient: tuple[type[BaseException], ...] = ()
            ) -> str:
    """Run one delivery of the job; idempotent. Returns what happened: skipped, succeeded, failed, cancelled, lost.

    Errors in `transient` (Celery passes database and Redis connection errors) release the claim and
    propagate so the task is retried; every other error ends the job with a reason.
    """
    with _RUNNING_LOCK:
        attempt = _claim(db, job_id, settings)
        if attempt is None:
            return "skipped"
        _RUNNING.add(job_id)
    try:
        with _Heartbeat(db, job_id, attempt, settings.heartbeat_s):
            return _attempt(db, job_id, attempt, settings, transient)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(job_id)


def _attempt(db: Database, job_id: str, attempt: int, settings: QueueSettings,
             transient: tuple[type[BaseException], ...]) -> str:
    with db.session() as s:
        row = s.get(Job, job_id)
        kind, owner_id, payload = row.kind, row.owner_id, dict(row.payload or {})
    try:
        spec = get_kind(kind)
        if owner_id is None:
            raise Forbidden(spec.permission, ("job", job_id), "its owner was deleted")
        principal = load_principal(db, owner_id)
        run = JobRun(job_id, attempt, db, principal, spec.validate(db, principal, payload),
                     JobReporter(db, job_id, attempt=attempt))
        result = spec.run(run)
        prepared = spec.prepare_save(run, result) if spec.prepare_save else None
        if not _finish(db, run, spec, result, prepared):
            return "lost"
        _after(spec, run, result)
        return "succeeded"
    except Cancelled:
        close_job(db, job_id, attempt, "cancelled")
        return "cancelled"
    except Forbidden as exc:
        close_job(db, job_id, attempt, "failed", f"not permitted: {exc.reason}")
        return "failed"
    except transient:
        _release(db, job_id, attempt)
        raise
    except PERMANENT as exc:
        close_job(db, job_id, attempt, "failed", str(exc))
        return "failed"
    except Exception:
        log.exception("job %s attempt %d failed", job_id, attempt)
        close_job(db, job_id, attempt, "failed", "unexpected error (details in the worker log)")
        return "failed"


def _release(db: Database, job_id: str, attempt: int) -> None:
    """Hand the job back to the queue after a transient error (best effort: the database may be down)."""
    try:
        with db.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
                      .values(status="queued", attempts=attempt - 1, claimed_by=None, message="retrying"))
    except OperationalError:
        pass  # the claim stays; its holder is this process, not running it: the retry takes it over


# ------------------------------------------------------------------------------------------------ sweeper


def sweep(db: Database, dispatcher: Dispatcher) -> dict[str, int]:
    """Re-queue jobs whose worker died (or fail them after max_attempts), re-send lost queued messages.

    Safe to run anywhere and often: every change is a compare-and-set on the row as read.
    Returns how many were re-queued, failed and re-sent.
    """
    settings = dispatcher.settings
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    with db.session() as s:  # only registered kinds: a row of a kind no longer known is left as it is
        rows = s.execute(select(Job.id, Job.status, Job.attempts, Job.claimed_by,
                                func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at).label("seen"))
                         .where(Job.status.in_(ACTIVE), Job.kind.in_(list(KINDS)))).all()
    for row in rows:
        attempts = row.attempts or 0
        if row.status == "running":
            if not (_stale(row.seen, settings.stale_after_s) or _holder_gone(row.id, row.claimed_by)):
                continue
            if attempts >= settings.max_attempts:
                if close_job(db, row.id, attempts, "failed", f"its worker stopped during attempt {attempts} of "
                                                          f"{settings.max_attempts}; not retried"):
                    counts["failed"] += 1
                continue
            values = {"status": "queued", "claimed_by": None, "message": "re-queued: its worker stopped"}
            key = "requeued"
        elif _stale(row.seen, settings.resend_queued_after_s):
            values, key = {}, "resent"
        else:
            continue
        with db.session() as s:
            won = s.execute(update(Job).where(Job.id == row.id, Job.status == row.status, Job.attempts == attempts)
                            .values(heartbeat_at=utcnow(), **values)).rowcount
        if won:
            try:
                dispatcher.dispatch(row.id)
                counts[key] += 1
            except Exception as exc:  # stays queued; the next sweep sends it again
                log.warning("job %s: could not re-send: %s", row.id, exc)
    return counts
