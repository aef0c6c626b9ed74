"""Small building blocks shared by pages: KPI cards, empty and error states, chart styling."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from core import glossary
from core.formatting import compact, signed  # noqa: F401  (one number style for pages and reports)

PALETTE = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"]
MUTED = "#94a3b8"


def kpi_card(title, value: str, detail: str | None = None, tone: str = "secondary") -> dbc.Card:
    """A headline number with a one-line explanation under it; `title` is text or a `term` (with its tooltip)."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(title, className="text-muted small text-uppercase"),
                html.Div(_value(value), className="fs-3 fw-semibold"),
                html.Div(detail or "", className=f"small text-{tone}"),
            ]
        ),
        className="h-100 shadow-sm",
    )


def _value(value):
    """A KPI figure; a ratio's "per ₹1" tail in small type, so "₹2.63 per ₹1" keeps to one line on a card."""
    head, per, tail = value.partition(" per ") if isinstance(value, str) else (value, "", "")
    return [head, html.Span(f" per {tail}", className="fs-6 fw-normal text-muted")] if per else value


def empty_state(message: str, hint: str | None = None) -> dbc.Alert:
    return dbc.Alert([html.Strong(message), html.Div(hint, className="small") if hint else None], color="light")


def term(key: str, text: str | None = None) -> html.Span:
    """A defined term (core.glossary) as a label: dotted underline, its definition on hover and on focus."""
    entry = glossary.term(key)
    return html.Span(text or entry.label, title=entry.definition, className="dc-term", tabIndex=0)


def header_tip(key: str) -> dict[str, str]:
    """An AG Grid column's header tooltip from the glossary: spread into the column definition."""
    return {"headerTooltip": glossary.definition(key)}


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
