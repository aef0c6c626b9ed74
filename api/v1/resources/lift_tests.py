"""Lift tests (experiments): list, record, delete, and add many from a CSV.

All through `core.lift_tests`, which checks scope and permission on every call: reading needs
`scenario:read`, recording and deleting `scenario:run` on the test's brand. A test, or a brand in the
body, that you cannot see is 404 (as an unknown id); one you see but may not change is 403. Bad input
is 422 with the reason per field, in the words the page uses; the same brand, channel and period
recorded twice is 409 with the first test's id.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import FileStorage

from api.v1 import pagination
from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, FieldError, not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core import lift_tests
from core.lift_tests.csv_import import MAX_CSV_BYTES
from core.runtime import get_db
from core.security import can

router = Router("lift-tests", "Experiments that measured a channel's incremental outcome; fits use them as "
                              "likelihood terms.")
ID = Field(default=None, ge=1, le=2**31 - 1)


class LiftTestOut(BaseModel):
    id: int
    brand_id: int
    brand: str
    organization_id: int
    channel_id: int
    channel: str
    period_start: date
    period_end: date
    days: int = Field(description="Days the test ran, both ends included.")
    incremental_outcome: float = Field(description="Outcome (revenue, the brand's outcome unit) the channel added.")
    standard_error: float
    note: str
    source: str = Field(description="manual (the page), api, or import (a CSV).")
    created_at: UtcDatetime
    can_delete: bool


class LiftTestPage(BaseModel):
    items: list[LiftTestOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LiftTestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = ID
    brand_id: int | None = ID
    limit: int = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500, description="`next_cursor` of the previous page.")


class ImportForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Whose brands the file names; defaults to your own organization.")


class ImportRowError(BaseModel):
    row: int | None
    column: str | None
    reason: str


class ImportedTest(BaseModel):
    brand_id: int
    brand: str
    channel_id: int
    channel: str
    period_start: date
    period_end: date
    incremental_outcome: float
    standard_error: float
    note: str


class ImportOut(BaseModel):
    ok: bool
    committed: bool
    rows: int
    ids: list[int]
    tests: list[ImportedTest]
    errors: list[ImportRowError]


def _one(ident: int) -> LiftTestOut:
    """The test just recorded (its author reads its brand: `create_test` answers 404 otherwise)."""
    return LiftTestOut.model_validate(lift_tests.list_lift_tests(get_db(), current_principal(), lift_test_id=ident)[0])


@router.get("/lift-tests", summary="Lift tests you may read, a page at a time", response=LiftTestPage,
            query=LiftTestQuery)
def list_tests(query: LiftTestQuery) -> LiftTestPage:
    """Ordered by id. Filter by organization or brand."""
    principal = current_principal()
    if lift_tests.READ not in principal.all_permissions:
        raise ApiProblem(403, "You may not read lift tests.")
    cursor = pagination.decode(query.cursor, 1)
    rows = lift_tests.list_lift_tests(get_db(), principal, organization_id=query.organization_id,
                                      brand_id=query.brand_id, after_id=int(cursor[0]) if cursor else None,
                                      limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return LiftTestPage(items=[LiftTestOut.model_validate(r) for r in rows],
                        next_cursor=pagination.encode([rows[-1]["id"]]) if more else None)


@router.post("/lift-tests", summary="Record a lift test", response=LiftTestOut, status=201,
             body=lift_tests.LiftTestInput)
def create_test(body: lift_tests.LiftTestInput) -> Created:
    """Needs `scenario:run` on the brand; the channel is named as in the brand's organization."""
    principal = current_principal()
    if not can(principal, lift_tests.READ, ("brand", body.brand_id)):
        raise not_found()
    try:
        ident = lift_tests.add_lift_test(get_db(), principal, body, source="api")
    except lift_tests.LiftTestConflict as exc:
        raise ApiProblem(409, f"{exc}", slug="duplicate-lift-test") from None
    except lift_tests.LiftTestError as exc:
        raise ApiProblem(422, f"{exc} Nothing was recorded.",
                         errors=[FieldError(loc=["body", exc.field or "body"], msg=str(exc), type="invalid")]) from None
    return Created(_one(ident))


@router.delete("/lift-tests/<id:lift_test_id>", summary="Delete a lift test", status=204)
def delete_test(lift_test_id: int) -> None:
    """Needs `scenario:run` on its brand; audited with what it held."""
    db, principal = get_db(), current_principal()
    if not lift_tests.readable(db, principal, lift_test_id):
        raise not_found()
    lift_tests.delete_lift_test(db, principal, lift_test_id)


def _import(form: ImportForm, file: FileStorage, commit: bool) -> ImportOut:
    principal = current_principal()
    organization_id = form.organization_id or principal.organization_id
    if organization_id is None or not lift_tests.sees_organization(get_db(), principal, organization_id):
        raise not_found()
    report = lift_tests.import_lift_tests(get_db(), principal, organization_id, file.read(MAX_CSV_BYTES + 1),
                                          commit=commit)
    if not report.ok:
        raise ApiProblem(422, f"{len(report.errors)} problem(s) in the file; nothing was recorded.",
                         errors=[FieldError(loc=["file", e["row"] or "file", e["column"] or ""], msg=e["reason"],
                                            type="invalid") for e in report.errors], slug="lift-tests-rejected")
    return ImportOut.model_validate(report.to_dict())


@router.post("/lift-tests/import/preview", summary="Check a CSV of lift tests: every problem, nothing written",
             response=ImportOut, form=ImportForm, files=("file",))
def preview_import(form: ImportForm, file: FileStorage) -> ImportOut:
    """The tests the CSV would record; 422 with an error per row and column."""
    return _import(form, file, commit=False)


@router.post("/lift-tests/import", summary="Record the lift tests of a CSV: all or none", response=ImportOut,
             status=201, form=ImportForm, files=("file",))
def import_tests(form: ImportForm, file: FileStorage) -> Created:
    """Columns brand, channel, period_start, period_end, incremental_outcome, standard_error, note (optional);
    brands and channels named as in the organization. 201 when recorded; 422 with an error per row, and then
    nothing is recorded."""
    return Created(_import(form, file, commit=True))
