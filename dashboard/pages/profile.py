"""The signed-in person's own page: account, password, two-factor sign-in, security keys, sessions, their data.

Everything here acts on `current_user` only; no callback takes a user id from the browser. The one
id it does take, a session key to revoke, is checked to be one of this person's live sessions.
"""

from __future__ import annotations

import base64
import json

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import segno
from dash import Input, Output, State, ctx, dcc, html
from flask import current_app, session
from flask_login import current_user

from core.admin import (
    my_profile,
    own_sessions,
    owns_session,
    request_erasure,
    revoke_other_own_sessions,
    revoke_own_session,
)
from core.runtime import get_db
from core.security import Accounts, InvalidCredentials, Principal
from core.security import webauthn_keys as wk
from core.sessions import SessionStore
from dashboard.access import protected_callback, register_page
from dashboard.security_keys_card import security_keys_card

READ = "portfolio:read"
register_page(__name__, permission=READ, path="/profile", name="Profile", title="Profile · Digi-Cadence", nav=False)



def _accounts() -> Accounts:
    return current_app.extensions["digicadence.accounts"]


def _store() -> SessionStore:
    return current_app.session_interface.store


def _current_key() -> str | None:
    record = getattr(session, "record", None)
    return record.key if record is not None else None


def _me() -> int:
    return int(current_user.id)


def _own_session_row(principal: Principal, row) -> bool:
    """A session row posted by the browser: its key must name one of this person's live sessions (the
    kind is "user": what is checked is that the session's owner is the person asking)."""
    return isinstance(row, dict) and owns_session(_store(), principal.user_id, row.get("key"))


def _when(iso: str | None) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else "never"


def _alert(message, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="mt-2 mb-0")


def _qr_data_uri(uri: str) -> str:
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _account_card(me: dict) -> dbc.Card:
    grants = [html.Li(f"{g['role_label']} — {g['scope_type']} {g['scope']}") for g in me["grants"]]
    facts = [("Name", me["name"] or "—"), ("E-mail", me["email"]), ("Organization", me["organization"] or "—"),
             ("Last sign-in", _when(me["last_sign_in_at"])), ("Password changed", _when(me["password_changed_at"]))]
    return dbc.Card(dbc.CardBody([
        html.H5("Account", className="card-title"),
        html.Dl([item for label, value in facts for item in (html.Dt(label, className="col-sm-4"),
                                                              html.Dd(value, className="col-sm-8"))],
                className="row mb-2"),
        html.Div("Roles", className="fw-semibold"),
        html.Ul(grants or [html.Li("none")], className="small"),
        dbc.Button("Change password", href="/login/password?next=/profile", external_link=True, color="primary",
                   outline=True, id="profile-change-password"),
        html.Div("Changing it signs you out everywhere else.", className="small text-muted mt-1"),
    ]), className="shadow-sm h-100")


def _mfa_card(me: dict) -> dbc.Card:
    if me["mfa"]:
        left = me["recovery_codes_left"]
        codes = (f"{left} recovery code(s) left: each signs you in once without your phone." if left else
                 "No recovery codes left: if you lose your device, an administrator must reset two-factor sign-in.")
        status = [dbc.Badge("On", color="success", className="me-2"), codes]
    elif me.get("security_keys"):
        status = [dbc.Badge("Key", color="success", className="me-2"),
                  "Your security key is your second factor. An authenticator app as well is optional."]
    else:
        status = [dbc.Badge("Off", color="secondary", className="me-2"),
                  "Protect your account with an authenticator app (required for administrators)."]
    enrol = html.Div([
        html.P("Scan this with your authenticator app, then enter the 6-digit code it shows.", className="small"),
        html.Img(id="profile-mfa-qr", alt="QR code for your authenticator app", width=180, height=180),
        html.Div(["Or enter this key by hand: ", html.Code(id="profile-mfa-key", className="user-select-all")],
                 className="small my-2"),
        dbc.InputGroup([dbc.Input(id="profile-mfa-code", placeholder="123456", inputMode="numeric",
                                  autoComplete="one-time-code", maxLength=8),
                        dbc.Button("Turn on", id="profile-mfa-confirm", color="primary")], style={"maxWidth": 300}),
    ], id="profile-mfa-enrol", hidden=True, className="mt-2")
    enrol = html.Div(enrol, id="profile-mfa-enrol-wrap")
    return dbc.Card(dbc.CardBody([
        html.H5("Two-factor sign-in", className="card-title"),
        html.Div(status, id="profile-mfa-status", className="mb-2"),
        dbc.Button("Set up two-factor sign-in", id="profile-mfa-begin", color="primary", outline=True,
                   style={"display": "none"} if me["mfa"] else None),
        enrol,
        html.Div(id="profile-mfa-begin-result"),
        html.Div(id="profile-mfa-result"),
    ]), className="shadow-sm h-100")


def _sessions_card() -> dbc.Card:
    columns = [
        {"field": "this", "headerName": "", "maxWidth": 130},
        {"field": "last_seen", "headerName": "Last active", "minWidth": 150},
        {"field": "created", "headerName": "Signed in", "minWidth": 150},
        {"field": "ip", "headerName": "IP address", "minWidth": 120},
        {"field": "user_agent", "headerName": "Browser", "minWidth": 260, "tooltipField": "user_agent"},
    ]
    return dbc.Card([
        dbc.CardHeader(html.H5("Active sessions", className="mb-0")),
        dbc.CardBody([
            dcc.Loading(dag.AgGrid(
                id="profile-sessions", columnDefs=columns, rowData=[], getRowId="params.data.key",
                columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                defaultColDef={"resizable": True, "sortable": True, "cellDataType": False},
                dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                                 "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                  "enableClickSelection": True},
                                 "localeText": {"noRowsToShow": "No sessions."}},
            ), delay_show=300),
            dbc.ButtonGroup([
                dbc.Button("Sign out selected session", id="profile-sessions-revoke", color="secondary",
                           outline=True),
                dbc.Button("Sign out all other sessions", id="profile-sessions-others", color="danger", outline=True),
            ], size="sm", className="mt-2"),
            html.Div(id="profile-sessions-result"),
        ]),
    ], className="shadow-sm mb-3")


def _data_card(me: dict) -> dbc.Card:
    pending = me["erasure_requested_at"]
    return dbc.Card(dbc.CardBody([
        html.H5("Your data", className="card-title"),
        html.P("Everything stored about you — profile, roles and your audit events — as a JSON file.",
               className="small"),
        dbc.Button("Download my data (JSON)", id="profile-download", color="primary", outline=True),
        dcc.Download(id="profile-download-file"),
        html.Hr(),
        html.P("Ask for your account to be erased. An administrator carries it out: your name and e-mail are "
               "replaced by a pseudonym, and you can no longer sign in.", className="small"),
        dbc.Button("Request erasure…", id="profile-erasure", color="danger", outline=True, disabled=bool(pending)),
        html.Div(f"Erasure requested on {_when(pending)}; an administrator will carry it out." if pending else "",
                 id="profile-erasure-status", className="small text-danger mt-2"),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Request erasure of your account?")),
            dbc.ModalBody("An administrator of your organization will be asked to erase your account. Once done, "
                          "it cannot be undone. Download your data first if you want a copy."),
            dbc.ModalFooter([dbc.Button("Cancel", id="profile-erasure-cancel", color="secondary", outline=True),
                             dbc.Button("Request erasure", id="profile-erasure-confirm", color="danger")]),
        ], id="profile-erasure-modal", is_open=False),
    ]), className="shadow-sm mb-3")


def layout(**_query) -> html.Div:
    """Account and security settings of the person signed in."""
    me = my_profile(get_db(), _me())
    me["security_keys"] = len(wk.list_keys(get_db(), _me()))
    return html.Div([
        html.H2("Profile", className="mb-3"),
        dbc.Row([dbc.Col(_account_card(me), lg=6), dbc.Col(_mfa_card(me), lg=6)], className="g-3 mb-3"),
        security_keys_card(),
        _sessions_card(),
        _data_card(me),
        dcc.Store(id="profile-sessions-version", data=0),
    ])


@protected_callback(
    Output("profile-mfa-enrol", "hidden"),
    Output("profile-mfa-qr", "src"),
    Output("profile-mfa-key", "children"),
    Output("profile-mfa-begin-result", "children"),
    Input("profile-mfa-begin", "n_clicks"),
    permission=READ,
    prevent_initial_call=True,
)
def begin_mfa(_clicks):
    """A new secret for this person, shown as a QR code and as text; nothing is on until confirmed."""
    try:
        enrolment = _accounts().begin_mfa_enrolment(_me())
    except (ValueError, InvalidCredentials) as exc:
        return True, None, "", _alert(f"Cannot set up two-factor sign-in: {exc}.", "warning")
    return False, _qr_data_uri(enrolment.provisioning_uri), enrolment.secret, None


@protected_callback(
    Output("profile-mfa-result", "children"),
    Output("profile-mfa-enrol-wrap", "hidden"),
    Output("profile-mfa-begin", "style"),
    Output("profile-mfa-status", "children"),
    Input("profile-mfa-confirm", "n_clicks"),
    State("profile-mfa-code", "value"),
    permission=READ,
    prevent_initial_call=True,
)
def confirm_mfa(_clicks, code):
    """Turn two-factor sign-in on with a first code; the recovery codes are shown this once."""
    try:
        codes = _accounts().confirm_mfa_enrolment(_me(), code or "")
    except (InvalidCredentials, ValueError):
        return (_alert("That code did not match. Check the time on your phone and try the current code.",
                       "warning"), dash.no_update, dash.no_update, dash.no_update)
    shown = dbc.Alert([
        html.Strong("Two-factor sign-in is on. Save these recovery codes now — each works once and they are "
                    "shown only this time:"),
        html.Ul([html.Li(c) for c in codes], className="font-monospace mb-0 mt-2", id="profile-recovery-codes"),
    ], color="warning", className="mt-2 mb-0")
    status = [dbc.Badge("On", color="success", className="me-2"), f"{len(codes)} recovery codes issued."]
    return shown, True, {"display": "none"}, status


@protected_callback(
    Output("profile-sessions", "rowData"),
    Input("profile-sessions-version", "data"),
    permission=READ,
)
def show_sessions(_version):
    """This person's live sessions, the current one marked and not selectable."""
    rows = own_sessions(_store(), _me(), _current_key())
    for row in rows:
        row["this"] = "this session" if row["current"] else ""
        row["last_seen"], row["created"] = _when(row["last_seen_at"]), _when(row["created_at"])
    return rows


@protected_callback(
    Output("profile-sessions-result", "children"),
    Output("profile-sessions-version", "data"),
    Input("profile-sessions-revoke", "n_clicks"),
    Input("profile-sessions-others", "n_clicks"),
    State("profile-sessions", "selectedRows"),
    State("profile-sessions-version", "data"),
    permission=READ,
    objects={"rows": ("user", _own_session_row)},
    prevent_initial_call=True,
)
def revoke_sessions(_one, _others, rows, version):
    """Sign out one other session, or all others; never another person's (checked before this runs)."""
    db, store, current = get_db(), _store(), _current_key()
    if ctx.triggered_id == "profile-sessions-others":
        count = revoke_other_own_sessions(db, store, _me(), current)
        return _alert(f"{count} other session(s) signed out.", "success"), (version or 0) + 1
    if not rows:
        return _alert("Select a session in the list first.", "warning"), dash.no_update
    try:
        revoke_own_session(db, store, _me(), rows[0]["key"], current)
    except ValueError as exc:
        return _alert(f"{str(exc).capitalize()}.", "warning"), dash.no_update
    return _alert("That session is signed out.", "success"), (version or 0) + 1


@protected_callback(
    Output("profile-download-file", "data"),
    Input("profile-download", "n_clicks"),
    permission=READ,
    prevent_initial_call=True,
)
def download(_clicks):
    """Everything stored about this person, as a JSON file."""
    export = _accounts().download_my_data(_me())
    return {"content": json.dumps(export, indent=2, ensure_ascii=False), "filename": "digicadence-my-data.json",
            "type": "application/json"}


@protected_callback(
    Output("profile-erasure-modal", "is_open"),
    Output("profile-erasure-status", "children"),
    Output("profile-erasure", "disabled"),
    Input("profile-erasure", "n_clicks"),
    Input("profile-erasure-cancel", "n_clicks"),
    Input("profile-erasure-confirm", "n_clicks"),
    permission=READ,
    prevent_initial_call=True,
)
def erasure(_open, _cancel, _confirm):
    """Ask first; on confirmation record the request for an administrator to carry out."""
    if ctx.triggered_id == "profile-erasure":
        return True, dash.no_update, dash.no_update
    if ctx.triggered_id != "profile-erasure-confirm":
        return False, dash.no_update, dash.no_update
    when = request_erasure(get_db(), _me())
    return False, f"Erasure requested on {_when(when.isoformat())}; an administrator will carry it out.", True
