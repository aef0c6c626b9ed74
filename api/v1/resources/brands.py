"""Setting up brands: create, rename, archive, delete, merge, and add many from a CSV.

All through `core.setup.brands` and `core.setup.brand_merge`, which need `portfolio:manage` on
the brand's organization. A brand you cannot see is 404 (as an unknown id), one you see but may
not manage 403. A taken name, a delete while saved scenarios use the brand, and a merge whose two
brands hold data for the same keys (without `keep`) are 409 with the reason (the merge's
conflicts listed per table); anything else refused is 422.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import FileStorage

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, FieldError, not_found
from api.v1.security import current_principal
from core.runtime import get_db
from core.security import can
from core.setup import brand_merge, brands
from core.setup.portfolio_common import PortfolioConflict, PortfolioError, load_brand

router = Router("brand-setup", "Create, rename, archive, delete and merge brands; add many from a CSV.")
READ = "portfolio:read"
MAX_CSV = 1024 * 1024


class MembershipOut(BaseModel):
    id: int
    name: str
    role: str


class BrandSetupOut(BaseModel):
    id: int
    organization_id: int
    name: str
    category: str | None
    archived: bool
    projects: list[MembershipOut]


class Membership(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: int = Field(ge=1, le=2**31 - 1)
    role: Literal["own", "competitor", "benchmark"] = "own"


class BrandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Defaults to your own organization.")
    name: str = Field(min_length=1, max_length=200)
    projects: list[Membership] = Field(default_factory=list, max_length=100)


class BrandUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    archived: bool | None = None


class MergeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, le=2**31 - 1, description="The brand that stays.")


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, le=2**31 - 1, description="The brand that stays.")
    keep: Literal["target", "source"] | None = Field(
        default=None, description="On rows both brands hold (same metric and period, …) keep this side's values; "
                                  "without it such a merge is refused with the list.")


class MergePreviewOut(BaseModel):
    source: dict[str, Any]
    target: dict[str, Any]
    rows: dict[str, int]
    conflicts: dict[str, Any]
    data_conflicts: int
    scenarios: list[dict[str, Any]]
    blocked: list[dict[str, Any]]


class MergeOut(BaseModel):
    source: dict[str, Any]
    target: dict[str, Any]
    kept: str | None
    moved: dict[str, int]
    dropped: dict[str, int]
    scenarios_rewritten: list[int]
    grants_moved: int
    grants_dropped: int
    api_tokens_moved: int


class BulkForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Defaults to your own organization.")


class BulkRowError(BaseModel):
    row: int | None
    column: str | None
    reason: str


class BulkOut(BaseModel):
    ok: bool
    committed: bool
    rows: int
    created: list[str]
    errors: list[BulkRowError]


def _visible(kind: str, ident: int | None) -> None:
    if ident is None or not can(current_principal(), READ, (kind, ident)):
        raise not_found()


def _problem(exc: PortfolioError) -> ApiProblem:
    if isinstance(exc, brand_merge.MergeConflict):
        errors = [FieldError(loc=["body", "keep", table], msg=f"{c['count']} row(s) on both sides", type="conflict")
                  for table, c in exc.conflicts.items()]
        return ApiProblem(409, str(exc), errors=errors, slug="merge-conflict")
    return ApiProblem(409 if isinstance(exc, PortfolioConflict) else 422, f"{exc}. Nothing was changed.")


def _detail(brand_id: int) -> BrandSetupOut:
    principal, db = current_principal(), get_db()
    with db.session() as s:
        org = load_brand(s, principal, brand_id).organization_id
    found = next(b for b in brands.list_brands(db, principal, org) if b["id"] == brand_id)
    return BrandSetupOut.model_validate(found)


@router.post("/brands", summary="Create a brand, optionally as own or competitor in projects",
             response=BrandSetupOut, status=201, body=BrandCreate)
def create_brand(body: BrandCreate) -> Created:
    principal = current_principal()
    organization_id = body.organization_id or principal.organization_id
    _visible("organization", organization_id)
    for m in body.projects:
        _visible("project", m.project_id)
    try:
        new_id = brands.create_brand(get_db(), principal, organization_id, body.name,
                                     [(m.project_id, m.role) for m in body.projects])
    except PortfolioError as exc:
        raise _problem(exc) from None
    return Created(_detail(new_id))


@router.route("PATCH", "/brands/<id:brand_id>", summary="Rename or archive a brand", response=BrandSetupOut,
              body=BrandUpdate)
def update_brand(brand_id: int, body: BrandUpdate) -> BrandSetupOut:
    """A name is unique in the organization whatever its case; archived brands keep their data."""
    _visible("brand", brand_id)
    db, principal = get_db(), current_principal()
    try:
        if body.name is not None:
            brands.rename_brand(db, principal, brand_id, body.name)
        if body.archived is not None:
            brands.set_brand_archived(db, principal, brand_id, body.archived)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return _detail(brand_id)


@router.delete("/brands/<id:brand_id>", summary="Delete a brand and all its data", status=204)
def delete_brand(brand_id: int) -> None:
    """Audited with the rows removed per table; 409 while a saved scenario uses the brand."""
    _visible("brand", brand_id)
    try:
        brands.delete_brand(get_db(), current_principal(), brand_id)
    except PortfolioError as exc:
        raise _problem(exc) from None


@router.get("/brands/<id:brand_id>/merge", summary="What merging this brand into another would move",
            response=MergePreviewOut, query=MergeQuery)
def preview_merge(brand_id: int, query: MergeQuery) -> MergePreviewOut:
    """Rows per table, conflicting keys, scenarios to rewrite; nothing is written."""
    _visible("brand", brand_id)
    _visible("brand", query.into)
    try:
        plan = brand_merge.preview_merge(get_db(), current_principal(), brand_id, query.into)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return MergePreviewOut.model_validate(plan.to_dict())


@router.post("/brands/<id:brand_id>/merge", summary="Merge this brand into another (it is then deleted)",
             response=MergeOut, body=MergeBody)
def merge(brand_id: int, body: MergeBody) -> MergeOut:
    """One transaction: every row moves to `into`, the counts are audited; 409 lists conflicts without `keep`."""
    _visible("brand", brand_id)
    _visible("brand", body.into)
    try:
        result = brand_merge.merge_brands(get_db(), current_principal(), brand_id, body.into, keep=body.keep)
    except PortfolioError as exc:
        raise _problem(exc) from None
    return MergeOut.model_validate(result)


def _bulk(form: BulkForm, file: FileStorage, commit: bool) -> BulkOut:
    principal = current_principal()
    organization_id = form.organization_id or principal.organization_id
    _visible("organization", organization_id)
    data = file.read(MAX_CSV + 1)
    report = brands.add_brands_csv(get_db(), principal, organization_id, data, commit=commit)
    if not report.ok:
        raise ApiProblem(422, f"{len(report.errors)} problem(s) in the file; nothing was written.",
                         errors=[FieldError(loc=["file", e["row"] or "file", e["column"] or ""], msg=e["reason"],
                                            type="invalid") for e in report.errors], slug="brands-rejected")
    return BulkOut.model_validate(report.to_dict())


@router.post("/brands/import/preview", summary="Check a CSV of brands: every problem, nothing written",
             response=BulkOut, form=BulkForm, files=("file",))
def preview_import(form: BulkForm, file: FileStorage) -> BulkOut:
    """The brands the CSV would add; 422 with an error per bad row."""
    return _bulk(form, file, commit=False)


@router.post("/brands/import", summary="Add brands from a CSV (name, role, projects): all or none",
             response=BulkOut, status=201, form=BulkForm, files=("file",))
def import_brands(form: BulkForm, file: FileStorage) -> Created:
    """Columns name, role (own, competitor, benchmark) and projects (names separated by “;”). 201 when
    written; 422 with an error per bad row, and then nothing is written."""
    return Created(_bulk(form, file, commit=True))
