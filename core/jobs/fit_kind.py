"""The "fit" job kind: fit one brand's response curves and keep the fit as its next version.

Payload `{"brand_id", "trigger"?: "manual" | "api" | "import", "n_bootstrap"?: 5–300, "n_starts"?: 1–12}`;
scenario:run on the brand (analysts and up), checked at submit and again in the worker. A brand
whose history cannot be fitted is refused at submit with the reason (core.response_curves.FitDataError).

The fit runs in `run` and writes nothing; the curves and the FitVersion are stored by `save`, inside
the job's final transaction (core.jobs.runner._finish), so a retried or cancelled attempt never
leaves a version behind and a finished job stores exactly one. `run` hands its fit to `prepare_save`
through a per-process table keyed by (job id, attempt): both run in the same worker, one after the other.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.alert_rules import evaluate_quietly
from core.db import Database
from core.fit_record import headline
from core.input_ranges import NumberRange, RangeError
from core.jobs.kinds import JobInputError, JobKind, JobRun, jsonable, only_fields, register
from core.models import Brand
from core.response_curves import FitDataError, PreparedFit, load_history, prepare_fit, store_fit
from core.security import Principal, authorize

FIT = "fit"
RUN = "scenario:run"
JOB_TRIGGERS = ("manual", "api", "import")
RANGES = {"brand_id": NumberRange("brand_id", 1, 2**31 - 1, whole=True),
          "n_bootstrap": NumberRange("n_bootstrap", 5, 300, whole=True),
          "n_starts": NumberRange("n_starts", 1, 12, whole=True)}

_PENDING: dict[tuple[str, int], PreparedFit] = {}
_PENDING_LOCK = threading.Lock()


def _validate(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    payload = only_fields(payload, {"brand_id", "trigger", "n_bootstrap", "n_starts"}, {"brand_id"})
    out: dict[str, Any] = {}
    for key, rng in RANGES.items():
        try:
            value = rng.read(payload.get(key), key)
        except RangeError as exc:
            raise JobInputError(str(exc)) from None
        if value is not None:
            out[key] = int(value)
    trigger = payload.get("trigger") or "manual"
    if trigger not in JOB_TRIGGERS:
        raise JobInputError(f"trigger: one of {', '.join(JOB_TRIGGERS)}")
    out["trigger"] = trigger
    authorize(principal, RUN, ("brand", out["brand_id"]))
    try:
        with db.session() as s:
            load_history(s, out["brand_id"])
    except FitDataError as exc:
        raise JobInputError(f"this brand cannot be fitted yet: {exc}") from None
    return out


def _run(job: JobRun) -> dict[str, Any]:
    p = job.payload
    options = {k: p[k] for k in ("n_bootstrap", "n_starts") if k in p}
    prepared = prepare_fit(job.db, p["brand_id"], progress=job.reporter, cancel=job.reporter, **options)
    with _PENDING_LOCK:
        _PENDING[(job.job_id, job.attempt)] = prepared
    return jsonable({"brand_id": p["brand_id"], "brand": prepared.history.brand, "trigger": p["trigger"],
                     "periods": len(prepared.history.periods), **headline(prepared.result)})


def _prepare_save(job: JobRun, result: dict[str, Any]) -> PreparedFit | None:
    with _PENDING_LOCK:
        return _PENDING.pop((job.job_id, job.attempt), None)


def _save(session: Session, job: JobRun, prepared: PreparedFit) -> dict[str, Any]:
    version = store_fit(session, prepared, created_by=job.principal.user_id, trigger=job.payload["trigger"])
    return {"version": version}


def _after(job: JobRun, result: dict[str, Any]) -> None:
    """New curves can move a channel's marginal ROAS below the floor: run the organization's alert rules."""
    with job.db.session() as s:
        organization_id = s.scalar(select(Brand.organization_id).where(Brand.id == job.payload["brand_id"]))
    evaluate_quietly(job.db, organization_id)


FIT_KIND = register(JobKind(FIT, RUN, _validate, _run, _prepare_save, _save, _after))
