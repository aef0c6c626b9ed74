"""The "Download report" control shared by the Portfolio, Brand explorer and Scenarios pages.

Each page adds `report_control(prefix)` to its layout and one `protected_callback` (permission
report:export, its object ids re-checked) that calls `send_report`. The report itself is built by
`core.reports.render`, which checks report:export and every object again in the data layer.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ctx, dcc, html, no_update

from core.reports import EXPORT, render
from core.runtime import get_db
from dashboard.access import holds_anywhere
from dashboard.auth.principal import current_principal

FORMATS = ("pdf", "xlsx")


def report_control(prefix: str, label: str = "Download report", permission: str = EXPORT) -> html.Div | None:
    """PDF / XLSX buttons, a dcc.Download and a message slot; None for people without `permission`
    (report:export; the compliance report's own compliance:read)."""
    if not holds_anywhere(current_principal(), permission):
        return None
    return html.Div(
        [
            html.Span(label, className="small text-muted me-2"),
            dbc.ButtonGroup([dbc.Button(fmt.upper(), id=f"{prefix}-{fmt}", size="sm", outline=True, color="primary",
                                        title=f"Download this report as {fmt.upper()}") for fmt in FORMATS],
                            size="sm"),
            dcc.Loading(dcc.Download(id=f"{prefix}-download"), delay_show=200),
            html.Span(id=f"{prefix}-message", className="small text-danger ms-2"),
        ],
        className="d-inline-flex align-items-center",
    )


def clicked_format() -> str | None:
    """Which button fired the callback ("pdf" or "xlsx")."""
    trigger = str(ctx.triggered_id or "")
    return next((fmt for fmt in FORMATS if trigger.endswith(f"-{fmt}")), None)


def send_report(kind: str, params: dict[str, Any]) -> tuple[Any, str | None]:
    """(dcc.Download data, message) for the clicked format; a bad request becomes a message."""
    fmt = clicked_format()
    if fmt is None:
        return no_update, None
    try:
        report = render(get_db(), current_principal(), kind, params, fmt)
    except ValueError as exc:
        return no_update, str(exc)
    return dcc.send_bytes(report.content, report.filename, type=report.media_type), None
