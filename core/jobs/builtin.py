"""The built-in job kinds: budget optimization, what-if recommendation, report export (and, from
core.jobs.fit_kind, the brand fit).

Each imports the domain module that does the work and registers itself in core.jobs.kinds; the queue
imports this module once so every process that runs the queue knows them. Nothing in the domain
imports this module or the queue.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sqlalchemy.orm import Session

import core.jobs.delivery_kind  # report subscriptions' deliveries
import core.jobs.fit_kind
import core.jobs.flighting_kind  # noqa: F401  (so does the flighting kind)
from core import reports
from core.budget import run_budget
from core.budget_inputs import BudgetInputError, BudgetInputs
from core.db import Database
from core.input_ranges import EFFORT_BUDGET, PERCENTILE_CAP, RECOMMEND_K, NumberRange, RangeError
from core.jobs.kinds import JobInputError, JobKind, JobRun, jsonable, only_fields, register
from core.scenarios import NAME_MAX, ScenarioError, add_scenario, prepare_scenario
from core.security import Principal, authorize
from core.security.authorizer import deny
from core.whatif import can_run, load_whatif, recommend_plan

RUN, SAVE = "scenario:run", "scenario:save"
ID = NumberRange("id", 1, 2**31 - 1, whole=True)

# ------------------------------------------------------------------------------------------------ optimization


def _validate_optimization(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    """`{"inputs": <core.budget inputs>, "save_as": optional scenario name}`; scenario:run (and :save) on each brand."""
    payload = only_fields(payload, {"inputs", "save_as"}, {"inputs"})
    try:
        inputs = BudgetInputs.read(payload["inputs"])
    except BudgetInputError as exc:
        raise JobInputError(f"inputs: {exc}") from None
    for brand_id in inputs.brand_ids:
        authorize(principal, RUN, ("brand", brand_id))
    out: dict[str, Any] = {"inputs": inputs.model_dump(mode="json")}
    if payload.get("save_as") is not None:
        name = " ".join(str(payload["save_as"]).split())
        if not name or len(name) > NAME_MAX:
            raise JobInputError(f"save_as: a scenario name of 1 to {NAME_MAX} characters")
        try:
            prepare_scenario(db, principal, name, {"inputs": out["inputs"]})  # may this principal save it?
        except ScenarioError as exc:
            raise JobInputError(f"save_as: {exc}") from None
        out["save_as"] = name
    return out


def _run_optimization(job: JobRun) -> dict[str, Any]:
    result = run_budget(job.db, int(job.principal.user_id), job.payload["inputs"], progress=job.reporter,
                        cancel=job.reporter, job_id=job.job_id)
    return jsonable(result)


def _prepare_scenario(job: JobRun, result: dict[str, Any]) -> Any:
    if not job.payload.get("save_as"):
        return None
    scenario = prepare_scenario(job.db, job.principal, job.payload["save_as"], result, kind="budget")
    scenario.saved_by_job_id = job.job_id
    return scenario


def _save_scenario(session: Session, job: JobRun, scenario: Any) -> dict[str, Any]:
    return {"scenario_id": add_scenario(session, job.principal, scenario)}


OPTIMIZATION = register(JobKind("optimization", RUN, _validate_optimization, _run_optimization,
                                _prepare_scenario, _save_scenario))


# ------------------------------------------------------------------------------------------------ recommendation


def _number(payload: dict, key: str, rng: NumberRange, *, default: Any = None) -> Any:
    """payload[key] within its range (core.input_ranges), named by its key as the API client sent it."""
    try:
        value = rng.read(payload.get(key), key)
    except RangeError as exc:
        raise JobInputError(str(exc)) from None
    return default if value is None else value


def _validate_recommendation(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    """`{"brand_id", "project_id", "effort_budget", "k" (default 3), "percentile_cap"}`, ranges in core.input_ranges.

    The pair must be one of the principal's what-if pairs (scenario:run on an own brand of the project).
    """
    payload = only_fields(payload, {"brand_id", "project_id", "effort_budget", "k", "percentile_cap"},
                    {"brand_id", "project_id", "effort_budget"})
    out = {"brand_id": _number(payload, "brand_id", ID),
           "project_id": _number(payload, "project_id", ID),
           "effort_budget": _number(payload, "effort_budget", EFFORT_BUDGET),
           "k": _number(payload, "k", RECOMMEND_K, default=3),
           "percentile_cap": _number(payload, "percentile_cap", PERCENTILE_CAP)}
    with db.engine.connect() as conn:
        allowed = can_run(conn, principal, out["brand_id"], out["project_id"])
    if not allowed:
        deny(principal, RUN, ("brand", out["brand_id"]), f"no what-if on this brand in project {out['project_id']}")
    return out


def _run_recommendation(job: JobRun) -> dict[str, Any]:
    p = job.payload
    job.reporter(0.05, "loading the brand's metrics")
    with job.db.engine.connect() as conn:
        model = load_whatif(conn, job.principal, p["brand_id"], p["project_id"], p.get("percentile_cap"))
    job.reporter(0.3, "searching for the best moves")
    plan = recommend_plan(model, p["effort_budget"], p["k"])
    job.reporter(1.0, "done")
    return jsonable({**plan, "brand_id": p["brand_id"], "project_id": p["project_id"], "period": model.period,
                     "stored_score": model.stored_score, "run_by": job.principal.user_id, "job_id": job.job_id})


RECOMMENDATION = register(JobKind("recommendation", RUN, _validate_recommendation, _run_recommendation))


# ------------------------------------------------------------------------------------------------ export_report

EXPORT_REPORT = "export_report"  # the "export" prefix puts finished ones under exports_days (core/ops/retention.py)


def _validate_export(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    """`{"report": "portfolio" | "brand" | "scenario", "format": "pdf" | "xlsx", "params": {...}}`.

    core.reports.check: report:export held, the parameters valid, every object in scope (an object out
    of scope is a ReportNotFound, a Forbidden); nothing is built yet.
    """
    payload = only_fields(payload, {"report", "format", "params"}, {"report", "format"})
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise JobInputError("params: expected an object")
    try:
        reports.check(db, principal, str(payload["report"]), params, str(payload["format"]))
    except ValueError as exc:
        raise JobInputError(str(exc)) from None
    return {"report": str(payload["report"]), "format": str(payload["format"]), "params": jsonable(params)}


def _run_export(job: JobRun) -> dict[str, Any]:
    """The file in the result (base64), so retention's exports_days removes it with the job row."""
    p = job.payload
    job.reporter(0.1, f"building the {p['report']} report")
    report = reports.render(job.db, job.principal, p["report"], p["params"], p["format"])
    job.reporter(1.0, "done")
    return {"report": p["report"], "format": p["format"], "filename": report.filename,
            "media_type": report.media_type, "size": len(report.content),
            "sha256": hashlib.sha256(report.content).hexdigest(),
            "content_base64": base64.b64encode(report.content).decode("ascii")}


EXPORT = register(JobKind(EXPORT_REPORT, "report:export", _validate_export, _run_export))
