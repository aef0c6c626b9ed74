"""Exports of classified data (issue 17): the watermark and the audit event.

A report holding confidential or restricted data (its `Document.classification`) is stamped with who
exported it and when, on every PDF page and on the workbook's summary sheet, and the export is written
to the audit trail as `report.classified_export` (kind, format, level, file; the person's address under
`personal`). Lower levels carry neither, so their bytes stay a pure function of the data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.classification import needs_watermark, parse
from core.db import Database
from core.models.security import User
from core.reports.document import Document
from core.security.audit import Action, record
from core.security.principal import Principal


def watermark_text(who: str, when: datetime, level: str) -> str:
    """The line printed on a classified export: its level, who exported it and when (UTC)."""
    return f"{parse(level).label} · exported by {who} · {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def stamp(db: Database, principal: Principal, document: Document, kind: str, fmt: str, filename: str,
          now: datetime | None = None) -> None:
    """Set the document's watermark and audit the export when its level calls for it (else nothing)."""
    level = parse(document.classification)
    if not needs_watermark(level):
        return
    when = now or datetime.now(UTC)
    with db.session() as s:
        email = s.scalar(select(User.email).where(User.id == principal.user_id)) if principal.user_id else None
        who = email or (f"user #{principal.user_id}" if principal.user_id else "a system process")
        document.watermark = watermark_text(who, when, level.value)
        record(s, Action.CLASSIFIED_EXPORT, actor=principal, organization_id=principal.organization_id,
               target=("report", None), data={"kind": kind, "format": fmt, "classification": level.value,
                                              "file": filename, "at": when.isoformat()},
               personal={"exported_by": who})
