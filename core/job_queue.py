"""Durable jobs: a committed Job row first, then a queue, then exactly one result.

The interface (what the REST API and any CLI call):

- `submit(db, principal, kind, payload, *, idempotency_key=None) -> job id`: validates and authorizes
  (core.job_kinds; `JobInputError` / `Forbidden`, nothing written), commits a "queued" Job row owned
  by the principal, and only then enqueues it. The same `idempotency_key` from the same person returns
  the first job's id (`IdempotencyConflict` when it came with a different request). `QueueUnavailable`
  when the queue cannot take it: the row is then closed as failed with that reason.
- `core.jobs.get_job(db, principal, job_id)` (status, progress, message, error, result, attempts),
  `cancel(db, principal, job_id)`, `list_jobs(db, principal)`: the owner's (or a system admin's) only;
  anything else is `JobNotFound`.
- `sweep(db, dispatcher)`: re-queues jobs whose worker died, or fails them with the reason after
  `max_attempts`; Celery beat runs it (core.job_tasks), the in-process executor on a timer.

Where jobs run: with REDIS_URL, Celery workers on Redis (`CeleryDispatcher`, tasks in core.job_tasks);
otherwise `LocalExecutor`, a small bounded thread pool inside the app's process (the embedded
single-server default; its jobs stop with the process and are re-run by the next one's sweeper).
`install(server, db, celery_app)` picks one at start-up and keeps it in `server.extensions`.

Exactly once. The job id is the task's key. A delivery first *claims* the job with a compare-and-set
UPDATE (status and attempt as last read), so only one delivery holds an attempt; a duplicate finds
the job finished, cancelled or held by a live attempt and does nothing. The result, and the scenario
a `save_as` job saves, are written in one transaction that starts with `UPDATE … WHERE status =
'running' AND attempts = <mine>`; `scenarios.saved_by_job_id` is unique on top. A holder is known
dead when its heartbeat is older than `stale_after_s` or, on the same host, its process is gone.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Protocol

import psutil
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core.budget import Cancelled
from core.db import Database
from core.job_kinds import KINDS, JobInputError, JobKind, JobRun, get_kind
from core.jobs import ACTIVE, JobNotFound, JobReporter, _as_dict, _aware, get_job
from core.models.base import utcnow
from core.models.work import Job
from core.optimize.problem import InfeasibleError
from core.security import Principal, load_principal
from core.security.authorizer import Forbidden, deny

log = logging.getLogger(__name__)
EXTENSION = "digicadence.jobs"
KEY_MAX = 200

__all__ = ["CeleryDispatcher", "IdempotencyConflict", "JobInputError", "JobNotFound", "LocalExecutor",
           "QueueSettings", "QueueUnavailable", "cancel", "execute", "get_job", "install", "list_jobs", "submit",
           "sweep"]


class QueueUnavailable(RuntimeError):
    """The job could not be queued (Redis down, or too many waiting); the message says which."""


class IdempotencyConflict(ValueError):
    """The idempotency key was already used by this person for a different request."""


@dataclass(frozen=True)
class QueueSettings:
    """Queue tuning, from DIGICADENCE_JOB_<FIELD> environment variables (upper case), else these defaults."""

    workers: int = 2  # in-process executor threads
    max_pending: int = 32  # in-process: jobs waiting or running before submit refuses
    max_attempts: int = 3  # runs of one job before a dead worker's job is failed instead of re-run
    heartbeat_s: float = 10.0  # a running job's sign of life
    stale_after_s: float = 120.0  # no sign of life for this long: its worker is dead
    resend_queued_after_s: float = 900.0  # a queued job nobody picked up: its message is sent again
    sweep_every_s: float = 60.0
    visibility_timeout_s: int = 3600  # Redis: unacknowledged messages are re-delivered after this

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> QueueSettings:
        env = dict(os.environ if env is None else env)
        values = {}
        for f in fields(cls):
            name = f"DIGICADENCE_JOB_{f.name.upper()}"
            if raw := env.get(name):
                try:
                    values[f.name] = int(raw) if f.type in ("int", int) else float(raw)
                except ValueError:
                    raise ValueError(f"{name}={raw!r}: expected a number") from None
                if values[f.name] <= 0:
                    raise ValueError(f"{name}={raw!r}: must be above 0")
        return cls(**values)


class Dispatcher(Protocol):
    settings: QueueSettings

    def dispatch(self, job_id: str) -> None: ...


# ------------------------------------------------------------------------------------------------ dispatchers

RUN_TASK = "digicadence.jobs.run"
SWEEP_TASK = "digicadence.jobs.sweep"


class CeleryDispatcher:
    """Jobs as Celery tasks on Redis, keyed by the job id (tasks and their settings: core.job_tasks)."""

    def __init__(self, celery_app: Any, settings: QueueSettings) -> None:
        self.celery, self.settings = celery_app, settings

    def dispatch(self, job_id: str) -> None:
        self.celery.send_task(RUN_TASK, args=[job_id], task_id=job_id, ignore_result=True,  # the row is the result
                              retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})


class LocalExecutor:
    """The embedded default: a bounded pool of daemon threads in the app's own process, and a sweeper timer.

    Threads, not processes: a fork from a threaded web server can inherit a held lock, and the
    optimizers spend their time in numpy, which releases the GIL. Daemon threads, so stopping the
    app is not held up by a run: a job still running when the process ends is re-run by the next
    process's sweeper (its holder's pid is gone). Cancellation is cooperative (the run polls its row).
    """

    def __init__(self, db: Database, settings: QueueSettings) -> None:
        self.db, self.settings = db, settings
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pending = 0
        self._stop = threading.Event()

    def dispatch(self, job_id: str) -> None:
        with self._lock:
            if self._stop.is_set():
                raise QueueUnavailable("the app is shutting down")
            if self._pending >= self.settings.max_pending:
                raise QueueUnavailable(f"{self._pending} jobs are already waiting; try again in a few minutes")
            self._pending += 1
            if not self._threads:  # started on first use: most app instances (tests, CLIs) never run a job
                self._threads = [threading.Thread(target=self._work, name=f"dc-job-{i}", daemon=True)
                                 for i in range(self.settings.workers)]
                self._threads.append(threading.Thread(target=self._sweep_forever, name="dc-job-sweeper",
                                                      daemon=True))
                for thread in self._threads:
                    thread.start()
        self._queue.put(job_id)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                execute(self.db, job_id, self.settings)
            except Exception:  # execute closes the job; this only keeps the thread alive
                log.exception("job %s: unexpected error in the in-process executor", job_id)
            finally:
                with self._lock:
                    self._pending -= 1

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self.settings.sweep_every_s):
            try:
                sweep(self.db, self)
            except Exception:
                log.exception("job sweeper failed; retrying at the next interval")

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, let the queued and running ones finish first."""
        with self._lock:
            self._stop.set()
            workers = [t for t in self._threads if t.name != "dc-job-sweeper"]
        for _ in workers:
            self._queue.put(None)
        if wait:
            for thread in workers:
                thread.join()


def install(server: Any, db: Database, celery_app: Any = None, settings: QueueSettings | None = None) -> Dispatcher:
    """Give the app its job queue (Celery when it has a Celery app, else in-process); kept in server.extensions."""
    settings = settings or QueueSettings.from_env()
    if celery_app is not None:
        from core.job_tasks import register_tasks

        register_tasks(celery_app, db.url, settings)
        dispatcher: Dispatcher = CeleryDispatcher(celery_app, settings)
    else:
        dispatcher = LocalExecutor(db, settings)
    server.extensions[EXTENSION] = dispatcher
    return dispatcher


def current_dispatcher() -> Dispatcher:
    """The running app's queue (inside a request or app context)."""
    from flask import current_app, has_app_context

    if not has_app_context() or EXTENSION not in current_app.extensions:
        raise RuntimeError("no job queue: call core.job_queue.install at start-up, or pass dispatcher=")
    return current_app.extensions[EXTENSION]


# ------------------------------------------------------------------------------------------------ submit, cancel


def _clean_key(key: Any) -> str | None:
    if key is None:
        return None
    text = str(key).strip()
    if not text or len(text) > KEY_MAX or not text.isprintable():
        raise JobInputError(f"idempotency key: 1 to {KEY_MAX} printable characters")
    return text


def _replay(db: Database, owner_id: int, key: str, kind: str, payload: dict[str, Any]) -> str | None:
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key)).first()
        if job is None:
            return None
        if job.kind != kind or job.payload != payload:
            raise IdempotencyConflict("this idempotency key was already used for a different request")
        return job.id


def submit(db: Database, principal: Principal, kind: str, payload: dict[str, Any], *,
           idempotency_key: str | None = None, dispatcher: Dispatcher | None = None) -> str:
    """Validate, authorize, commit a queued job owned by the principal, then enqueue it; returns the job id.

    Raises JobInputError (payload or key invalid; nothing written), Forbidden (audited; no job),
    IdempotencyConflict, QueueUnavailable (the job row exists, closed as failed with the reason).
    """
    spec = get_kind(kind)
    if principal.user_id is None:
        deny(principal, spec.permission, ("system", None), "jobs belong to a signed-in user")
    key = _clean_key(idempotency_key)
    clean = spec.validate(db, principal, payload)
    dispatcher = dispatcher or current_dispatcher()
    if key is not None and (existing := _replay(db, principal.user_id, key, kind, clean)) is not None:
        return existing
    job_id = str(uuid.uuid4())
    try:
        with db.session() as s:
            s.add(Job(id=job_id, organization_id=principal.organization_id, owner_id=principal.user_id, kind=kind,
                      status="queued", progress=0.0, message="queued", payload=clean, attempts=0,
                      heartbeat_at=utcnow(), idempotency_key=key))
    except IntegrityError:  # the same key, submitted at the same moment: the other request won
        existing = _replay(db, principal.user_id, key, kind, clean) if key is not None else None
        if existing is None:
            raise
        return existing
    try:
        dispatcher.dispatch(job_id)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, QueueUnavailable) else \
            f"the job queue is unavailable ({type(exc).__name__})"
        _close(db, job_id, None, "failed", f"could not queue the job: {reason}")
        raise QueueUnavailable(f"could not queue the job: {reason}") from exc
    return job_id


def cancel(db: Database, principal: Principal, job_id: Any) -> dict[str, Any]:
    """Cancel the principal's job if it is still queued or running; returns the job as `get_job` does.

    A finished job is returned unchanged. The running attempt notices at its next progress report
    and stops; a queued one is never started.
    """
    job = get_job(db, principal, job_id)  # JobNotFound unless the principal owns it
    if job["status"] in ACTIVE or job["status"] == "failed":
        with db.session() as s:
            s.execute(update(Job).where(Job.id == job["id"], Job.status.in_(ACTIVE))
                      .values(status="cancelled", message="cancelled", finished_at=utcnow()))
    return get_job(db, principal, job["id"])


def list_jobs(db: Database, principal: Principal, *, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The principal's own jobs, newest first (everyone, administrators included, lists only their own)."""
    if principal.user_id is None:
        return []
    query = select(Job).where(Job.owner_id == principal.user_id).order_by(Job.created_at.desc()).limit(
        max(1, min(int(limit), 500)))
    if kind is not None:
        query = query.where(Job.kind == kind)
    with db.session() as s:
        return [_as_dict(j) for j in s.scalars(query)]


# ------------------------------------------------------------------------------------------------ running

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
    return moment is None or _aware(moment) < utcnow() - timedelta(seconds=seconds)


def _close(db: Database, job_id: str, attempt: int | None, status: str, error: str | None = None) -> bool:
    """End the job as failed or cancelled, if it is still active (and still `attempt`'s)."""
    query = update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE))
    if attempt is not None:
        query = query.where(Job.attempts == attempt)
    with db.session() as s:
        done = s.execute(query.values(status=status, message=status, error=(error or "")[:4000] or None,
                                      finished_at=utcnow(), heartbeat_at=utcnow()))
        return bool(done.rowcount)


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
        _close(db, job_id, seen, "failed", f"its worker stopped during attempt {seen} of {settings.max_attempts}; "
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
                                finished_at=now, heartbeat_at=now))
        if not won.rowcount:
            return False  # cancelled meanwhile, or this attempt was taken over
        if spec.save is not None and prepared is not None:
            extra = spec.save(s, job, prepared)
            s.execute(update(Job).where(Job.id == job.job_id).values(result={**result, **extra}))
    return True


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
        return "succeeded"
    except Cancelled:
        _close(db, job_id, attempt, "cancelled")
        return "cancelled"
    except Forbidden as exc:
        _close(db, job_id, attempt, "failed", f"not permitted: {exc.reason}")
        return "failed"
    except transient:
        _release(db, job_id, attempt)
        raise
    except PERMANENT as exc:
        _close(db, job_id, attempt, "failed", str(exc))
        return "failed"
    except Exception:
        log.exception("job %s attempt %d failed", job_id, attempt)
        _close(db, job_id, attempt, "failed", "unexpected error (details in the worker log)")
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
    with db.session() as s:  # only the queue's kinds: the dashboard's background callbacks keep their own rows
        rows = s.execute(select(Job.id, Job.status, Job.attempts, Job.claimed_by,
                                func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at).label("seen"))
                         .where(Job.status.in_(ACTIVE), Job.kind.in_(list(KINDS)))).all()
    for row in rows:
        attempts = row.attempts or 0
        if row.status == "running":
            if not (_stale(row.seen, settings.stale_after_s) or _holder_gone(row.id, row.claimed_by)):
                continue
            if attempts >= settings.max_attempts:
                if _close(db, row.id, attempts, "failed", f"its worker stopped during attempt {attempts} of "
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
