"""Many lift tests from one CSV: every row checked first, then all written or none.

Columns: brand, channel, period_start, period_end, incremental_outcome, standard_error, note
(optional). Brands are named as in the organization the file is imported into; a brand the person
may not record tests for is reported like an unknown one (the file must not reveal what exists out
of their scope). Every problem is reported as (row, column, reason) with row 1 the header, like the
brand list of the Portfolio setup page (core.setup.brands.add_brands_csv); `commit=False` is the
preview, which writes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from core.db import Database
from core.lift_tests.schema import LiftTestInput, problems
from core.lift_tests.service import (
    WRITE,
    Audit,
    audit_data,
    channel_key,
    duplicate_message,
    duplicate_of,
    organization_channels,
)
from core.models import Brand, Channel, LiftTest
from core.security import Principal, record, scope_filter
from core.security.authorizer import deny
from core.setup.portfolio_common import as_id, name_key

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 2000
COLUMNS = ("brand", "channel", "period_start", "period_end", "incremental_outcome", "standard_error", "note")
REQUIRED = COLUMNS[:-1]


@dataclass
class LiftTestReport:
    """What a CSV of lift tests would add (or added): all rows or none."""

    rows: int = 0
    tests: list[dict[str, Any]] = field(default_factory=list)  # the rows as read, for the preview
    errors: list[dict[str, Any]] = field(default_factory=list)  # {row, column, reason}; row 1 is the header
    committed: bool = False
    ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "committed": self.committed, "rows": self.rows, "ids": self.ids,
                "tests": [{**t, "period_start": t["period_start"].isoformat(),
                           "period_end": t["period_end"].isoformat()} for t in self.tests],
                "errors": self.errors}


def _file_error(report: LiftTestReport, reason: str, row: int | None = None) -> list[dict[str, str]]:
    report.errors.append({"row": row, "column": None, "reason": reason})
    return []


def read_rows(data: bytes | str, report: LiftTestReport) -> list[dict[str, str]]:
    """The data rows as {column: text}; a file-level problem goes to the report (and no rows)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_CSV_BYTES:
        return _file_error(report, "The file is over 1 MB; split it into smaller files.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _file_error(report, "The file is not UTF-8 text; save it as “CSV UTF-8” and try again.")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [" ".join(str(h or "").split()).lower().replace(" ", "_") for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return _file_error(report, "The first row must name the columns " + ", ".join(COLUMNS)
                           + " (note is optional); missing: " + ", ".join(missing) + ".", 1)
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_CSV_ROWS:
            return _file_error(report, f"At most {MAX_CSV_ROWS:,} lift tests per file; split it.")
        cells = {k: str(v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if any(cells.values()):
            rows.append(cells)
    if not rows:
        return _file_error(report, "The file lists no lift tests.")
    return rows


class _Catalogue:
    """The organization's brands the principal may write, its channels, and the tests already recorded."""

    def __init__(self, session: Any, principal: Principal, organization_id: int) -> None:
        brands = session.scalars(select(Brand).where(Brand.organization_id == organization_id,
                                                     scope_filter(principal, WRITE, Brand))).all()
        self.brands = {name_key(b.name): b for b in brands}
        self.channels: dict[str, Channel] = organization_channels(session, organization_id)
        self.session = session


def _check(row: dict[str, str], number: int, cat: _Catalogue, seen: dict[tuple, int]
           ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    errors: list[dict[str, Any]] = []

    def bad(column: str, reason: str) -> None:
        errors.append({"row": number, "column": column, "reason": reason})

    brand = cat.brands.get(name_key(row.get("brand", ""))) if row.get("brand") else None
    if brand is None:
        bad("brand", f"There is no brand “{row.get('brand', '')[:80]}” you may record lift tests for in this "
                     "organization." if row.get("brand") else "Name the brand the test measured.")
    values = {k: row.get(k) for k in COLUMNS if k != "brand"}
    try:
        # An unknown brand is already reported; the other columns are still checked (with a stand-in id).
        test = LiftTestInput.model_validate({"brand_id": brand.id if brand else 1, **values})
    except ValidationError as exc:
        for column, reason in problems(exc):
            bad(column, reason)
        return errors, None
    channel = cat.channels.get(channel_key(test.channel))
    if channel is None:
        known = ", ".join(c.name for c in cat.channels.values()) or "none yet"
        bad("channel", f"The organization has no channel named “{test.channel}”; its channels: {known}.")
    if errors:
        return errors, None
    key = (brand.id, channel.id, test.period_start, test.period_end)
    other = duplicate_of(cat.session, *key)
    if other is not None:
        bad("period_end", duplicate_message(brand.name, channel.name, test.period_start, test.period_end, other))
    elif key in seen:
        bad("period_end", f"Row {seen[key]} records the same brand, channel and period.")
    seen.setdefault(key, number)
    planned = {"brand_id": brand.id, "brand": brand.name, "channel_id": channel.id, "channel": channel.name,
               **test.model_dump(exclude={"brand_id", "channel"})}
    return errors, None if errors else planned


def import_lift_tests(db: Database, principal: Principal, organization_id: Any, data: bytes | str, *,
                      commit: bool = True) -> LiftTestReport:
    """Check (and with `commit`, add) every lift test of the CSV; any error writes nothing.

    Forbidden (audited) when the principal may record tests for no brand of the organization; each
    row's brand is then checked on its own.
    """
    org = as_id(organization_id) or 0
    if not _writes_part(db, principal, org):
        deny(principal, WRITE, ("organization", organization_id), "no brand to record lift tests for")
    report = LiftTestReport()
    rows = read_rows(data, report)
    report.rows = len(rows)
    if not report.ok:
        return report
    with db.session() as s:
        cat = _Catalogue(s, principal, org)
        seen: dict[tuple, int] = {}
        for number, row in enumerate(rows, start=2):
            errors, planned = _check(row, number, cat, seen)
            report.errors.extend(errors)
            if planned is not None:
                report.tests.append(planned)
        if not report.ok:
            report.tests = []
            return report
        if not commit:
            return report
        for test in report.tests:
            row = LiftTest(brand_id=test["brand_id"], channel_id=test["channel_id"], period_start=test["period_start"],
                           period_end=test["period_end"], incremental_outcome=test["incremental_outcome"],
                           standard_error=test["standard_error"], note=test["note"], source="import",
                           created_by=principal.user_id)
            s.add(row)
            s.flush()
            report.ids.append(row.id)
            record(s, Audit.ADDED, actor=principal, organization_id=org, target=("lift_test", row.id),
                   data={**audit_data(row, cat.brands[name_key(test["brand"])], cat.channels[channel_key(
                       test["channel"])]), "via": "csv"})
        record(s, Audit.IMPORTED, actor=principal, organization_id=org, target=("organization", org),
               data={"added": len(report.ids), "brands": sorted({t["brand_id"] for t in report.tests})})
    report.committed = True
    return report


def _writes_part(db: Database, principal: Principal, organization_id: int) -> bool:
    """Whether the principal may write some brand of the organization (a brand or project grant suffices)."""
    with db.session() as s:
        return s.scalar(select(Brand.id).where(Brand.organization_id == organization_id,
                                               scope_filter(principal, WRITE, Brand)).limit(1)) is not None
