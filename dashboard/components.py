"""Small building blocks shared by pages: KPI cards, empty and error states, chart styling."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from core.formatting import signed  # noqa: F401  (one signed-change style for pages and reports)

PALETTE = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"]
MUTED = "#94a3b8"


def kpi_card(title: str, value: str, detail: str | None = None, tone: str = "secondary") -> dbc.Card:
    """A headline number with a one-line explanation under it."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(title, className="text-muted small text-uppercase"),
                html.Div(value, className="fs-3 fw-semibold"),
                html.Div(detail or "", className=f"small text-{tone}"),
            ]
        ),
        className="h-100 shadow-sm",
    )


def empty_state(message: str, hint: str | None = None) -> dbc.Alert:
    return dbc.Alert([html.Strong(message), html.Div(hint, className="small") if hint else None], color="light")


def compact(value: float | None, digits: int = 3) -> str:
    """1.23 B / 456 M / 7.8 K: money and counts at a glance (the data carries no currency)."""
    if value is None or value != value:
        return "n/a"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.{digits}g} {suffix}"
    return f"{value:.{digits}g}"


def chart_layout(**overrides) -> dict:
    """One look for every Plotly figure."""
    base = {
        "template": "plotly_white",
        # Transparent, so the card behind shows through in the light and the dark theme (assets/theme.css).
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 40, "r": 10, "t": 30, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "x unified",
        "colorway": PALETTE,
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
    }
    base.update(overrides)
    return base
