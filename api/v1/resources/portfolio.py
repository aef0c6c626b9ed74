"""Organizations, projects and brands the caller can see (the dashboard's visibility rules)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Router
from api.v1.problems import not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core import records
from core.runtime import get_db

router = Router("portfolio", "Organizations, projects and brands in your scope.")


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    slug: str
    archived_at: UtcDatetime | None = Field(default=None, description="When it was archived; null while live.")


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organization_id: int
    name: str
    normalization: str
    scores_computed_at: UtcDatetime | None


class BrandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organization_id: int
    name: str
    category: str | None


class OrganizationList(BaseModel):
    items: list[OrganizationOut]


class ProjectList(BaseModel):
    items: list[ProjectOut]


class BrandList(BaseModel):
    items: list[BrandOut]


class OrganizationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_archived: bool = Field(default=False, description="Archived organizations too (only System "
                                                              "Administrators can see any).")


class BrandQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Only brands of this project.")


def _one(rows: list, model: type[BaseModel]) -> BaseModel:
    if not rows:
        raise not_found()
    return model.model_validate(rows[0])


@router.get("/organizations", summary="Organizations in your scope", response=OrganizationList,
            query=OrganizationQuery)
def list_organizations(query: OrganizationQuery) -> OrganizationList:
    with get_db().session() as s:
        rows = records.organizations(s, current_principal(), include_archived=query.include_archived)
        return OrganizationList(items=[OrganizationOut.model_validate(o) for o in rows])


@router.get("/organizations/<id:organization_id>", summary="One organization", response=OrganizationOut)
def get_organization(organization_id: int) -> BaseModel:
    with get_db().session() as s:
        return _one(records.organizations(s, current_principal(), organization_id), OrganizationOut)


@router.get("/projects", summary="Projects you can see some of", response=ProjectList)
def list_projects() -> ProjectList:
    with get_db().session() as s:
        return ProjectList(items=[ProjectOut.model_validate(p) for p in records.projects(s, current_principal())])


@router.get("/projects/<id:project_id>", summary="One project", response=ProjectOut)
def get_project(project_id: int) -> BaseModel:
    with get_db().session() as s:
        return _one(records.projects(s, current_principal(), project_id), ProjectOut)


@router.get("/brands", summary="Brands you may read", response=BrandList, query=BrandQuery)
def list_brands(query: BrandQuery) -> BrandList:
    with get_db().session() as s:
        rows = records.brands(s, current_principal(), project_id=query.project_id)
        return BrandList(items=[BrandOut.model_validate(b) for b in rows])


@router.get("/brands/<id:brand_id>", summary="One brand", response=BrandOut)
def get_brand(brand_id: int) -> BaseModel:
    with get_db().session() as s:
        return _one(records.brands(s, current_principal(), brand_id), BrandOut)
