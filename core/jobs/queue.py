"""Durable jobs: a committed Job row first, then a queue, then exactly one result.

The interface (what the REST API, the optimizer page and any CLI call):

- `submit(db, principal, kind, payload, *, idempotency_key=None) -> job id`: validates and authorizes
  (core.jobs.kinds; `JobInputError` / `Forbidden`, nothing written), commits a "queued" Job row owned
  by the principal, and only then enqueues it. The same `idempotency_key` from the same person returns
  the first job's id (`IdempotencyConflict` when it came with a different request). `QueueUnavailable`
  when the queue cannot take it: the row is then closed as failed with that reason.
- core.jobs.records: `get_job`, `cancel`, `list_jobs`, `latest_job` — the owner's (or a system
  admin's) only; anything else is `JobNotFound`.
- core.jobs.runner: `execute` (one delivery, claimed compare-and-set) and `sweep` (re-queue jobs whose
  worker died, or fail them after `max_attempts`).

Where jobs run: with REDIS_URL, Celery workers on Redis (core.jobs.tasks); otherwise the in-process
`LocalExecutor` (core.jobs.executor). `core.jobs.executor.install` picks one at start-up and keeps it
in `server.extensions[EXTENSION]`, where `submit` finds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import core.jobs.builtin  # noqa: F401  (the built-in kinds register themselves; every queue runs them)
from core.db import Database
from core.jobs.kinds import JobInputError, get_kind
from core.jobs.records import JobNotFound, close_job
from core.models.base import utcnow
from core.models.work import Job
from core.security import Principal
from core.security.authorizer import deny

EXTENSION = "digicadence.jobs"
KEY_MAX = 200
RUN_TASK = "digicadence.jobs.run"
SWEEP_TASK = "digicadence.jobs.sweep"

__all__ = ["Dispatcher", "IdempotencyConflict", "JobInputError", "JobNotFound", "QueueSettings", "QueueUnavailable",
           "current_dispatcher", "submit"]


class QueueUnavailable(RuntimeError):
    """The job could not be queued (Redis down, or too many waiting); the message says which."""


class IdempotencyConflict(ValueError):
    """The idempotency key was already used by this person for a different request."""


@dataclass(frozen=True)
class QueueSettings:
    """Queue tuning, from DIGICADENCE_JOB_<FIELD> variables (upper case; Config.job_env), else these defaults."""

    workers: int = 2  # in-process executor threads
    max_pending: int = 32  # in-process: jobs waiting or running before submit refuses
    max_attempts: int = 3  # runs of one job before a dead worker's job is failed instead of re-run
    heartbeat_s: float = 10.0  # a running job's sign of life
    stale_after_s: float = 120.0  # no sign of life for this long: its worker is dead
    resend_queued_after_s: float = 900.0  # a queued job nobody picked up: its message is sent again
    sweep_every_s: float = 60.0
    visibility_timeout_s: int = 3600  # Redis: unacknowledged messages are re-delivered after this

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QueueSettings:
        """Parse the DIGICADENCE_JOB_* variables (core.config.Config.job_env); ValueError names a bad one."""
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
    """Where a queued job goes: Celery (core.jobs.tasks.CeleryDispatcher) or in-process (executor.LocalExecutor)."""

    settings: QueueSettings

    def dispatch(self, job_id: str) -> None: ...


def current_dispatcher() -> Dispatcher:
    """The running app's queue (inside a request or app context)."""
    from flask import current_app, has_app_context

    if not has_app_context() or EXTENSION not in current_app.extensions:
        raise RuntimeError("no job queue: call core.jobs.executor.install at start-up, or pass dispatcher=")
    return current_app.extensions[EXTENSION]


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
        close_job(db, job_id, None, "failed", f"could not queue the job: {reason}")
        raise QueueUnavailable(f"could not queue the job: {reason}") from exc
    return job_id


