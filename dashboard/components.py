"""Small building blocks shared by pages: KPI cards, empty and error states, chart styling."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from core import glossary
from core.formatting import compact, signed  # noqa: F401  (one number style for pages and reports)
from core.palette import MUTED, PALETTE  # noqa: F401  (figures take the colours from here)


def kpi_card(title, value: str, detail: str | None = None, tone: str = "secondary") -> dbc.Card:
    """A headline number with a one-line explanation under it; `title` is text or a `term` (with its tooltip)."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(title, className="text-muted small text-uppercase dc-kpi-title"),
                html.Div(_value(value), className=f"{_size(value)} fw-semibold dc-kpi-value"),
                html.Div(detail or "", className=f"small text-{tone} dc-kpi-detail"),
            ]
        ),
        className="h-100 shadow-sm",
    )


def _size(value) -> str:
    """Figures in large type; words (a metric's name as the biggest mover) a size smaller, so they wrap
    onto two lines of a card rather than four."""
    return "fs-5" if isinstance(value, str) and len(value) > 14 and " per " not in value else "fs-3"


def wrap(text: str, width: int = 22) -> str:
    """`text` broken at spaces into lines of about `width` characters joined by <br>: a whole label on a
    chart's axis, where cutting it ("Average organic sea…") would lose the words that tell metrics apart.
    A word longer than `width` stays whole on its own line."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


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
