"""Reports: an executive portfolio summary, a brand health card and a scenario report, each as PDF
(with charts) or XLSX (with native charts), built from the same scoped read models as the dashboard;
and an auditor's compliance report (core.reports.compliance), read with `compliance:read` instead.

`render(db, principal, kind, params, fmt)` is a pure function of its arguments (no request, no
clock), so the dashboard calls it in a request and a job worker can call it as is. The same data
gives the same bytes, except that a report of confidential or restricted data carries a watermark
with who exported it and when (core.reports.classified). Authorization happens inside: report:export
must be held, and the data is read with the principal narrowed to the scopes where it is held (see
access.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db import Database
from core.reports import brand, compliance, portfolio, scenario
from core.reports.access import EXPORT, ReportNotFound, exporting_principal
from core.reports.classified import stamp
from core.reports.document import Document
from core.reports.pdf import render_pdf
from core.reports.xlsx import render_xlsx
from core.security import Principal

KINDS: dict[str, Callable[[Database, Principal, dict[str, Any]], Document]] = {
    "portfolio": portfolio.build, "brand": brand.build, "scenario": scenario.build, "compliance": compliance.build,
}
CHECKS: dict[str, Callable[[Database, Principal, dict[str, Any]], None]] = {
    "portfolio": portfolio.check, "brand": brand.check, "scenario": scenario.check, "compliance": compliance.check,
}
# Reports that check a permission of their own on what they read, not report:export.
OWN_PERMISSION = frozenset({"compliance"})


def _reader(principal: Principal, kind: str) -> Principal:
    return principal if kind in OWN_PERMISSION else exporting_principal(principal)


FORMATS: dict[str, tuple[Callable[[Document], bytes], str]] = {
    "pdf": (render_pdf, "application/pdf"),
    "xlsx": (render_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@dataclass(frozen=True)
class Report:
    content: bytes
    filename: str
    media_type: str


def check(db: Database, principal: Principal, kind: str, params: dict[str, Any], fmt: str) -> None:
    """What `render` would refuse, found cheaply (parameters, export permission, scope), building nothing:
    a report job checks this when submitted, so a bad request is refused at once, not in the worker."""
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    CHECKS[kind](db, _reader(principal, kind), dict(params or {}))


def render(db: Database, principal: Principal, kind: str, params: dict[str, Any], fmt: str, *,
           now: datetime | None = None) -> Report:
    """Build report `kind` ("portfolio", "brand", "scenario", "compliance") as `fmt` ("pdf", "xlsx").

    Raises ValueError for bad kind/format/params (with the reason), Forbidden when report:export
    is not held, ReportNotFound (a Forbidden) for ids that do not exist or are out of scope. A report
    holding confidential or restricted data is watermarked (who, `now` or the clock) and audited
    (core.reports.classified); below that the bytes depend on the data alone.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown report {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    document = KINDS[kind](db, _reader(principal, kind), dict(params or {}))
    writer, media_type = FORMATS[fmt]
    filename = f"{document.filename_stem}.{fmt}"
    stamp(db, principal, document, kind, fmt, filename, now)
    return Report(writer(document), filename, media_type)


__all__ = ["EXPORT", "FORMATS", "KINDS", "Report", "ReportNotFound", "check", "render"]
