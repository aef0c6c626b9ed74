"""Users administration: who has an account in my scope, who is locked out, and the actions on one.

Every action goes through `Accounts` with the principal of whoever clicks, so the same rules hold
as for the API: `user:manage` on that very user and no takeover of an account stronger than the
actor's. The selected row comes from the browser and is re-checked before anything runs.
"""

from __future__ import annotations

import logging

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html
from flask import current_app, request, session

from core.admin import USER_MANAGE, can_see_user, list_users, organizations_in_scope, revoke_user_sessions
from core.runtime import get_db
from core.security import Accounts, Forbidden, InvalidCredentials, Principal, can
from core.security.identity import normalize_email
from core.security.security_key_policy import reset_keys
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

register_page(__name__, permission=USER_MANAGE, path="/admin/users", name="Users", title="Users · Digi-Cadence")

log = logging.getLogger(__name__)
NOT_ALLOWED = "You are not allowed to do this for that user."
ACTIONS = {
    "admin-users-disable": "disable", "admin-users-enable": "enable", "admin-users-unlock": "unlock",
    "admin-users-reset-mfa": "reset MFA", "admin-users-reset-password": "reset the password",
    "admin-users-revoke-sessions": "revoke sessions", "admin-users-erase-confirm": "erase",
    "admin-users-reset-keys": "reset security keys",
}


def _accounts() -> Accounts:
    return current_app.extensions["digicadence.accounts"]


def _when(iso: str | None) -> str | None:
    """'2025-01-31 14:05 UTC' — readable, and sorts like the timestamp."""
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else None


def _row_in_scope(principal: Principal, row) -> bool:
    """A grid row posted by the browser names a user; only its id counts, checked against the scope."""
    return can_see_user(principal, row.get("id") if isinstance(row, dict) else row, USER_MANAGE)


def _org_allowed(principal: Principal, organization_id) -> bool:
    """0 means "no organization" (the accounts service lets only system administrators use it)."""
    if organization_id == 0:
        return True
    try:
        return can(principal, USER_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _alert(message, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="mt-2 mb-0")


def _create_card(organizations: list[dict], system_admin: bool) -> dbc.Card:
    org_options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    if system_admin:
        org_options.insert(0, {"label": "— none (system administrator account)", "value": 0})
    return dbc.Card(
        dbc.CardBody([
            html.H5("New user", className="card-title"),
            dbc.Row([
                dbc.Col([dbc.Label("E-mail", html_for="admin-users-email"),
                         dbc.Input(id="admin-users-email", type="email", placeholder="name@company.com")], md=4),
                dbc.Col([dbc.Label("Name", html_for="admin-users-name"),
                         dbc.Input(id="admin-users-name", placeholder="Full name")], md=3),
                dbc.Col([dbc.Label("Organization", html_for="admin-users-org"),
                         dcc.Dropdown(id="admin-users-org", options=org_options, clearable=False,
                                      value=organizations[0]["id"] if organizations else None,
                                      disabled=len(org_options) <= 1)], md=3),
                dbc.Col([dbc.Label("First sign-in by"),
                         dbc.RadioItems(id="admin-users-method", value="invite",
                                        options=[{"label": "Invitation link", "value": "invite"},
                                                 {"label": "Temporary password", "value": "password"}])], md=2),
            ], className="g-3"),
            dbc.Button("Create user", id="admin-users-create", color="primary", className="mt-3"),
            html.Div(id="admin-users-create-result"),
        ]),
        className="mb-3 shadow-sm",
    )


def _columns(system_admin: bool) -> list[dict]:
    status_classes = {"text-danger fw-semibold": "params.value == 'locked'",
                      "text-muted": "params.value == 'disabled' || params.value == 'erased'",
                      "text-success": "params.value == 'active'"}
    columns = [
        {"field": "email", "headerName": "E-mail", "minWidth": 270, "pinned": "left"},
        {"field": "name", "headerName": "Name", "minWidth": 170},
        {"field": "status", "headerName": "Status", "minWidth": 100, "cellClassRules": status_classes},
        {"field": "locked_until", "headerName": "Locked until", "minWidth": 185},
        {"field": "mfa_label", "headerName": "MFA", "minWidth": 80},
        {"field": "security_keys", "headerName": "Keys", "minWidth": 80},
        {"field": "roles", "headerName": "Roles", "minWidth": 210},
        {"field": "last_sign_in_at", "headerName": "Last sign-in", "minWidth": 185},
        {"field": "erasure_requested_at", "headerName": "Erasure requested", "minWidth": 185,
         "cellClassRules": {"text-danger": "params.value != null"}},
        {"field": "created_at", "headerName": "Created", "minWidth": 185},
    ]
    if system_admin:
        columns.insert(2, {"field": "organization", "headerName": "Organization", "minWidth": 140})
    return columns


def layout(**_query) -> html.Div:
    """The users grid with its toolbar; the grid loads by callback so actions can refresh it."""
    principal = current_principal()
    organizations = organizations_in_scope(get_db(), principal, USER_MANAGE)
    toolbar = dbc.ButtonGroup([
        dbc.Button("Disable", id="admin-users-disable", color="secondary", outline=True, disabled=True),
        dbc.Button("Enable", id="admin-users-enable", color="secondary", outline=True, disabled=True),
        dbc.Button("Unlock", id="admin-users-unlock", color="secondary", outline=True, disabled=True),
        dbc.Button("Reset MFA", id="admin-users-reset-mfa", color="secondary", outline=True, disabled=True),
        dbc.Button("Reset password", id="admin-users-reset-password", color="secondary", outline=True,
                   disabled=True),
        dbc.Button("Revoke sessions", id="admin-users-revoke-sessions", color="secondary", outline=True,
                   disabled=True),
        dbc.Button("Reset security keys", id="admin-users-reset-keys", color="secondary", outline=True,
                   disabled=True),
        dbc.Button("Execute erasure…", id="admin-users-erase", color="danger", outline=True, disabled=True),
    ], size="sm", className="flex-wrap")
    erase_modal = dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Erase this person?")),
        dbc.ModalBody(id="admin-users-erase-body"),
        dbc.ModalFooter([
            dbc.Button("Cancel", id="admin-users-erase-cancel", color="secondary", outline=True),
            dbc.Button("Erase permanently", id="admin-users-erase-confirm", color="danger"),
        ]),
    ], id="admin-users-erase-modal", is_open=False)
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Users", className="mb-0"),
                     html.Div("Accounts you administer: lockouts, two-factor state, sessions and erasure requests.",
                              className="text-muted small")], md=8),
            dbc.Col(dbc.Button("New user", id="admin-users-new", color="primary"), md=4,
                    className="text-md-end"),
        ], className="align-items-center g-2 mb-3"),
        dbc.Collapse(_create_card(organizations, principal.is_system_admin), id="admin-users-create-collapse",
                     is_open=False),
        html.Div(id="admin-users-summary"),
        dbc.Card([
            dbc.CardHeader(dbc.Row([
                dbc.Col(toolbar, lg=9),
                dbc.Col(dbc.Input(id="admin-users-filter", placeholder="Filter…", size="sm", type="search"), lg=3),
            ], className="g-2 align-items-center")),
            dbc.CardBody([
                html.Div("Select a user in the grid to act on them.", id="admin-users-selected",
                         className="small text-muted mb-2"),
                html.Div(id="admin-users-result"),
                dcc.Loading(dag.AgGrid(
                    id="admin-users-grid", columnDefs=_columns(principal.is_system_admin), rowData=[],
                    getRowId="params.data.id", columnSize="responsiveSizeToFit", className="ag-theme-quartz mt-2",
                    defaultColDef={"sortable": True, "filter": True, "resizable": True, "cellDataType": False},
                    dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "pagination": True,
                                     "paginationPageSize": 25, "paginationPageSizeSelector": False,
                                     "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                      "enableClickSelection": True},
                                     "localeText": {"noRowsToShow": "No users in your scope."}},
                ), delay_show=300),
            ]),
        ], className="mb-4 shadow-sm"),
        erase_modal,
        dcc.Store(id="admin-users-created", data=0),
        dcc.Store(id="admin-users-acted", data=0),
    ])


@protected_callback(
    Output("admin-users-create-collapse", "is_open"),
    Input("admin-users-new", "n_clicks"),
    State("admin-users-create-collapse", "is_open"),
    permission=USER_MANAGE,
    prevent_initial_call=True,
)
def toggle_create(_clicks, is_open):
    """Show or hide the new-user form."""
    return not is_open


@protected_callback(
    Output("admin-users-grid", "rowData"),
    Output("admin-users-summary", "children"),
    Input("admin-users-created", "data"),
    Input("admin-users-acted", "data"),
    permission=USER_MANAGE,
)
def load_users(_created, _acted):
    """The users in scope, fresh after every change; lockouts and erasure requests called out on top."""
    try:
        users = list_users(get_db(), current_principal())
    except Exception:  # the page stays usable and says so; the log has the details
        log.exception("listing users failed")
        return [], _alert("The list of users could not be loaded. Try reloading the page.")
    for user in users:
        user["mfa_label"] = "on" if user["mfa"] else "off"
        for field in ("locked_until", "last_sign_in_at", "created_at", "erasure_requested_at"):
            user[field] = _when(user[field])
    if not users:
        return [], empty_state("No users in your scope yet.", "Create one with “New user”.")
    locked = [u for u in users if u["locked"]]
    requests = [u for u in users if u["erasure_requested_at"]]
    notes = []
    if locked:
        notes.append(dbc.Alert([html.Strong(f"{len(locked)} locked out: "),
                                "; ".join(f"{u['email']} until {u['locked_until']}" for u in locked),
                                html.Span(" — select one and Unlock, or wait.", className="small")],
                               color="warning", className="mb-2", id="admin-users-locked"))
    if requests:
        notes.append(dbc.Alert([html.Strong(f"{len(requests)} erasure request(s): "),
                                "; ".join(f"{u['email']} on {u['erasure_requested_at']}" for u in requests),
                                html.Span(" — select the person and Execute erasure.", className="small")],
                               color="danger", className="mb-2", id="admin-users-erasure-requests"))
    active = sum(1 for u in users if u["status"] == "active")
    counts = html.Div(f"{len(users)} users · {active} active · {len(locked)} locked · "
                      f"{sum(1 for u in users if not u['mfa'])} without MFA", className="small text-muted mb-2")
    return users, [*notes, counts]


@protected_callback(
    Output("admin-users-grid", "dashGridOptions"),
    Input("admin-users-filter", "value"),
    State("admin-users-grid", "dashGridOptions"),
    permission=USER_MANAGE,
    prevent_initial_call=True,
)
def quick_filter(text, options):
    """Filter the grid as one types (client-side data that the server already scoped)."""
    return {**(options or {}), "quickFilterText": text or ""}


@protected_callback(
    Output("admin-users-selected", "children"),
    Output("admin-users-disable", "disabled"),
    Output("admin-users-enable", "disabled"),
    Output("admin-users-unlock", "disabled"),
    Output("admin-users-reset-mfa", "disabled"),
    Output("admin-users-reset-password", "disabled"),
    Output("admin-users-revoke-sessions", "disabled"),
    Output("admin-users-erase", "disabled"),
    Output("admin-users-reset-keys", "disabled"),
    Input("admin-users-grid", "selectedRows"),
    Input("admin-users-grid", "rowData"),
    permission=USER_MANAGE,
    objects={"rows": ("user", _row_in_scope)},
)
def selection(rows, data):
    """Enable the actions that make sense for the selected user, from the server's fresh row."""
    selected = (rows or [None])[0]
    fresh = next((u for u in data or [] if selected and u.get("id") == selected.get("id")), None)
    if fresh is None:
        return ("Select a user in the grid to act on them.", *([True] * 8))
    erased = fresh["status"] == "erased"
    label = [html.Strong(fresh["email"]), f" — {fresh['status']}, MFA {fresh['mfa_label']}"]
    return (label, erased or not fresh["active"], erased or fresh["active"], not fresh["locked"],
            erased or not fresh["mfa"], erased, erased, erased, erased or not fresh.get("security_keys"))


@protected_callback(
    Output("admin-users-erase-modal", "is_open"),
    Output("admin-users-erase-body", "children"),
    Input("admin-users-erase", "n_clicks"),
    Input("admin-users-erase-cancel", "n_clicks"),
    Input("admin-users-erase-confirm", "n_clicks"),
    State("admin-users-grid", "selectedRows"),
    permission=USER_MANAGE,
    objects={"rows": ("user", _row_in_scope)},
    prevent_initial_call=True,
)
def erase_dialog(_open, _cancel, _confirm, rows):
    """Ask before erasing: it cannot be undone."""
    if ctx.triggered_id != "admin-users-erase" or not rows:
        return False, dash.no_update
    body = [html.P(["Erase ", html.Strong(rows[0].get("email", "")), "? Their name and e-mail are replaced by a "
                    "pseudonym, credentials, grants and sessions are removed, and personal data in the audit trail "
                    "is blanked. The audit chain stays valid."]),
            html.P("This cannot be undone.", className="text-danger mb-0")]
    return True, body


def _shown_once(title: str, secret: str, hint: str) -> dbc.Alert:
    return dbc.Alert([html.Strong(title), html.Div(html.Code(secret, className="user-select-all fs-6"),
                                                   className="my-2 text-break"),
                      html.Div(hint, className="small")], color="warning", className="mt-2 mb-0")


def _invite_link(token: str) -> str:
    return f"{request.host_url.rstrip('/')}/login/invite/{token}"


@protected_callback(
    Output("admin-users-create-result", "children"),
    Output("admin-users-created", "data"),
    Input("admin-users-create", "n_clicks"),
    State("admin-users-email", "value"),
    State("admin-users-name", "value"),
    State("admin-users-org", "value"),
    State("admin-users-method", "value"),
    State("admin-users-created", "data"),
    permission=USER_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
    prevent_initial_call=True,
)
def create_user(_clicks, email, name, organization_id, method, version):
    """Create the account; the temporary password or invitation link is shown this once only."""
    if not isinstance(email, str) or not email.strip():
        return _alert("Enter an e-mail address.", "warning"), dash.no_update
    try:
        new = _accounts().create_user(current_principal(), email=email, name=name if isinstance(name, str) else "",
                                      organization_id=organization_id or None, invite=method == "invite")
    except Forbidden:
        return _alert("You are not allowed to create users there."), dash.no_update
    except ValueError as exc:  # the reason is a plain sentence (look-alike address, duplicate ...)
        return _alert(f"Not created. {exc}", "warning"), dash.no_update
    email = normalize_email(email)  # as stored: that is the address they sign in with
    if new.invite_token:
        shown = _shown_once(f"{email} was invited. Send them this link (shown only now):",
                            _invite_link(new.invite_token),
                            f"It works once, until {new.invite_expires_at:%Y-%m-%d %H:%M} UTC.")
    else:
        shown = _shown_once(f"{email} was created. Temporary password (shown only now):",
                            new.temporary_password, "They must choose a new password at their first sign-in.")
    return shown, (version or 0) + 1


@protected_callback(
    Output("admin-users-result", "children"),
    Output("admin-users-acted", "data"),
    Input("admin-users-disable", "n_clicks"),
    Input("admin-users-enable", "n_clicks"),
    Input("admin-users-unlock", "n_clicks"),
    Input("admin-users-reset-mfa", "n_clicks"),
    Input("admin-users-reset-password", "n_clicks"),
    Input("admin-users-revoke-sessions", "n_clicks"),
    Input("admin-users-erase-confirm", "n_clicks"),
    Input("admin-users-reset-keys", "n_clicks"),
    State("admin-users-grid", "selectedRows"),
    State("admin-users-acted", "data"),
    permission=USER_MANAGE,
    objects={"rows": ("user", _row_in_scope)},
    prevent_initial_call=True,
)
def act(_disable, _enable, _unlock, _mfa, _password, _sessions, _erase, _keys, rows, version):
    """Run one action on the selected user through the accounts service, with the clicker's principal."""
    action = ACTIONS.get(ctx.triggered_id)
    if action is None or not rows:
        return _alert("Select a user first.", "warning"), dash.no_update
    user_id, email = int(rows[0]["id"]), rows[0].get("email", "")
    principal, accounts = current_principal(), _accounts()
    try:
        if action == "disable":
            accounts.disable_user(principal, user_id)
            message = f"{email} is disabled and signed out everywhere."
        elif action == "enable":
            accounts.enable_user(principal, user_id)
            message = f"{email} is enabled."
        elif action == "unlock":
            accounts.unlock_user(principal, user_id)
            message = f"{email} is unlocked and may sign in again."
        elif action == "reset security keys":
            reset_keys(accounts, principal, user_id)
            message = f"Every security key of {email} was removed and their sessions ended; they add a new one."
        elif action == "reset MFA":
            accounts.reset_mfa(principal, user_id)
            message = f"Two-factor sign-in of {email} was reset; they enrol again at their next sign-in."
        elif action == "reset the password":
            temporary = accounts.admin_reset_password(principal, user_id)
            return _shown_once(f"New temporary password for {email} (shown only now):", temporary,
                               "Their sessions ended; they must choose a new password at the next sign-in."), \
                (version or 0) + 1
        elif action == "revoke sessions":
            store = current_app.session_interface.store
            count = revoke_user_sessions(get_db(), store, principal, user_id, keep=session.record.key
                                         if getattr(session, "record", None) else None)
            message = f"{count} session(s) of {email} ended."
        else:
            accounts.erase_user(principal, user_id)
            message = f"User #{user_id} was erased: personal data removed, the audit chain intact."
    except Forbidden:
        return _alert(NOT_ALLOWED), dash.no_update
    except (ValueError, InvalidCredentials, LookupError) as exc:
        return _alert(f"Could not {action}: {exc}.", "warning"), dash.no_update
    return _alert(message, "success"), (version or 0) + 1
