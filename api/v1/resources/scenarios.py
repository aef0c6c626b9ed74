"""Saved scenarios: list, read, save (from a finished run of yours, or as a copy), delete, approve.

All through core.scenarios, which checks scope and permission itself. Ids you cannot read are
404; a scenario you can read but may not change is 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.v1 import pagination
from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core import scenarios
from core.runtime import get_db
from core.security import can

router = Router("scenarios", "Budget scenarios saved from optimizer runs.")
READ = "scenario:read"


class ScenarioSummary(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    owner_id: int | None
    owner: str | None
    project_id: int | None
    project: str | None
    organization_id: int
    classification: str = Field(description="Its data classification: public, internal, confidential or "
                                             "restricted (scenarios above your clearance are never listed).")
    scenario: str | None
    curve_source: str | None
    budget: float | None
    outcome: float | None
    uplift: float | None
    uplift_pct: float | None
    units: dict[str, str | None] = Field(description="What the amounts are in: currency (ISO 4217 code, null "
                                                      "when none was chosen) and outcome (revenue or a count).")
    brands: list[str]
    created_at: str | None
    updated_at: str | None


class ScenarioDetail(ScenarioSummary):
    inputs: dict[str, Any] | None
    constraints: dict[str, Any] | None
    result: dict[str, Any] | None
    can_approve: bool
    can_delete: bool


class ScenarioList(BaseModel):
    items: list[ScenarioSummary]
    next_cursor: str | None = Field(default=None,
                                    description="Pass as `cursor` for the next page; null on the last page.")


class ScenarioQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["budget", "flighting"] | None = Field(default=None, description="Only budget or flighting plans.")
    limit: int = Field(default=100, ge=1, le=scenarios.LIST_LIMIT)
    cursor: str | None = Field(default=None, max_length=500, description="`next_cursor` of the previous page.")


class ScenarioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    job_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="A finished optimizer run of yours.")
    copy_of: int | None = Field(default=None, ge=1, le=2**31 - 1, description="A scenario you may read.")

    @model_validator(mode="after")
    def one_source(self) -> ScenarioCreate:
        if (self.job_id is None) == (self.copy_of is None):
            raise ValueError("give exactly one of job_id and copy_of")
        return self


def _readable(scenario_id: int) -> None:
    if not can(current_principal(), READ, ("scenario", scenario_id)):
        raise not_found()


def _detail(scenario_id: int) -> ScenarioDetail:
    return ScenarioDetail.model_validate(scenarios.get_scenario(get_db(), current_principal(), scenario_id))


@router.get("/scenarios", summary="Scenarios you may read, newest first, a page at a time", response=ScenarioList,
            query=ScenarioQuery)
def list_scenarios(query: ScenarioQuery) -> ScenarioList:
    """Newest first; `next_cursor` reads the next page (every page through the scope filter)."""
    cursor = pagination.decode(query.cursor, 2)
    before = None
    if cursor:
        try:
            before = (datetime.fromisoformat(str(cursor[0])), int(cursor[1]))
        except (TypeError, ValueError):
            pagination.invalid()
    rows = scenarios.list_scenarios(get_db(), current_principal(), kind=query.kind, limit=query.limit + 1,
                                    before=before)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return ScenarioList(items=[ScenarioSummary.model_validate(r) for r in rows],
                        next_cursor=pagination.encode([rows[-1]["created_at"], rows[-1]["id"]]) if more else None)


@router.get("/scenarios/<id:scenario_id>", summary="One scenario with inputs and result", response=ScenarioDetail)
def get_scenario(scenario_id: int) -> ScenarioDetail:
    _readable(scenario_id)
    return _detail(scenario_id)


@router.post("/scenarios", summary="Save a run's result, or copy a scenario", response=ScenarioDetail, status=201,
             body=ScenarioCreate)
def create_scenario(body: ScenarioCreate) -> Created:
    principal, db = current_principal(), get_db()
    try:
        if body.copy_of is not None:
            _readable(body.copy_of)
            new_id = scenarios.save_copy(db, principal, body.copy_of, body.name)
        else:
            new_id = scenarios.save_from_job(db, principal, body.job_id, body.name)
    except scenarios.ScenarioError as exc:
        raise ApiProblem(422, str(exc)) from None
    return Created(_detail(new_id))


@router.delete("/scenarios/<id:scenario_id>", summary="Delete a scenario", status=204)
def delete_scenario(scenario_id: int) -> None:
    _readable(scenario_id)
    scenarios.delete_scenario(get_db(), current_principal(), scenario_id)


@router.post("/scenarios/<id:scenario_id>/approve", summary="Approve a scenario", response=ScenarioDetail)
def approve_scenario(scenario_id: int) -> ScenarioDetail:
    """Needs `scenario:approve` on it; approving twice changes nothing."""
    _readable(scenario_id)
    scenarios.approve_scenario(get_db(), current_principal(), scenario_id)
    return _detail(scenario_id)
