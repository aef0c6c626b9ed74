"""Setting up projects: create, rename, archive, scoring settings, and the brands each one holds.

All through `core.setup.projects`, which needs `portfolio:manage` on the project's organization.
A project you cannot even see is 404 (the same as an unknown id); one you see but may not manage
is 403. A taken name is 409; anything else refused is 422 with the reason. Changing the
normalization, the weights or the members recomputes the project's DC scores before answering.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core.runtime import get_db
from core.security import can
from core.setup import projects
from core.setup.portfolio_common import PortfolioConflict, PortfolioError

router = Router("project-setup", "Create and change projects, their scoring and their own and competitor brands.")
READ = "portfolio:read"
Id = Field(ge=1, le=2**31 - 1)
Role = Literal["own", "competitor", "benchmark"]
Weights = dict[str, float]


class MemberOut(BaseModel):
    id: int
    name: str
    role: str
    archived: bool


class ProjectSetupOut(BaseModel):
    id: int
    organization_id: int
    name: str
    normalization: str
    section_weights: dict[str, float]
    archived: bool
    brands: list[MemberOut]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Defaults to your own organization.")
    name: str = Field(min_length=1, max_length=200)
    normalization: Literal["minmax", "percentile"] = "minmax"
    section_weights: Weights = Field(default_factory=dict, max_length=50,
                                     description="{section name: weight > 0}; a section left out weighs 1.")


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    normalization: Literal["minmax", "percentile"] | None = None
    section_weights: Weights | None = Field(default=None, max_length=50,
                                            description="Replaces every weight (recomputes the scores).")
    archived: bool | None = None


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    brand_id: int = Id
    role: Role = "own"


def _visible(kind: str, ident: int | None) -> None:
    if ident is None or not can(current_principal(), READ, (kind, ident)):
        raise not_found()


def _detail(project_id: int) -> ProjectSetupOut:
    return ProjectSetupOut.model_validate(projects.get_project(get_db(), current_principal(), project_id))


def _problem(exc: PortfolioError) -> ApiProblem:
    return ApiProblem(409 if isinstance(exc, PortfolioConflict) else 422, f"{exc}. Nothing was changed.")


@router.post("/projects", summary="Create a project", response=ProjectSetupOut, status=201, body=ProjectCreate)
def create_project(body: ProjectCreate) -> Created:
    principal = current_principal()
    organization_id = body.organization_id or principal.organization_id
    _visible("organization", organization_id)
    try:
        new_id = projects.create_project(get_db(), principal, organization_id, body.name, body.normalization,
                                         body.section_weights)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return Created(_detail(new_id))


@router.route("PATCH", "/projects/<id:project_id>", summary="Rename, archive or change a project's scoring",
              response=ProjectSetupOut, body=ProjectUpdate)
def update_project(project_id: int, body: ProjectUpdate) -> ProjectSetupOut:
    """Only the fields given change; normalization and weights recompute the project's scores."""
    _visible("project", project_id)
    db, principal = get_db(), current_principal()
    try:
        if body.name is not None:
            projects.rename_project(db, principal, project_id, body.name)
        if body.normalization is not None or body.section_weights is not None:
            projects.set_scoring(db, principal, project_id, normalization=body.normalization,
                                 section_weights=body.section_weights)
        if body.archived is not None:
            projects.set_project_archived(db, principal, project_id, body.archived)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return _detail(project_id)


@router.post("/projects/<id:project_id>/brands", summary="Add a brand to a project, or change its role",
             response=ProjectSetupOut, body=MemberSet)
def set_member(project_id: int, body: MemberSet) -> ProjectSetupOut:
    """own, competitor or benchmark; the project's scores are recomputed."""
    _visible("project", project_id)
    _visible("brand", body.brand_id)
    try:
        projects.set_member(get_db(), current_principal(), project_id, body.brand_id, body.role)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return _detail(project_id)


@router.delete("/projects/<id:project_id>/brands/<id:brand_id>", summary="Take a brand out of a project",
               status=204)
def remove_member(project_id: int, brand_id: int) -> None:
    """Its data stays; its scores in this project go and the others are recomputed."""
    _visible("project", project_id)
    _visible("brand", brand_id)
    projects.remove_member(get_db(), current_principal(), project_id, brand_id)
