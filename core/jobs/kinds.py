"""What a durable job can be: the registry of kind → validate, run and save that core.jobs.queue consults.

The registry knows no kind in particular: the built-in ones (core.jobs.builtin) import the domain
and register themselves here, so the domain never imports the queue.

A kind is four plain functions, so adding one is `register(JobKind(...))`:

- `validate(db, principal, payload) -> payload`: authorizes the principal and returns the payload in
  canonical form, or raises `JobInputError` (a reason a person can act on) / `Forbidden`. It runs at
  submit time and again inside the worker, with the owner's principal re-loaded, because grants may
  have changed while the job waited.
- `run(job) -> result`: the work, JSON-able result, no writes of its own except the audit trail. It
  reports progress and sees cancellation through `job.reporter`.
- `prepare_save(job, result)` (optional): checks and builds what the job saves, outside any
  transaction (a refusal is audited in its own transaction, which SQLite could not do inside one).
- `save(session, job, prepared) -> dict` (optional): inserts it inside the job's final transaction,
  the one that also marks the job succeeded; what it returns is merged into the stored result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.db import Database
from core.jobs.records import JobReporter
from core.security import Principal


class JobInputError(ValueError):
    """A job request a person must fix; `reason` says what (nothing was written)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JobRun:
    """One attempt at one job, as its kind's functions see it."""

    job_id: str
    attempt: int
    db: Database
    principal: Principal
    payload: dict[str, Any]
    reporter: JobReporter


@dataclass(frozen=True)
class JobKind:
    """A kind of job: who may submit it (`permission`), and its validate, run and save functions."""

    name: str
    permission: str
    validate: Callable[[Database, Principal, dict[str, Any]], dict[str, Any]]
    run: Callable[[JobRun], dict[str, Any]]
    prepare_save: Callable[[JobRun, dict[str, Any]], Any] | None = None
    save: Callable[[Session, JobRun, Any], dict[str, Any]] | None = None
    # What follows a stored result (a fit's alert rules): its errors are logged, the job stays succeeded.
    after: Callable[[JobRun, dict[str, Any]], None] | None = None


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Make `kind` submittable (core.jobs.queue.submit) and runnable by every worker that imports it."""
    KINDS[kind.name] = kind
    return kind


def get_kind(name: Any) -> JobKind:
    """The registered kind called `name`; JobInputError (listing the known ones) for anything else."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise JobInputError(f"unknown job kind {name!r}; expected one of {sorted(KINDS)}")
    return kind


def only_fields(payload: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise JobInputError("payload: expected an object")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise JobInputError(f"payload: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {sorted(allowed)}")
    missing = sorted(k for k in required if payload.get(k) is None)
    if missing:
        raise JobInputError(f"payload: missing {', '.join(missing)}")
    return payload


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
