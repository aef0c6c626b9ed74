"""The optimizer result's "Why this plan" panel: the plan's summary, the odds it beats the current
allocation, and each cell's reason with the value of relaxing its limit (core.optimize.explain and
core.optimize.odds computed them in the run; this module only lays them out).
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from core.optimize.odds import odds_words

REASON_COLORS = {
    "cap": "warning",
    "floor": "info",
    "locked": "secondary",
    "off": "light",
    "saturated": "danger",
    "total": "primary",
    "margin": "success",
    "free": "light",
}


def _cell_label(cell: dict, one_brand: bool) -> str:
    return cell["channel"] if one_brand else f"{cell['brand']} · {cell['channel']}"


def _row(cell: dict, one_brand: bool) -> html.Tr:
    reason = cell["reason"]
    badge = dbc.Badge(
        cell["reason_label"],
        color=REASON_COLORS.get(reason, "light"),
        text_color="dark" if REASON_COLORS.get(reason) in ("light", "warning", "info") else None,
        className="text-wrap text-start",  # a phone's narrow column wraps the label instead of widening
    )
    return html.Tr(
        [
            html.Td(_cell_label(cell, one_brand), className="text-nowrap"),
            html.Td(
                [
                    badge,
                    html.Div(cell["why"], className="small text-muted"),
                    # A phone has no room for a third column: the value of relaxing sits under the reason.
                    html.Div(cell.get("relax") or "", className="small d-md-none"),
                ]
            ),
            html.Td(cell.get("relax") or "—", className="small d-none d-md-table-cell"),
        ],
        **{"data-reason": reason},
    )


def explanation_panel(result: dict[str, Any], badge: Any = None) -> Any:
    """The panel, or nothing for a result saved before runs carried an explanation; `badge` is the
    plan's classification (dashboard.classification_view), beside the title as on the other cards."""
    explanation = result.get("explanation")
    if not explanation:
        return html.Div(id="optimizer-why")
    cells = explanation.get("cells") or []
    one_brand = len({c["brand"] for c in cells}) <= 1
    table = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th("Cell"),
                        html.Th("Reason"),
                        html.Th("Relaxing its limit", className="d-none d-md-table-cell"),
                    ]
                )
            ),
            html.Tbody([_row(c, one_brand) for c in cells]),
        ],
        size="sm",
        responsive=True,
        className="mb-0 align-middle",
        id="optimizer-why-table",
    )
    return dbc.Card(
        [
            dbc.CardHeader(html.Div([html.Span("Why this plan", className="me-2"), badge],
                                    className="d-flex flex-wrap align-items-center")),
            dbc.CardBody(
                [
                    html.P(explanation["summary"], id="optimizer-why-summary"),
                    html.P(odds_words(result.get("odds")), id="optimizer-odds", className="small fw-semibold"),
                    table,
                ]
            ),
        ],
        className="shadow-sm mb-3",
        id="optimizer-why",
    )
