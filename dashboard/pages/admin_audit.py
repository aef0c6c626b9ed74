"""The audit trail in my scope: the recent security alerts found in it, then the events (filter by action,
actor and dates, page through them) and the chain's verification.

Rows come from `core.admin.audit_events`, narrowed by the `audit:read` scope filter; the actor and
organization filters the browser posts are checked against the same scope first. "Verify chain"
walks the whole hash chain and reports ok or the first broken event. The security alerts are
`core.security_alerts.listing.recent_alerts` (the same audit:read scope; System Administrators also see the
system-wide ones), each with where it was sent.
"""

from __future__ import annotations

import logging

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, ctx, dcc, html

from core.admin import AUDIT_READ, PAGE_SIZE, audit_actions, audit_events, organizations_in_scope, user_options
from core.runtime import get_db
from core.security import Principal, can, verify_chain
from core.security_alerts.listing import recent_alerts
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal

register_page(__name__, permission=AUDIT_READ, path="/admin/audit", name="Audit", title="Audit · Digi-Cadence")

log = logging.getLogger(__name__)
FILTERS = ("admin-audit-action", "admin-audit-actor", "admin-audit-dates", "admin-audit-org")


def _actor_ok(principal: Principal, actor_id) -> bool:
    try:
        return can(principal, AUDIT_READ, ("user", int(actor_id)))
    except (TypeError, ValueError):
        return False


def _org_ok(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, AUDIT_READ, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


COLUMNS = [
    {"field": "id", "headerName": "#", "maxWidth": 90, "type": "rightAligned"},
    {"field": "when", "headerName": "When (UTC)", "minWidth": 175},
    {"field": "action", "headerName": "Action", "minWidth": 170,
     "cellClassRules": {"text-danger": "params.value == 'authz.denied' || params.value == 'auth.locked' || "
                                       "params.value == 'auth.sign_in_failed'"}},
    {"field": "actor", "headerName": "Actor", "minWidth": 240},
    {"field": "target", "headerName": "Target", "minWidth": 240},
    {"field": "details", "headerName": "Details", "minWidth": 340, "wrapText": True, "autoHeight": True,
     "cellStyle": {"lineHeight": "1.5", "paddingTop": "6px", "paddingBottom": "6px"}},
]


def _security_alerts(principal: Principal) -> dbc.Card:
    """The newest security alerts in the person's scope, in words, each with whom it reached."""
    alerts = recent_alerts(get_db(), principal, limit=20)
    if not alerts:
        body = html.Div("No security alerts: no lockout bursts, denial spikes, new administrators, two-factor or "
                        "key resets, sign-ins from new networks or chain breaks were found.",
                        className="text-muted small", id="admin-audit-no-security-alerts")
    else:
        body = dbc.ListGroup([dbc.ListGroupItem([
            html.Div([dbc.Badge(a["kind_name"], color="danger" if a["kind"] == "audit_chain" else "warning",
                                text_color="dark" if a["kind"] != "audit_chain" else None, className="me-2"),
                      html.Strong(a["title"])], className="mb-1"),
            html.Div(a["detail"], className="small"),
            html.Div(f"{a['organization']} · {a['when']} · {a['sent']}",
                     className="small " + ("text-danger" if a["problem"] else "text-muted"), style={"overflowWrap":
                                                                                                   "anywhere"}),
        ], className="security-alert") for a in alerts], flush=True)
    return dbc.Card([dbc.CardHeader([html.Span("Security alerts", className="fw-semibold"),
                                     html.Span(" · sent to the security contacts set on the Settings page",
                                               className="small text-muted")]),
                     dbc.CardBody(body, className="p-2")], className="mb-3 shadow-sm", id="admin-audit-security")


def layout(**_query) -> html.Div:
    """Filters on top, one page of events below, the verify button beside the title."""
    principal = current_principal()
    db = get_db()
    organizations = organizations_in_scope(db, principal, AUDIT_READ)
    org_filter = dbc.Col([
        dbc.Label("Organization", html_for="admin-audit-org"),
        dcc.Dropdown(id="admin-audit-org", options=[{"label": o["name"], "value": o["id"]} for o in organizations],
                     placeholder="All"),
    ], md=2, style=None if principal.is_system_admin else {"display": "none"})
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Audit trail", className="mb-0"),
                     html.Div("Every sign-in, change and refusal, hash-chained so tampering shows.",
                              className="text-muted small")], md=8),
            dbc.Col(dbc.Button("Verify chain", id="admin-audit-verify", color="secondary", outline=True), md=4,
                    className="text-md-end"),
        ], className="align-items-center g-2 mb-2"),
        dcc.Loading(html.Div(id="admin-audit-verify-result"), delay_show=200),
        _security_alerts(principal),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col([dbc.Label("Action", html_for="admin-audit-action"),
                     dcc.Dropdown(id="admin-audit-action", options=audit_actions(), placeholder="All actions")], md=3),
            dbc.Col([dbc.Label("Actor", html_for="admin-audit-actor"),
                     dcc.Dropdown(id="admin-audit-actor", options=user_options(db, principal, AUDIT_READ),
                                  placeholder="Anyone")], md=3),
            dbc.Col([dbc.Label("Dates", html_for="admin-audit-dates"),
                     html.Div(dcc.DatePickerRange(id="admin-audit-dates", display_format="YYYY-MM-DD",
                                                  clearable=True, start_date_placeholder_text="From",
                                                  end_date_placeholder_text="To"))], md=4),
            org_filter,
        ], className="g-2")), className="mb-3 shadow-sm"),
        dbc.Card([
            dbc.CardHeader(html.Div(id="admin-audit-count", className="small text-muted")),
            dbc.CardBody([
                dcc.Loading(dag.AgGrid(
                    id="admin-audit-grid", columnDefs=COLUMNS, rowData=[], columnSize="responsiveSizeToFit",
                    getRowId="params.data.id", className="ag-theme-quartz",
                    defaultColDef={"sortable": False, "resizable": True, "cellDataType": False},
                    dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                                     "localeText": {"noRowsToShow": "No events match these filters."}},
                ), delay_show=300),
                dbc.Pagination(id="admin-audit-page", max_value=1, active_page=1, fully_expanded=False,
                               first_last=True, previous_next=True, className="mt-3 mb-0"),
            ]),
        ], className="mb-4 shadow-sm"),
    ])


@protected_callback(
    Output("admin-audit-grid", "rowData"),
    Output("admin-audit-count", "children"),
    Output("admin-audit-page", "max_value"),
    Output("admin-audit-page", "active_page"),
    Input("admin-audit-action", "value"),
    Input("admin-audit-actor", "value"),
    Input("admin-audit-dates", "start_date"),
    Input("admin-audit-dates", "end_date"),
    Input("admin-audit-org", "value"),
    Input("admin-audit-page", "active_page"),
    permission=AUDIT_READ,
    objects={"actor_id": ("user", _actor_ok), "organization_id": ("organization", _org_ok)},
)
def show_events(action, actor_id, start, end, organization_id, page):
    """One page of events; a changed filter starts again at page 1."""
    if ctx.triggered_id in FILTERS:
        page = 1
    try:
        result = audit_events(get_db(), current_principal(), action=action or None, actor_id=actor_id,
                              organization_id=organization_id, start=start, end=end, page=page or 1,
                              page_size=PAGE_SIZE)
    except ValueError:
        return [], dbc.Alert("Those filters are not valid (dates as YYYY-MM-DD).", color="warning",
                             className="mb-0"), 1, 1
    for row in result.rows:
        row["when"] = row["created_at"][:19].replace("T", " ")
    first = (result.page - 1) * PAGE_SIZE + 1
    count = (f"{result.total} events · showing {first}–{first + len(result.rows) - 1}, newest first"
             if result.total else "No events match these filters.")
    return result.rows, count, result.pages, result.page


@protected_callback(
    Output("admin-audit-verify-result", "children"),
    Input("admin-audit-verify", "n_clicks"),
    permission=AUDIT_READ,
    prevent_initial_call=True,
)
def verify(_clicks):
    """Walk the hash chain from the first event; say where it breaks, if it does."""
    try:
        result = verify_chain(get_db())
    except Exception:  # a failed check must say so, not look like a pass
        log.exception("audit chain verification failed")
        return dbc.Alert("The chain could not be checked. Try again; if it persists, tell an operator.",
                         color="danger", dismissable=True, id="admin-audit-verdict")
    if result.ok:
        return dbc.Alert([html.Strong("Chain intact. "), f"{result.checked} events checked, every link matches."],
                         color="success", dismissable=True, id="admin-audit-verdict")
    return dbc.Alert([html.Strong("Chain broken. "),
                      f"First broken event: #{result.broken_id} — {result.reason}. "
                      f"{result.checked} events before it are intact."],
                     color="danger", dismissable=True, id="admin-audit-verdict")
