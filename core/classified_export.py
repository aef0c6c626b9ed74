"""Every export of classified data is watermarked and audited the same way (issue 17).

Reports (`core.reports.classified.stamp`), the Brand explorer's chart downloads and the optimizer's
and flighting's plan exports all call `mark_export`: at confidential or above it writes
`report.classified_export` (what, format, level, file, who) and returns the watermark line
("Confidential · exported by ana@example.com · 2026-12-07 21:05 UTC"); below, it does nothing and
returns None, so lower-level files stay a pure function of the data.

Tables (CSV and XLSX downloads) carry the line in a first column, `WATERMARK_COLUMN`, on every row,
not as a comment line above the header: a leading line would be the first row a spreadsheet or
pandas reads as the header, breaking every tool that re-reads the file, and it is lost as soon as
someone copies rows out; a column keeps the file a plain table and travels with every copied row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from core.classification import Classification, highest, needs_watermark, parse
from core.db import Database
from core.models.security import User
from core.security.audit import Action, record
from core.security.principal import Principal

WATERMARK_COLUMN = "Classification watermark"


def watermark_text(who: str, when: datetime, level: str) -> str:
    """The line printed on a classified export: its level, who exported it and when (UTC)."""
    return f"{parse(level).label} · exported by {who} · {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def mark_export(db: Database, principal: Principal, level: Any, *, kind: str, fmt: str, filename: str,
                target: tuple[str, Any] = ("report", None), now: datetime | None = None) -> str | None:
    """Audit an export of data at `level` and return its watermark line, when the level calls for one."""
    level = parse(level)
    if not needs_watermark(level):
        return None
    when = now or datetime.now(UTC)
    with db.session() as s:
        email = s.scalar(select(User.email).where(User.id == principal.user_id)) if principal.user_id else None
        who = email or (f"user #{principal.user_id}" if principal.user_id else "a system process")
        record(s, Action.CLASSIFIED_EXPORT, actor=principal, organization_id=principal.organization_id,
               target=target, data={"kind": kind, "format": fmt, "classification": level.value,
                                    "file": filename, "at": when.isoformat()},
               personal={"exported_by": who})
    return watermark_text(who, when, level.value)


def watermarked(frame: pd.DataFrame, line: str | None) -> pd.DataFrame:
    """`frame` with the watermark line as its first column on every row (unchanged when `line` is None)."""
    if line is None:
        return frame
    out = frame.copy()
    out.insert(0, WATERMARK_COLUMN, line)
    return out


def plan_level(scenario: dict[str, Any] | None) -> Classification:
    """The level of a budget or flighting plan: its scenario's (when one is open), else internal.

    Plans are computed from spend, outcome and control data, which carry no level of their own
    (the imported data set's level classifies the import record: docs/SECURITY.md), so the only
    classified input is the scenario the page was opened from; a run started from it keeps its level.
    """
    return highest([Classification.INTERNAL.value, (scenario or {}).get("classification")])
