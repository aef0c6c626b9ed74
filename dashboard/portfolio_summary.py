"""The "what changed and why" paragraph at the top of the Portfolio page (issue 16, item 14).

`core.portfolio_summary.executive_summary` over the page's own read models for the signed-in
principal. It has its own callback (`register_callbacks`, called by the page module), beside the
page's, so it also follows the drop threshold: the alert count it states is the one the alerts
panel shows, both read through `alert_thresholds`.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, dcc, html

from core.portfolio import READ, brand_ranking, project_periods, score_drivers
from core.portfolio_alerts import metric_anomalies, score_drop_alerts
from core.portfolio_summary import executive_summary, summary_subjects
from core.runtime import get_db
from core.security import Principal
from core.settings import project_alert_defaults
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal
from dashboard.context import pick_period, project_readable
from dashboard.view_cache import cached_view


def summary_card() -> dbc.Card:
    """The card the page puts first; its paragraph comes from `show_summary`."""
    body = dcc.Loading(html.P(id="portfolio-summary", className="mb-0"), delay_show=300)
    return dbc.Card(
        [dbc.CardHeader("What changed and why"), dbc.CardBody(body)],
        className="mb-3 shadow-sm",
        id="portfolio-summary-card",
    )


def alert_thresholds(project_id: int, typed) -> tuple[float, float]:
    """(score-drop points, anomaly z) for the project: the organization's defaults, the drop
    threshold typed on the page overriding when it is a number (its size; anything else is ignored)."""
    with get_db().engine.connect() as conn:
        drop_default, z_threshold = project_alert_defaults(conn, project_id)
    try:
        return abs(float(typed)), z_threshold
    except (TypeError, ValueError):
        return drop_default, z_threshold


def show_summary(project_id: int, period: str | None, threshold) -> str:
    """The paragraph for the project and month on screen, from the scores the user may see."""
    principal = current_principal()
    threshold, z_threshold = alert_thresholds(project_id, threshold)
    return cached_view(
        "portfolio.summary",
        principal,
        (project_id, period, threshold, z_threshold),
        lambda: _summary_text(principal, project_id, period, threshold, z_threshold),
    )


def register_callbacks() -> None:
    """Declare `show_summary`; the page module calls this each time Dash loads it for an app (Dash
    executes page modules per app, while this module is imported once)."""
    protected_callback(
        Output("portfolio-summary", "children"),
        Input("portfolio-project", "data"),
        Input("portfolio-period", "data"),
        Input("portfolio-drop-threshold", "value"),
        permission=READ,
        objects={"project_id": ("project", project_readable)},
    )(show_summary)


def _summary_text(
    principal: Principal, project_id: int, period: str | None, threshold: float, z_threshold: float
) -> str:
    with get_db().engine.connect() as conn:
        periods = project_periods(conn, principal, project_id)
        as_of = pick_period(periods, period)
        if as_of is None:
            return "No scores for this project yet."
        earlier = [p for p in periods if p < as_of]
        ranking = brand_ranking(conn, principal, project_id, as_of)
        subjects = summary_subjects(ranking)  # brands of the principal's ranking only
        drivers = score_drivers(conn, project_id, subjects, earlier[-1], as_of,
                                clearance=principal.clearance.value) if earlier and subjects else None
        alerts = len(score_drop_alerts(ranking, threshold)) + len(
            metric_anomalies(conn, principal, project_id, as_of, z_threshold=z_threshold)
        )
    return executive_summary(ranking, drivers, alerts, pd.Timestamp(as_of).date())
