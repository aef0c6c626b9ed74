"""Saved what-if scenarios: list in scope, read, save from a finished run, compare, delete, approve.

Every function takes the Principal asking and checks it here, in the data layer: lists go through
the scope filter, reads and writes through `authorize` (a scenario's owner keeps read/save on it; an
organization or project grant covers the rest), and every write is audited. A scenario is saved from
a *job's stored result*, never from a result a browser sends back, so what is saved is what ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import JSON, ColumnElement, and_, cast, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.orm import Session

from core.classification import highest
from core.db import Database
from core.formatting import Units
from core.jobs.records import JobNotFound, get_job
from core.models import Brand, Project, ProjectBrand, Scenario, User
from core.models.base import utcnow
from core.scenario_compare import headline_deltas, input_differences
from core.security import Action, Principal, authorize, can, record, scope_filter
from core.security.authorizer import deny
from core.setup.classification import scenario_default

READ, SAVE, APPROVE = "scenario:read", "scenario:save", "scenario:approve"
SCENARIO_DELETED = "scenario.deleted"
SCENARIO_APPROVED = "scenario.approved"
MAX_COMPARE = 3
LIST_LIMIT = 500  # newest first; a list is for choosing, and one request's memory must not grow with the table
HEADLINE_TEXT = ("scenario_label", "curve_source")
HEADLINE_NUMBERS = ("budget", "outcome", "uplift", "uplift_pct")
NAME_MAX = 200
# Jobs whose result is a budget allocation ("optimization": the queue's kind; "budget": rows of the
# dashboard's former background runs, still in existing databases).
JOB_KINDS_SAVED_AS_BUDGET = ("optimization", "budget")


class ScenarioError(ValueError):
    """A request a person must change (empty name, nothing to save, too many to compare)."""


def _id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _summary(s: Any, owner: str | None, project: str | None, headline: Mapping[str, Any], brands: list[str] | None
             ) -> dict[str, Any]:
    """What a list shows of a scenario: its own columns (`s`: a Scenario or a row of them) and its result's headline."""
    return {
        "id": s.id, "name": s.name, "kind": s.kind, "status": s.status, "owner_id": s.owner_id, "owner": owner,
        "project_id": s.project_id, "project": project, "organization_id": s.organization_id,
        "classification": s.classification or "internal",
        "scenario": headline.get("scenario_label"), "curve_source": headline.get("curve_source"),
        "budget": headline.get("budget"), "outcome": headline.get("outcome"), "uplift": headline.get("uplift"),
        "uplift_pct": headline.get("uplift_pct"), "units": _units(headline),
        "brands": sorted({b for b in brands or () if b is not None}),
        "created_at": s.created_at.isoformat() if s.created_at else None,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
    }


def _units(headline: Mapping[str, Any]) -> dict[str, str | None]:
    """The currency and outcome the run's money is in (a stored result, or a list row's two columns)."""
    stored = headline.get("units")
    if isinstance(stored, Mapping):
        return Units.of(stored).as_dict()
    return Units.of({"currency": headline.get("units_currency"), "outcome": headline.get("units_outcome")}).as_dict()


def _cell_brands(dialect: str) -> ColumnElement:
    """The brand names of a result's cells, computed by the database: the list never reads a whole result.

    A result is tens of kilobytes (cells, curves, frontier, risk front); read whole for every row, the
    Scenarios page's memory grew with every scenario saved (issue 13, item 9).
    """
    if dialect == "postgresql":
        return func.jsonb_path_query_array(Scenario.result, cast("$.cells[*].brand", JSONPATH), type_=JSONB)
    cell = func.json_each(Scenario.result, "$.cells").table_valued("value").alias("cell")
    names = select(func.json_group_array(func.json_extract(cell.c.value, "$.brand"))).scalar_subquery()
    return type_coerce(names, JSON)


def list_scenarios(db: Database, principal: Principal, kind: str | None = None, limit: int = LIST_LIMIT,
                   before: tuple[datetime, int] | None = None) -> list[dict[str, Any]]:
    """Scenarios the principal may read, newest first (at most `limit`), with the numbers a list shows.

    Reads the list's columns and the result's headline numbers only, never the stored results
    themselves, so one request's memory is bounded by `limit` rows of a few hundred bytes. `before`
    (created_at, id) of the last row of a page starts the next one (the API's cursor): the same order,
    so a scenario saved meanwhile neither repeats nor hides a row.
    """
    headline = [Scenario.result[key].as_string().label(key) for key in HEADLINE_TEXT]
    headline += [Scenario.result[key].as_float().label(key) for key in HEADLINE_NUMBERS]
    headline += [Scenario.result[("units", key)].as_string().label(f"units_{key}") for key in ("currency", "outcome")]
    query = (select(Scenario.id, Scenario.name, Scenario.kind, Scenario.status, Scenario.owner_id,
                    Scenario.project_id, Scenario.organization_id, Scenario.created_at, Scenario.updated_at,
                    Scenario.classification,
                    User.name.label("owner"), Project.name.label("project"), *headline,
                    _cell_brands(db.dialect).label("brands"))
             .outerjoin(User, User.id == Scenario.owner_id).outerjoin(Project, Project.id == Scenario.project_id)
             .where(scope_filter(principal, READ, Scenario)).order_by(Scenario.created_at.desc(), Scenario.id.desc())
             .limit(max(1, min(int(limit), LIST_LIMIT))))
    if kind is not None:
        query = query.where(Scenario.kind == kind)
    if before is not None:
        at, ident = before
        query = query.where(or_(Scenario.created_at < at, and_(Scenario.created_at == at, Scenario.id < int(ident))))
    with db.session() as s:
        return [_summary(row, row.owner, row.project, row._mapping, row.brands) for row in s.execute(query)]


def _load(session: Session, principal: Principal, permission: str, scenario_id: Any) -> Scenario:
    ident = _id(scenario_id)
    scenario = session.get(Scenario, ident) if ident is not None else None
    if scenario is None:
        deny(principal, permission, ("scenario", scenario_id), "not found")
    authorize(principal, permission, scenario, session=session)
    return scenario


def get_scenario(db: Database, principal: Principal, scenario_id: Any) -> dict[str, Any]:
    """One scenario with its inputs, constraints and result; Forbidden when out of scope."""
    with db.session() as s:
        sc = _load(s, principal, READ, scenario_id)
        owner = s.get(User, sc.owner_id).name if sc.owner_id and s.get(User, sc.owner_id) else None
        project = s.get(Project, sc.project_id).name if sc.project_id and s.get(Project, sc.project_id) else None
        result = sc.result or {}
        out = _summary(sc, owner, project, result, [c.get("brand") for c in result.get("cells") or []])
        out.update(inputs=sc.inputs, constraints=sc.constraints, result=sc.result,
                   can_approve=can(principal, APPROVE, sc, session=s) and sc.status != "approved",
                   can_delete=_may_delete(principal, sc, s))
        return out


def _may_delete(principal: Principal, scenario: Scenario, session: Session) -> bool:
    if not can(principal, SAVE, scenario, session=session):
        return False
    return scenario.status != "approved" or can(principal, APPROVE, scenario, session=session)


def _project_for(session: Session, organization_id: int, brand_ids: list[int]) -> int | None:
    """The first project of the organization holding every brand of the run (None if none does)."""
    if not brand_ids:
        return None
    rows = session.execute(select(ProjectBrand.project_id, ProjectBrand.brand_id).join(Project)
                           .where(Project.organization_id == organization_id, ProjectBrand.brand_id.in_(brand_ids))
                           ).all()
    members: dict[int, set[int]] = {}
    for project_id, brand_id in rows:
        members.setdefault(project_id, set()).add(brand_id)
    full = sorted(p for p, b in members.items() if b >= set(brand_ids))
    return full[0] if full else None


def _clean_name(name: Any) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise ScenarioError("give the scenario a name")
    return text[:NAME_MAX]


def save_result(db: Database, principal: Principal, name: Any, result: dict[str, Any], kind: str = "budget",
                at_least: str | None = None) -> int:
    """Store a result the server produced as a new scenario owned by the principal; returns its id.
    `at_least`: the level of the scenario it came from (a copy, or a run started from it)."""
    scenario = prepare_scenario(db, principal, name, result, kind, at_least)
    with db.session() as s:
        return add_scenario(s, principal, scenario)


def prepare_scenario(db: Database, principal: Principal, name: Any, result: dict[str, Any],
                     kind: str = "budget", at_least: str | None = None) -> Scenario:
    """Check the principal may save `result` and build the (unsaved) scenario; Forbidden or ScenarioError.

    Its level is the organization's default (within the saver's clearance), raised to `at_least`, the
    level of a scenario the saver read it from: a copy never declassifies its source.

    Separate from `add_scenario` so a caller can insert it inside its own transaction (a job's final
    write) after every check, and every audited denial, has happened outside it.
    """
    name = _clean_name(name)
    inputs = dict(result.get("inputs") or {})
    brand_ids = sorted({int(b) for b in inputs.get("brand_ids") or []})
    if not brand_ids or (principal.organization_id is None and not principal.is_system_admin):
        raise ScenarioError("this result names no brands you may save for")
    for brand_id in brand_ids:
        authorize(principal, SAVE, ("brand", brand_id))
    with db.session() as s:
        orgs = set(s.scalars(select(Brand.organization_id).where(Brand.id.in_(brand_ids))))
        if len(orgs) != 1:
            raise ScenarioError("a scenario covers brands of one organization")
        org = orgs.pop()
        constraints = {k: inputs.get(k) for k in ("cells", "brand_bounds", "channel_bounds", "max_change_pct",
                                                 "max_active_per_brand", "unit")}
        scenario = Scenario(organization_id=org, project_id=_project_for(s, org, brand_ids),
                            owner_id=principal.user_id, name=name, kind=kind, inputs=inputs,
                            constraints=constraints, result=result, status="saved",
                            classification=highest((scenario_default(s, principal, org), at_least)).value)
        allowed = can(principal, SAVE, scenario, session=s)
    if not allowed:
        deny(principal, SAVE, ("organization", org), "may not save scenarios here")
    return scenario


def add_scenario(session: Session, principal: Principal, scenario: Scenario) -> int:
    """Insert a scenario built by `prepare_scenario` in the caller's transaction, audited; returns its id."""
    session.add(scenario)
    session.flush()
    record(session, Action.SCENARIO_SAVED, actor=principal, organization_id=scenario.organization_id,
           target=scenario, data={"name": scenario.name, "kind": scenario.kind,
                                  "brands": sorted({int(b) for b in (scenario.inputs or {}).get("brand_ids") or []}),
                                  "job": (scenario.result or {}).get("job_id")})
    return scenario.id


def save_from_job(db: Database, principal: Principal, job_id: Any, name: Any, at_least: str | None = None) -> int:
    """Save the stored result of the principal's own finished run (`at_least`: as in `save_result`)."""
    try:
        job = get_job(db, principal, job_id)
    except JobNotFound:
        deny(principal, SAVE, ("system", None), "no such run of yours")
    if job["status"] != "succeeded" or not job["result"]:
        raise ScenarioError("only a finished run can be saved")
    if job["kind"] == "flighting":  # a weekly plan: its horizon is in its inputs (weeks) and its label
        return save_result(db, principal, name, job["result"], kind="flighting", at_least=at_least)
    if job["kind"] not in JOB_KINDS_SAVED_AS_BUDGET:
        raise ScenarioError(f"a {job['kind']} run cannot be saved as a scenario")
    return save_result(db, principal, name, job["result"], kind="budget", at_least=at_least)


def save_copy(db: Database, principal: Principal, scenario_id: Any, name: Any) -> int:
    """Save a scenario the principal may read under a new name, owned by the principal."""
    source = get_scenario(db, principal, scenario_id)
    return save_result(db, principal, name, source["result"] or {}, kind=source["kind"],
                       at_least=source["classification"])


def delete_scenario(db: Database, principal: Principal, scenario_id: Any) -> None:
    """Delete a scenario (save permission on it; an approved one also needs approve permission)."""
    with db.session() as s:
        sc = _load(s, principal, SAVE, scenario_id)
        if sc.status == "approved":
            authorize(principal, APPROVE, sc, session=s)
        record(s, SCENARIO_DELETED, actor=principal, organization_id=sc.organization_id, target=sc,
               data={"name": sc.name, "status": sc.status})
        s.delete(sc)


def approve_scenario(db: Database, principal: Principal, scenario_id: Any) -> None:
    """Mark the scenario approved (a Portfolio Manager's call), audited; approving twice is a no-op."""
    with db.session() as s:
        sc = _load(s, principal, APPROVE, scenario_id)
        if sc.status == "approved":
            return
        previous = sc.status
        sc.status = "approved"
        sc.updated_at = utcnow()
        record(s, SCENARIO_APPROVED, actor=principal, organization_id=sc.organization_id, target=sc,
               data={"name": sc.name, "previous_status": previous})


def compare(db: Database, principal: Principal, scenario_ids: list[Any]) -> dict[str, Any]:
    """One to three scenarios side by side: their summaries, spend by channel and by brand, the inputs that
    differ and each headline's delta against the first (core.scenario_compare)."""
    ids = list(dict.fromkeys(_id(i) for i in scenario_ids if _id(i) is not None))
    if not ids:
        raise ScenarioError("select a scenario")
    if len(ids) > MAX_COMPARE:
        raise ScenarioError(f"compare at most {MAX_COMPARE} scenarios")
    scenarios = [get_scenario(db, principal, i) for i in ids]
    frames = []
    for sc in scenarios:
        cells = pd.DataFrame((sc["result"] or {}).get("cells") or [], columns=["brand", "channel", "current",
                                                                               "optimal"])
        cells["scenario"] = f"{sc['name']} (#{sc['id']})"
        frames.append(cells)
    cells = pd.concat(frames, ignore_index=True)
    by_channel = cells.pivot_table(index="channel", columns="scenario", values="optimal", aggfunc="sum", sort=True)
    by_brand = cells.pivot_table(index="brand", columns="scenario", values="optimal", aggfunc="sum", sort=True)
    return {"scenarios": scenarios, "by_channel": by_channel.reset_index().to_dict("records"),
            "by_brand": by_brand.reset_index().to_dict("records"),
            "labels": [f"{sc['name']} (#{sc['id']})" for sc in scenarios],
            "differences": input_differences(scenarios), "deltas": headline_deltas(scenarios)}
