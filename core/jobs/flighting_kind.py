"""The "flighting" job kind: a week-by-week plan over a horizon (core.flighting.run), nothing stored.

Payload: core.flighting.run.FlightingInputs. scenario:run on every brand, checked at submit (with the
inputs' feasibility, so an impossible plan is refused with its reason before it is queued) and again
in the worker with the owner's principal re-loaded.
"""

from __future__ import annotations

from typing import Any

from core.db import Database
from core.flighting.run import FlightingInputError, check, run_flighting
from core.jobs.kinds import JobInputError, JobKind, JobRun, jsonable, register
from core.security import Principal

RUN = "scenario:run"


def _validate(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return check(db, principal, payload)
    except FlightingInputError as exc:
        raise JobInputError(exc.reason) from None


def _run(job: JobRun) -> dict[str, Any]:
    try:
        return jsonable(run_flighting(job.db, int(job.principal.user_id), job.payload, progress=job.reporter))
    except FlightingInputError as exc:
        raise JobInputError(exc.reason) from None


FLIGHTING_KIND = register(JobKind("flighting", RUN, _validate, _run))
