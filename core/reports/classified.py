"""Exports of classified data (issue 17): the watermark and the audit event.

A report holding confidential or restricted data (its `Document.classification`) is stamped with who
exported it and when, on every PDF page and on the workbook's summary sheet, and the export is written
to the audit trail as `report.classified_export` (kind, format, level, file; the person's address under
`personal`). Lower levels carry neither, so their bytes stay a pure function of the data. The rule and
the event are `core.classified_export.mark_export`, shared with the pages' table downloads.
"""

from __future__ import annotations

from datetime import datetime

from core.classified_export import mark_export, watermark_text
from core.db import Database
from core.reports.document import Document
from core.security.principal import Principal

__all__ = ["stamp", "watermark_text"]


def stamp(db: Database, principal: Principal, document: Document, kind: str, fmt: str, filename: str,
          now: datetime | None = None) -> None:
    """Set the document's watermark and audit the export when its level calls for it (else nothing)."""
    line = mark_export(db, principal, document.classification, kind=kind, fmt=fmt, filename=filename, now=now)
    if line is not None:
        document.watermark = line
