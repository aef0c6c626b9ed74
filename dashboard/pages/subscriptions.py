"""Subscriptions: one's report subscriptions (create, pause, resume, delete), and for administrators the
delivery log with Resend.

Every choice the browser sends is checked again in core: the target by core.reports.check (report:export
on it), the recipient as a member of the organization, a subscription as one's own, a delivery as one of an
organization the person administers (settings:manage, re-checked by this page's log callback too).
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from core.jobs.queue import QueueUnavailable, current_dispatcher
from core.runtime import get_db
from core.security import Forbidden
from core.subscriptions import log as delivery_log
from core.subscriptions import service
from core.subscriptions.schedule import HOUR_OPTIONS, time_zones
from core.subscriptions.targets import recipients, report_targets
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal

EXPORT = "report:export"
# In the person's menu (dashboard.shell.navbar), not the bar: the bar stays one row at 1440 px.
register_page(__name__, permission=EXPORT, path="/subscriptions", name="Subscriptions", nav=False,
              title="Subscriptions · Digi-Cadence")

# AG Grid infers a date type from a column's first value and then blanks the cells that are not dates
# ("" for a paused subscription's next send): these grids hold text, so no inference.
TEXT = {"cellDataType": False}
LIST_COLUMNS = [{"field": "what", "headerName": "Report", "minWidth": 200, "flex": 2, "tooltipField": "what"},
                {"field": "when", "headerName": "When", "minWidth": 150, "flex": 1},
                {"field": "recipient", "headerName": "To", "minWidth": 150, "flex": 1, "tooltipField": "recipient"},
                {"field": "status", "headerName": "Status", "minWidth": 120, "flex": 1, "tooltipField": "status"}]
LOG_COLUMNS = [{"field": "created_at", "headerName": "Queued (UTC)", "minWidth": 170},
               {"field": "what", "headerName": "Report", "minWidth": 200, "flex": 2},
               {"field": "recipient", "headerName": "To", "minWidth": 160, "flex": 1},
               {"field": "status", "headerName": "Status", "maxWidth": 120},
               {"field": "attempts", "headerName": "Attempts", "type": "rightAligned", "maxWidth": 110},
               {"field": "error", "headerName": "Last error", "minWidth": 240, "flex": 2, "tooltipField": "error"},
               {"field": "retry_at", "headerName": "Next try (UTC)", "minWidth": 160}]
# The alert digest is chosen on the Alerts page ("Deliver my alerts"), not here.
REPORTS = [{"label": name, "value": kind} for kind, name in service.REPORT_NAMES.items() if kind != "alerts"]


def _field(label: str, control, width: int = 6, help_text: str | None = None) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=control.id, className="small fw-semibold"), control,
                    html.Div(help_text, className="form-text") if help_text else None], md=width)


def _form(principal) -> dbc.Card:
    people = recipients(get_db(), principal)
    return dbc.Card(dbc.CardBody([
        html.H5("New subscription", className="card-title"),
        dbc.Row([
            _field("Report", dcc.Dropdown(id="subs-report", options=REPORTS, value="portfolio", clearable=False)),
            _field("Of", dcc.Dropdown(id="subs-target", options=[], placeholder="Choose…")),
            _field("Format", dcc.Dropdown(id="subs-format", options=[{"label": "PDF", "value": "pdf"},
                                                                        {"label": "XLSX", "value": "xlsx"}],
                                          value="pdf", clearable=False), 4),
            _field("Every", dcc.Dropdown(id="subs-cadence", options=[
                {"label": "Day", "value": "daily"}, {"label": "Week (Mondays)", "value": "weekly"},
                {"label": "Month (the 1st)", "value": "monthly"}], value="weekly", clearable=False), 4),
            _field("At", dcc.Dropdown(id="subs-hour", options=HOUR_OPTIONS,
                                      value=8, clearable=False), 4),
            _field("Time zone", dcc.Dropdown(id="subs-timezone", options=time_zones(), value="UTC", clearable=False),
                   6, "Sent at that hour on local time, summer time included."),
            _field("To", dcc.Dropdown(id="subs-recipient", options=people,
                                      value=principal.user_id, clearable=False), 6,
                   "Rendered with the recipient's own access when it is sent."),
            _field("Webhook (optional)", dbc.Input(id="subs-webhook", type="url", maxLength=service.URL_MAX,
                                                   placeholder="https://hooks.slack.com/services/…"), 8,
                   "A Slack-compatible endpoint: it gets a short message with a link."),
            dbc.Col(dbc.Checkbox(id="subs-email", label="Send by e-mail", value=True, className="mt-md-4"), md=4),
        ], className="g-2"),
        dbc.Button("Subscribe", id="subs-create", color="primary", className="mt-3"),
    ]), className="shadow-sm mb-3")


def _log_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.Div([html.H5("Delivery log", className="card-title mb-0 me-auto"),
                  dbc.Button("Refresh", id="subs-log-refresh", size="sm", outline=True, color="secondary"),
                  dbc.Button("Resend selected", id="subs-resend", size="sm", color="primary")],
                 className="d-flex flex-wrap align-items-center gap-2 mb-2"),
        html.Div("Every send of your organization's subscriptions: its status, attempts and last error.",
                 className="small text-muted mb-2"),
        dag.AgGrid(id="subs-log", columnDefs=LOG_COLUMNS, rowData=[], getRowId="params.data.id", defaultColDef=TEXT,
                   columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                   dashGridOptions={"rowSelection": "single", "domLayout": "autoHeight", "tooltipShowDelay": 300}),
        html.Div(id="subs-log-result", className="mt-2"),
    ]), className="shadow-sm")


def layout(**_query) -> html.Div:
    principal = current_principal()
    return html.Div([
        html.H2("Subscriptions", className="mb-0"),
        html.Div("Reports sent to you or a colleague every day, week or month, by e-mail and to a webhook. "
                 "Each e-mail has a one-click unsubscribe link.", className="text-muted small mb-3"),
        dbc.Row([
            dbc.Col(_form(principal), xl=5),
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H5("Your subscriptions", className="card-title"),
                dag.AgGrid(id="subs-grid", columnDefs=LIST_COLUMNS, rowData=[], getRowId="params.data.id",
                           defaultColDef=TEXT, columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                           dashGridOptions={"rowSelection": "single", "domLayout": "autoHeight"}),
                html.Div([dbc.Button("Pause", id="subs-pause", size="sm", outline=True, color="secondary",
                                     className="me-2"),
                          dbc.Button("Resume", id="subs-resume", size="sm", outline=True, color="secondary",
                                     className="me-2"),
                          dbc.Button("Delete", id="subs-delete", size="sm", outline=True, color="danger")],
                         className="mt-2"),
                html.Div(id="subs-result", className="mt-2"),
            ]), className="shadow-sm mb-3"), xl=7),
        ], className="g-3"),
        _log_card() if delivery_log.may_see_log(principal) else None,
    ])


@protected_callback(Output("subs-target", "options"), Output("subs-target", "value"), Input("subs-report", "value"),
                    permission=EXPORT)
def choose_target(report):
    """The targets of the chosen report that the person may export (core.subscriptions.targets)."""
    options = report_targets(get_db(), current_principal()).get(report or "", [])
    return options, (options[0]["value"] if options else None)


def _target_fields(report, target) -> dict:
    if report == "brand":
        brand, _, project = str(target or "").partition(":")
        return {"target_id": brand, "project_id": project}
    return {"target_id": target}


def _selected(rows) -> int | None:
    return (rows[0] or {}).get("id") if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None


def _act(trigger, form: dict, selected) -> dbc.Alert | None:
    db, principal = get_db(), current_principal()
    if trigger == "subs-create":
        service.create_subscription(db, principal, form)
        return dbc.Alert("Subscribed. The first one is sent at the next scheduled time.", color="success")
    if trigger in ("subs-pause", "subs-resume", "subs-delete") and selected is None:
        return dbc.Alert("Select a subscription in the list first.", color="secondary")
    if trigger == "subs-delete":
        service.delete_subscription(db, principal, selected)
        return dbc.Alert("Deleted, with its delivery log.", color="success")
    if trigger in ("subs-pause", "subs-resume"):
        service.set_active(db, principal, selected, trigger == "subs-resume")
        return dbc.Alert("Paused." if trigger == "subs-pause" else "Resumed.", color="success")
    return None


@protected_callback(
    Output("subs-grid", "rowData"), Output("subs-result", "children"),
    Input("subs-create", "n_clicks"), Input("subs-pause", "n_clicks"), Input("subs-resume", "n_clicks"),
    Input("subs-delete", "n_clicks"),
    State("subs-report", "value"), State("subs-target", "value"), State("subs-format", "value"),
    State("subs-cadence", "value"), State("subs-hour", "value"), State("subs-timezone", "value"),
    State("subs-recipient", "value"), State("subs-email", "value"), State("subs-webhook", "value"),
    State("subs-grid", "selectedRows"),
    permission=EXPORT,
)
def manage(_create, _pause, _resume, _delete, report, target, fmt, cadence, hour, timezone, recipient, email,
           webhook, selected):
    """Create, pause, resume or delete (ownership and every id checked in core), then list again."""
    form = {"report": report, **_target_fields(report, target), "format": fmt, "cadence": cadence, "hour": hour,
            "timezone": timezone, "recipient_id": recipient, "email": bool(email), "webhook_url": webhook}
    try:
        result = _act(ctx.triggered_id, form, _selected(selected))
    except service.SubscriptionError as exc:
        result = dbc.Alert([html.Strong("Nothing was saved. "), str(exc)], color="danger")
    except service.SubscriptionNotFound:
        result = dbc.Alert("That subscription is not yours to change (or no longer exists).", color="danger")
    except Forbidden:
        result = dbc.Alert("You may not export this report, so you cannot subscribe to it.", color="danger")
    return service.list_subscriptions(get_db(), current_principal()), result


@protected_callback(
    Output("subs-log", "rowData"), Output("subs-log-result", "children"),
    Input("subs-log-refresh", "n_clicks"), Input("subs-resend", "n_clicks"), State("subs-log", "selectedRows"),
    permission=delivery_log.ADMIN,
)
def show_log(_refresh, _resend, selected):
    """The delivery log; Resend queues the selected delivery again (settings:manage on its organization)."""
    db, principal, result = get_db(), current_principal(), None
    if ctx.triggered_id == "subs-resend":
        chosen = _selected(selected)
        try:
            if chosen is None:
                result = dbc.Alert("Select a delivery in the log first.", color="secondary")
            else:
                delivery_log.resend(db, principal, chosen, current_dispatcher())
                result = dbc.Alert("Queued again; its status follows below (Refresh).", color="success")
        except delivery_log.DeliveryNotFound:
            result = dbc.Alert("That delivery is not in an organization you administer.", color="danger")
        except (ValueError, QueueUnavailable) as exc:
            result = dbc.Alert([html.Strong("Not resent. "), str(exc)], color="danger")
    return delivery_log.delivery_log(db, principal), result
