"""Imports: upload a CSV or XLSX with its mapping, read the validation report, commit.

`POST /imports/preview` is the dry run (nothing written); `POST /imports` validates again and
writes only when the whole file is clean (all or nothing, one transaction, via core.imports).
Importing needs `metrics:import` on the organization. A file over the import limits (rows,
unpacked size, …: `ImportLimits`) gets 413, an .xlsx that is not a plain workbook 422, both with
the limit in the message and before anything is read past it or written.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import FileStorage

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, FieldError, not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core import imports, records
from core.jobs.refit import refit_after_import
from core.runtime import app_state, get_db
from core.security import Action, authorize, can, record
from core.security.permissions import Permission

router = Router("imports", "Upload metric or marketing files; a validation report before anything is written.")
IMPORT = Permission.METRICS_IMPORT.value
CREATE_BRANDS = Permission.PORTFOLIO_MANAGE.value
MAX_BYTES = 20 * 1024 * 1024


class ImportForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mapping: str = Field(min_length=2, max_length=100_000,
                         description="The import mapping as JSON text (see docs/import-mappings/).")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Defaults to your own organization.")
    create_brands: str | None = Field(
        default=None, max_length=100_000,
        description="Commit only: a JSON array of the new brand names the preview listed in `new_brands`, "
                    "to create them (needs portfolio:manage). It must name exactly those brands.")


class RowErrorOut(BaseModel):
    row: int | None
    column: str | None
    code: str
    reason: str


class TableCountsOut(BaseModel):
    insert: int
    update: int
    unchanged: int
    total: int


class ImportReportOut(BaseModel):
    kind: str
    filename: str
    sha256: str
    ok: bool
    committed: bool
    batch_id: int | None
    total_rows: int
    to_insert: int
    to_update: int
    unchanged: int
    tables: dict[str, TableCountsOut]
    channels_created: list[str]
    new_brands: list[str]
    brands_created: list[str]
    projects_recomputed: list[int]
    refit_brands: list[int] = Field(default_factory=list, description="Brands whose spend, outcomes or controls "
                                    "changed: their models are refitted.")
    fit_jobs: list[str] = Field(default_factory=list, description="The fit jobs submitted for them (GET /jobs/{id}).")
    error_count: int
    error_counts: dict[str, int]
    errors: list[RowErrorOut]
    warnings: list[str]
    sample: list[dict[str, Any]]


class ImportBatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organization_id: int
    user_id: int | None
    kind: str
    filename: str
    sha256: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    created_at: UtcDatetime


class ImportBatchList(BaseModel):
    items: list[ImportBatchOut]


def _inputs(form: ImportForm, file: FileStorage) -> tuple[int, dict[str, Any], bytes]:
    principal = current_principal()
    organization_id = form.organization_id or principal.organization_id
    if organization_id is None:
        raise ApiProblem(422, "Name the organization to import into.",
                         errors=[FieldError(loc=["form", "organization_id"], msg="required", type="missing")])
    with get_db().session() as s:
        held = records.import_permissions(s, principal, organization_id)
    if not held:
        raise not_found()
    authorize(principal, IMPORT, ("organization", organization_id))  # 403, and the refusal is audited
    try:
        mapping = json.loads(form.mapping)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict):
        raise ApiProblem(422, "The mapping must be a JSON object.",
                         errors=[FieldError(loc=["form", "mapping"], msg="not a JSON object", type="json")])
    data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ApiProblem(413, f"Files up to {MAX_BYTES // (1024 * 1024)} MB.")
    return organization_id, mapping, data


def _confirmation(form: ImportForm, organization_id: int) -> list[str] | None:
    """The new brands the caller confirms (a JSON array of names), checked to be theirs to create."""
    if form.create_brands is None:
        return None
    try:
        names = json.loads(form.create_brands)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiProblem(422, "create_brands must be a JSON array of brand names.",
                         errors=[FieldError(loc=["form", "create_brands"], msg="not a JSON array of names",
                                            type="json")])
    authorize(current_principal(), CREATE_BRANDS, ("organization", organization_id))
    return names


def _run(step, organization_id: int, data: bytes, mapping: dict[str, Any], filename: str | None,
         *args: Any, **options: Any) -> imports.ImportReport:
    """Preview or commit with the app's import limits; a refused file is a problem, not a report.

    Brands the file names that the organization lacks are listed (not refused) for callers who may
    create brands; the commit creates them only when confirmed."""
    options.setdefault("new_brands", can(current_principal(), CREATE_BRANDS, ("organization", organization_id)))
    try:
        return step(get_db(), organization_id, data, mapping, *args, filename=filename,
                    limits=app_state().config.import_limits, **options)
    except imports.FileRefused as exc:
        raise ApiProblem(413 if exc.too_large else 422, f"{exc.reason} Nothing was written.",
                         slug="import-too-large" if exc.too_large else "import-refused") from exc


def _report(report: imports.ImportReport) -> ImportReportOut:
    return ImportReportOut.model_validate(json.loads(json.dumps(report.to_dict(), default=str)))


@router.post("/imports/preview", summary="Validate a file: the report, nothing written", response=ImportReportOut,
             form=ImportForm, files=("file",))
def preview(form: ImportForm, file: FileStorage) -> ImportReportOut:
    """The same checks and counts as a commit (rows to insert, update, unchanged; every error)."""
    organization_id, mapping, data = _inputs(form, file)
    report = _run(imports.preview, organization_id, data, mapping, file.filename)
    return _report(report)


@router.post("/imports", summary="Commit a file: all rows or none", response=ImportReportOut, status=201,
             form=ImportForm, files=("file",))
def commit(form: ImportForm, file: FileStorage) -> Created:
    """201 with the report when written; 422 with one field error per bad cell when the file has any
    error, and then nothing at all is written."""
    organization_id, mapping, data = _inputs(form, file)
    principal = current_principal()
    db = get_db()
    report = _run(imports.commit, organization_id, data, mapping, file.filename, principal.user_id,
                  create_brands=_confirmation(form, organization_id))
    if not report.committed:
        errors = [FieldError(loc=["file", e.row if e.row is not None else "file", e.column or ""], msg=e.reason,
                             type=e.code) for e in report.errors]
        raise ApiProblem(422, f"{report.error_count} problem(s) in the file; nothing was written.",
                         errors=errors, slug="import-rejected")
    record(db, Action.IMPORT_COMMITTED, actor=principal, organization_id=organization_id,
           target=("organization", organization_id),
           data={"batch": report.batch_id, "kind": report.kind, "rows": report.total_rows,
                 "inserted": report.to_insert, "updated": report.to_update,
                 "brands_created": report.brands_created})
    refit_after_import(db, principal, report)
    return Created(_report(report))


@router.get("/imports", summary="Committed imports", response=ImportBatchList)
def list_imports() -> ImportBatchList:
    with get_db().session() as s:
        return ImportBatchList(items=[ImportBatchOut.model_validate(b)
                                      for b in records.import_batches(s, current_principal())])


@router.get("/imports/<id:batch_id>", summary="One committed import", response=ImportBatchOut)
def get_import(batch_id: int) -> ImportBatchOut:
    with get_db().session() as s:
        rows = records.import_batches(s, current_principal(), batch_id)
        if not rows:
            raise not_found()
        return ImportBatchOut.model_validate(rows[0])
