"""Compliance reports for auditors: access review, data-subject requests, retention and the audit
extract of one organization and period, on screen and as PDF / XLSX.

Everything is read by `core.compliance` with `compliance:read` on the organization (checked there and
again here for the posted organization id); the download goes through `core.reports.render`, which
checks it a third time in the data layer. "Receive it regularly" subscribes to it (core.subscriptions.service,
which checks compliance:read on the organization for the owner now and for the recipient at every send).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from core import compliance as c
from core.runtime import get_db
from core.security import Forbidden, can
from core.subscriptions import service as subscriptions
from core.subscriptions.schedule import HOUR_OPTIONS, time_zones
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state, kpi_card
from dashboard.report_download import report_control, send_report

register_page(__name__, permission=c.COMPLIANCE_READ, path="/admin/compliance", name="Compliance",
              title="Compliance · Digi-Cadence")

GRIDS = {  # grid id → (columns, text when empty)
    "access": ([("person", "Person", 230), ("status", "Status", 95), ("roles", "Roles and scopes", 300),
                ("clearance", "Reads up to", 120),
                ("second_factor", "Second factor", 170), ("last_sign_in", "Last sign-in", 120)],
               "Nobody belongs to this organization."),
    "requests": ([("when", "When (UTC)", 150), ("request", "Request", 190), ("person", "Person", 220),
                  ("by", "Made by", 120), ("state", "State", 260)], "No data-subject requests in this period."),
    "retention": ([("data", "Data", 260), ("kept_days", "Kept (days)", 110), ("older_than_goes", "Older than this goes",
                                                                            160),
                   ("oldest_kept", "Oldest kept", 120), ("next_goes", "Oldest goes", 150)], ""),
    "actions": ([("action", "Action", 240), ("events", "Events", 100)], "No audit events in this period."),
}


def _org_ok(principal, organization_id) -> bool:
    try:
        return can(principal, c.COMPLIANCE_READ, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _grid(key: str) -> dag.AgGrid:
    columns, empty = GRIDS[key]
    return dag.AgGrid(
        id=f"compliance-{key}", rowData=[], className="ag-theme-quartz", columnSize="responsiveSizeToFit",
        columnDefs=[{"field": f, "headerName": h, "minWidth": w, "wrapText": True, "autoHeight": True}
                    for f, h, w in columns],
        # cellDataType off: a column whose first value reads as a date would blank "none" and "never"
        defaultColDef={"sortable": True, "resizable": True, "cellDataType": False},
        dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                         "localeText": {"noRowsToShow": empty or "Nothing to show."}})


def _section(title: str, hint: str, key: str) -> dbc.Card:
    return dbc.Card([dbc.CardHeader([html.Strong(title), html.Div(hint, className="small text-muted")]),
                     dbc.CardBody(dcc.Loading(_grid(key), delay_show=300))], className="mb-3 shadow-sm")


def layout(**_query) -> html.Div:
    """Organization and period on top, the headline checks, then one card per part of the report."""
    orgs = c.organizations(get_db(), current_principal())
    if not orgs:
        return empty_state("No organization to report on.", "Compliance reports need compliance:read on an "
                                                            "organization; ask an administrator.")
    today = datetime.now(UTC).date()
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Compliance", className="mb-0"),
                     html.Div("Who can do what, what happened, what will be deleted when, and the requests people "
                              "made about their data.", className="text-muted small")], md=7),
            dbc.Col(report_control("compliance-report", "Download", permission=c.COMPLIANCE_READ), md=5,
                    className="text-md-end"),
        ], className="align-items-center g-2 mb-2"),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Organization", html_for="compliance-org"),
                     dcc.Dropdown(id="compliance-org", options=[{"label": o["name"], "value": o["id"]} for o in orgs],
                                  value=orgs[0]["id"], clearable=False)], md=5,
                    style=None if len(orgs) > 1 else {"display": "none"}),
            dbc.Col([dbc.Label("Audit and request period", html_for="compliance-dates"),
                     html.Div(dcc.DatePickerRange(id="compliance-dates", display_format="YYYY-MM-DD",
                                                  start_date=today - timedelta(days=29), end_date=today,
                                                  max_date_allowed=today, minimum_nights=0))], md=6),
        ], className="g-2")), className="mb-3 shadow-sm"),
        html.Div(id="compliance-message"),
        dbc.Row(id="compliance-kpis", className="g-3 mb-3"),
        html.Div(id="compliance-chain", className="mb-3"),
        _section("Access review", "Every person, each role with the scope it is granted at, the classification "
                                  "they may read, second factors and the last sign-in.", "access"),
        _section("Data-subject requests", "Copies of personal data and erasures in the period, and where each "
                                          "stands now.", "requests"),
        _section("Retention", "Days each kind of data is kept and when the oldest row kept now will go.", "retention"),
        _section("Audit extract", "Events of the period by action; the PDF and XLSX list every event.", "actions"),
        _subscribe_card(),
    ])


def _choice(label: str, control, width: int) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=control.id, className="small fw-semibold"), control], md=width)


def _mine() -> list[dict]:
    return [{"label": f"{r['what']} · {r['when']} · {r['status']}", "value": r["id"]}
            for r in subscriptions.list_subscriptions(get_db(), current_principal())
            if r["report"] == "compliance" and r["mine"]]


def _subscribe_card() -> dbc.Card:
    """Subscribe to this organization's report; each send covers the days since the previous one (the first: 30)."""
    mine = _mine()
    return dbc.Card([dbc.CardHeader([html.Strong("Receive it regularly"), html.Div(
        "By e-mail (and a webhook if you like) every day, week or month, rendered with your access when it is "
        "sent; each report covers the days since the previous one, the first the last 30 days.",
        className="small text-muted")]), dbc.CardBody([
            dbc.Row([
                _choice("Format", dcc.Dropdown(id="compliance-sub-format", clearable=False, value="pdf", options=[
                    {"label": "PDF", "value": "pdf"}, {"label": "XLSX", "value": "xlsx"}]), 2),
                _choice("Every", dcc.Dropdown(id="compliance-sub-cadence", clearable=False, value="monthly", options=[
                    {"label": "Day", "value": "daily"}, {"label": "Week (Mondays)", "value": "weekly"},
                    {"label": "Month (the 1st)", "value": "monthly"}]), 3),
                _choice("At", dcc.Dropdown(id="compliance-sub-hour", clearable=False, value=7,
                                           options=HOUR_OPTIONS), 2),
                _choice("Time zone", dcc.Dropdown(id="compliance-sub-timezone", options=time_zones(), value="UTC",
                                                  clearable=False), 5),
                _choice("Webhook (optional)", dbc.Input(id="compliance-sub-webhook", type="url",
                                                        maxLength=subscriptions.URL_MAX,
                                                        placeholder="https://hooks.slack.com/services/…"), 12),
            ], className="g-2"),
            dbc.Button("Subscribe", id="compliance-sub-create", color="primary", size="sm", className="mt-3"),
            html.Div([dcc.Dropdown(id="compliance-sub-mine", options=mine, placeholder="Your compliance "
                                   "subscriptions", style={"flex": "1 1 260px", "minWidth": 0}),
                      dbc.Button("Stop", id="compliance-sub-stop", color="secondary", outline=True, size="sm")],
                     className="d-flex gap-2 align-items-center mt-3"),
            html.Div(id="compliance-sub-result", className="mt-2"),
        ])], className="mb-3 shadow-sm")


def _kpis(people: list[dict], requests: list[dict]) -> list:
    n = c.headline(people, requests)
    active, without, stale, open_requests = (n["active"], n["without_second_factor"], n["stale"],
                                             n["open_requests"])
    cards = [("People with access", f"{active:,}", "active accounts", "secondary"),
             ("Without a second factor", f"{without:,}", "of the active people", "danger" if without else "success"),
             (f"No sign-in for {c.STALE_DAYS} days", f"{stale:,}", "review whether they still need access",
              "warning" if stale else "success"),
             ("Open data-subject requests", f"{open_requests:,}", "awaiting an administrator",
              "warning" if open_requests else "success")]
    return [dbc.Col(kpi_card(t, v, d, tone), xs=6, lg=3) for t, v, d, tone in cards]


def _chain(extract: c.AuditExtract) -> dbc.Alert:
    chain = extract.chain
    if chain.ok:
        return dbc.Alert([html.Strong("Audit chain intact. "),
                          f"{chain.checked:,} events checked, every link matches; {extract.total:,} in this period."],
                         color="success", className="mb-0")
    return dbc.Alert([html.Strong("Audit chain broken. "),
                      f"First broken event: #{chain.broken_id} — {chain.reason}. Events from there on are unproven."],
                     color="danger", className="mb-0")


@protected_callback(
    Output("compliance-kpis", "children"),
    Output("compliance-chain", "children"),
    Output("compliance-access", "rowData"),
    Output("compliance-requests", "rowData"),
    Output("compliance-retention", "rowData"),
    Output("compliance-actions", "rowData"),
    Output("compliance-message", "children"),
    Input("compliance-org", "value"),
    Input("compliance-dates", "start_date"),
    Input("compliance-dates", "end_date"),
    permission=c.COMPLIANCE_READ,
    objects={"organization_id": ("organization", _org_ok)},
)
def show(organization_id, start, end):
    """The four parts for the chosen organization and period; a bad period is said, nothing else changes."""
    db, now = get_db(), datetime.now(UTC)
    try:
        period = c.read_period(start, end, now.date())
    except ValueError as exc:
        return [], None, [], [], [], [], dbc.Alert(str(exc), color="warning")
    org = int(organization_id)
    people = c.access_review(db, org, now)
    extract = c.audit_extract(db, org, period)
    requests = c.subject_requests(db, org, period)
    actions = [{"action": a, "events": n} for a, n in extract.by_action.items()]
    return (_kpis(people, requests), _chain(extract), people, requests, c.retention_status(db, org, now),
            actions, None)


@protected_callback(
    Output("compliance-report-download", "data"),
    Output("compliance-report-message", "children"),
    Input("compliance-report-pdf", "n_clicks"),
    Input("compliance-report-xlsx", "n_clicks"),
    State("compliance-org", "value"),
    State("compliance-dates", "start_date"),
    State("compliance-dates", "end_date"),
    permission=c.COMPLIANCE_READ,
    objects={"organization_id": ("organization", _org_ok)},
    prevent_initial_call=True,
)
def download(_pdf, _xlsx, organization_id, start, end):
    """The same report as PDF or XLSX (core.reports.compliance)."""
    return send_report("compliance", {"organization_id": organization_id, "start": start, "end": end})


@protected_callback(
    Output("compliance-sub-result", "children"),
    Output("compliance-sub-mine", "options"),
    Input("compliance-sub-create", "n_clicks"),
    Input("compliance-sub-stop", "n_clicks"),
    State("compliance-org", "value"),
    State("compliance-sub-format", "value"),
    State("compliance-sub-cadence", "value"),
    State("compliance-sub-hour", "value"),
    State("compliance-sub-timezone", "value"),
    State("compliance-sub-webhook", "value"),
    State("compliance-sub-mine", "value"),
    permission=c.COMPLIANCE_READ,
    objects={"organization_id": ("organization", _org_ok)},
    prevent_initial_call=True,
)
def subscribe(_create, _stop, organization_id, fmt, cadence, hour, timezone, webhook, chosen):
    """Subscribe to the chosen organization's report, or stop one of one's own (ownership checked in core)."""
    db, principal = get_db(), current_principal()
    try:
        if ctx.triggered_id == "compliance-sub-stop":
            if chosen is None:
                return dbc.Alert("Choose one of your subscriptions first.", color="secondary"), _mine()
            subscriptions.delete_subscription(db, principal, chosen)
            return dbc.Alert("Stopped.", color="success"), _mine()
        subscriptions.create_subscription(db, principal, {
            "report": "compliance", "target_id": organization_id, "format": fmt, "cadence": cadence, "hour": hour,
            "timezone": timezone, "email": True, "webhook_url": webhook})
        result = dbc.Alert("Subscribed. The first report comes at the next scheduled time.", color="success")
    except subscriptions.SubscriptionError as exc:
        result = dbc.Alert([html.Strong("Nothing was saved. "), str(exc)], color="danger")
    except (subscriptions.SubscriptionNotFound, Forbidden):
        result = dbc.Alert("That is not yours to change, or you may not read this organization's report.",
                           color="danger")
    return result, _mine()
