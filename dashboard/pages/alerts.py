"""Alerts: what the rules found about the brands the person may read (score drops, metric anomalies,
competitors overtaking, channels whose marginal ROAS fell below
the organization's floor T, a setting), newest first, each with a link to its view.

Read, mark read and snooze through `core.alert_inbox`, which checks every id against the person's scope;
the navigation's bell (`dashboard.shell`) counts what is unread here. "Deliver my alerts" chooses a daily
e-mail digest and/or a webhook (`core.subscriptions.alert_mail`, which checks every value again).
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.alert_inbox import READ, SNOOZE_DAYS, list_alerts, mark_read, snooze, unread_count
from core.runtime import get_db
from core.security import Forbidden
from core.subscriptions import alert_mail
from core.subscriptions.schedule import HOUR_OPTIONS, time_zones
from core.subscriptions.service import URL_MAX, SubscriptionError
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal

register_page(__name__, permission=READ, path="/alerts", name="Alerts", title="Alerts · Digi-Cadence", nav=False)

COLUMNS = [  # the alert itself first, with its box, so a phone shows what happened before it scrolls sideways
    {"field": "open", "headerName": "Alert", "minWidth": 230, "cellRenderer": "markdown", "wrapText": True,
     "autoHeight": True, "checkboxSelection": True, "headerCheckboxSelection": True,
     "cellClassRules": {"fw-semibold": "!params.data.read"}},
    {"field": "detail", "headerName": "Detail", "minWidth": 300, "wrapText": True, "autoHeight": True,
     "cellStyle": {"lineHeight": "1.5", "paddingTop": "6px", "paddingBottom": "6px"}},
    {"field": "kind", "headerName": "Rule", "minWidth": 150, "maxWidth": 210},
    {"field": "when", "headerName": "When (UTC)", "minWidth": 140, "maxWidth": 160},
    {"field": "state", "headerName": "State", "minWidth": 90, "maxWidth": 110},
]


def _rows(show_snoozed: bool) -> list[dict[str, Any]]:
    rows = list_alerts(get_db(), current_principal(), show_snoozed=show_snoozed)
    for row in rows:
        row["open"] = f"[{row['title']}]({row['link']})"
        row["state"] = "snoozed" if row["snoozed"] else "read" if row["read"] else "new"
    return rows


def _count_text(rows: list[dict[str, Any]]) -> str:
    new = sum(r["state"] == "new" for r in rows)
    return f"{len(rows)} alerts, {new} new" if rows else "No alerts: the rules found nothing about your brands."


def _delivery_status(choice: dict[str, Any] | None) -> str:
    if choice is None:
        return "Now: only here, in the app."
    ways = [w for w, on in (("e-mail", choice["email"]), ("webhook", bool(choice["webhook_url"]))) if on]
    state = "" if choice["active"] else f" (stopped: {choice['stopped_reason'] or 'paused'})"
    return f"Now: {' and '.join(ways)}, daily at {choice['hour']:02d}:00 {choice['timezone']}{state}."


def _delivery_card() -> dbc.Card:
    """The person's choice: a daily digest by e-mail at an hour of their time zone, and/or a webhook."""
    current = alert_mail.preference(get_db(), current_principal())
    choice = current or {}
    return dbc.Card(dbc.CardBody([
        html.H5("Deliver my alerts", className="card-title"),
        html.Div("New alerts about the brands you may read when it is sent, once each, in one message a day; "
                 "snoozed ones are left out.", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col(dbc.Switch(id="alerts-mail-email", label="E-mail me a daily digest",
                               value=bool(choice.get("email", True))), xs=12),
            dbc.Col([dbc.Label("At", html_for="alerts-mail-hour", className="small fw-semibold"),
                     dcc.Dropdown(id="alerts-mail-hour", clearable=False, value=choice.get("hour", 8),
                                  options=HOUR_OPTIONS)], md=4),
            dbc.Col([dbc.Label("Time zone", html_for="alerts-mail-timezone", className="small fw-semibold"),
                     dcc.Dropdown(id="alerts-mail-timezone", options=time_zones(), clearable=False,
                                  value=choice.get("timezone", "UTC"))], md=8),
            dbc.Col([dbc.Label("Webhook (optional)", html_for="alerts-mail-webhook", className="small fw-semibold"),
                     dbc.Input(id="alerts-mail-webhook", type="url", maxLength=URL_MAX,
                               value=choice.get("webhook_url", ""),
                               placeholder="https://hooks.slack.com/services/…"),
                     html.Div("A Slack-compatible endpoint: one line per alert with its link.",
                              className="form-text")], xs=12),
        ], className="g-2"),
        html.Div([dbc.Button("Save", id="alerts-mail-save", color="primary", size="sm"),
                  dbc.Button("Stop", id="alerts-mail-stop", color="secondary", outline=True, size="sm")],
                 className="d-flex gap-2 mt-3"),
        html.Div(_delivery_status(current), id="alerts-mail-status",
                 className="small text-muted mt-2"),
        html.Div(id="alerts-mail-result", className="mt-2"),
    ]), className="shadow-sm mb-3")


def layout(**_query: Any) -> html.Div:
    """The list, with mark-read and snooze for the selected rows; unread ones in bold."""
    rows = _rows(False)
    return html.Div([
        html.H2("Alerts", className="mb-0"),
        html.Div("Found after every import and every refit, about the brands you may read.",
                 className="text-muted small mb-3"),
        dbc.Card([
            dbc.CardHeader(html.Div([
                dbc.Button("Mark selected read", id="alerts-read", size="sm", color="primary", outline=True),
                dbc.Button("Mark all read", id="alerts-read-all", size="sm", color="secondary", outline=True),
                dbc.InputGroup([
                    dbc.Select(id="alerts-snooze-days", value="7", size="sm",
                               options=[{"label": f"{d} day{'s' if d > 1 else ''}", "value": str(d)}
                                        for d in SNOOZE_DAYS]),
                    dbc.Button("Snooze selected", id="alerts-snooze", size="sm", color="secondary", outline=True),
                ], size="sm", className="w-auto"),
                dbc.Switch(id="alerts-show-snoozed", label="Show snoozed", value=False, className="ms-md-auto mb-0"),
            ], className="d-flex flex-wrap gap-2 align-items-center")),
            dbc.CardBody([
                html.Div(_count_text(rows), id="alerts-count", className="small text-muted mb-2"),
                dag.AgGrid(id="alerts-grid", rowData=rows, columnDefs=COLUMNS, getRowId="params.data.id",
                           columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                           defaultColDef={"resizable": True, "cellDataType": False},
                           dashGridOptions={"rowSelection": "multiple", "domLayout": "autoHeight",
                                            "animateRows": False, "suppressRowClickSelection": True,
                                            "localeText": {"noRowsToShow": "No alerts to show."}}),
                html.Div(id="alerts-message", className="mt-2"),
            ]),
        ], className="shadow-sm mb-3"),
        dbc.Row(dbc.Col(_delivery_card(), lg=7, xl=5)),
    ])


def _selected(rows: Any) -> list[Any]:
    return [r.get("id") for r in rows or [] if isinstance(r, dict)]


@protected_callback(
    Output("alerts-grid", "rowData"),
    Output("alerts-count", "children"),
    Output("alerts-message", "children"),
    Output("nav-alerts-count", "children", allow_duplicate=True),
    Input("alerts-read", "n_clicks"),
    Input("alerts-read-all", "n_clicks"),
    Input("alerts-snooze", "n_clicks"),
    Input("alerts-show-snoozed", "value"),
    State("alerts-grid", "selectedRows"),
    State("alerts-snooze-days", "value"),
    permission=READ,
    prevent_initial_call=True,
)
def act(_read, _all, _snooze, show_snoozed, selected, days):
    """Mark read or snooze what is selected (ids re-checked in core.alert_inbox), then list again."""
    db, principal, message = get_db(), current_principal(), None
    ids = _selected(selected)
    clicked = ctx.triggered_id if ctx.triggered and ctx.triggered[0].get("value") else None
    try:
        if clicked == "alerts-read-all":
            message = f"{mark_read(db, principal):,} marked read."
        elif clicked in ("alerts-read", "alerts-snooze") and not ids:
            message = "Select one or more alerts first (the boxes at the left)."
        elif clicked == "alerts-read":
            message = f"{mark_read(db, principal, ids):,} marked read."
        elif clicked == "alerts-snooze":
            snooze(db, principal, ids, days)
            message = f"Snoozed for {days} days: those rules stay quiet about those brands until then."
    except (ValueError, Forbidden) as exc:
        text = str(exc) if isinstance(exc, ValueError) else "Some of those alerts are not yours to change."
        return no_update, no_update, dbc.Alert(text, color="warning", className="mb-0"), no_update
    rows = _rows(bool(show_snoozed))
    badge = unread_count(db, principal) or None
    return rows, _count_text(rows), message and dbc.Alert(message, color="info", className="mb-0 py-2"), badge


@protected_callback(
    Output("alerts-mail-result", "children"),
    Output("alerts-mail-status", "children"),
    Input("alerts-mail-save", "n_clicks"),
    Input("alerts-mail-stop", "n_clicks"),
    State("alerts-mail-email", "value"),
    State("alerts-mail-hour", "value"),
    State("alerts-mail-timezone", "value"),
    State("alerts-mail-webhook", "value"),
    permission=READ,
    prevent_initial_call=True,
)
def deliver_my_alerts(_save, _stop, email, hour, timezone, webhook):
    """Save or stop the person's own alert delivery (every value checked again in core)."""
    db, principal = get_db(), current_principal()
    try:
        if ctx.triggered_id == "alerts-mail-stop":
            stopped = alert_mail.stop(db, principal)
            result = dbc.Alert("Stopped: your alerts stay here only." if stopped else "Nothing to stop.",
                               color="secondary", className="mb-0 py-2")
        else:
            alert_mail.save_preference(db, principal, {"email": bool(email), "hour": hour, "timezone": timezone,
                                                       "webhook_url": webhook})
            result = dbc.Alert("Saved. New alerts come in the next digest.", color="success", className="mb-0 py-2",
                               id="alerts-mail-saved")
    except SubscriptionError as exc:
        result = dbc.Alert([html.Strong("Nothing was saved. "), str(exc)], color="danger", className="mb-0 py-2",
                           id="alerts-mail-refused")
    return result, _delivery_status(alert_mail.preference(db, principal))
