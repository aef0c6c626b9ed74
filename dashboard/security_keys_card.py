"""The Profile page's "Security keys" card: add a key (named), list them with their last use, rename, remove.

Adding runs in the browser (assets/webauthn.js calls navigator.credentials.create and the
/auth/webauthn/register endpoints), then bumps `profile-keys-version` so the list reloads. Listing,
renaming and removing are callbacks on the signed-in person's own keys: the selected row's id comes
from the browser and is checked to be one of theirs before anything runs.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html
from flask_login import current_user

from core.runtime import get_db
from core.security import Principal
from core.security import webauthn_keys as wk
from core.security.security_key_policy import remove_own_key
from dashboard.access import protected_callback

READ = "portfolio:read"


def _me() -> int:
    return int(current_user.id)


def _when(iso: str | None) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else "never"


def _own_key_row(principal: Principal, row) -> bool:
    """A key row posted by the browser: its id must name one of this person's keys."""
    return isinstance(row, dict) and wk.owns_key(get_db(), principal.user_id, row.get("id"))


def _alert(message, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="mt-2 mb-0")


def security_keys_card() -> dbc.Card:
    columns = [
        {"field": "name", "headerName": "Name", "minWidth": 160},
        {"field": "kind", "headerName": "Used as", "minWidth": 170},
        {"field": "added", "headerName": "Added", "minWidth": 150},
        {"field": "last_used", "headerName": "Last used", "minWidth": 150},
    ]
    add = dbc.Row([
        dbc.Col([
            dbc.Label("Name of the new key", html_for="security-key-name", className="small mb-1"),
            dbc.Input(id="security-key-name", placeholder="e.g. Blue YubiKey", maxLength=wk.NAME_MAX),
        ], md=5),
        dbc.Col(dbc.Checkbox(id="security-key-passkey", value=True,
                             label="Also sign in with it without a password (passkey)"),
                md=4, className="pt-md-4"),
        dbc.Col(dbc.Button("Add security key", id="security-key-add", color="primary", className="w-100"),
                md=3, className="pt-md-4"),
    ], className="g-2 align-items-start")
    manage = dbc.Row([
        dbc.Col(dbc.InputGroup([
            dbc.Input(id="profile-keys-new-name", placeholder="New name", maxLength=wk.NAME_MAX),
            dbc.Button("Rename selected", id="profile-keys-rename", color="secondary", outline=True),
        ], size="sm"), md=8),
        dbc.Col(dbc.Button("Remove selected", id="profile-keys-remove", color="danger", outline=True, size="sm"),
                md=4, className="text-md-end"),
    ], className="g-2 mt-1")
    return dbc.Card([
        dbc.CardHeader(html.H5("Security keys", className="mb-0")),
        dbc.CardBody([
            html.P("A hardware key (such as a YubiKey) or a passkey on your phone or computer signs you in with a "
                   "touch instead of a code. Add more than one, so a lost key does not lock you out.",
                   className="small"),
            add,
            html.Div(id="security-key-message", role="status"),
            dag.AgGrid(
                id="profile-keys", columnDefs=columns, rowData=[], getRowId="params.data.id",
                columnSize="responsiveSizeToFit", className="ag-theme-quartz mt-3",
                defaultColDef={"resizable": True, "sortable": True, "cellDataType": False},
                dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                                 "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                  "enableClickSelection": True},
                                 "localeText": {"noRowsToShow": "No security keys yet."}},
            ),
            manage,
            html.Div(id="profile-keys-result"),
            dcc.Store(id="profile-keys-version", data=0),
        ]),
    ], className="shadow-sm mb-3", id="profile-security-keys")


@protected_callback(
    Output("profile-keys", "rowData"),
    Input("profile-keys-version", "data"),
    permission=READ,
)
def show_keys(_version):
    """This person's keys, oldest first, with when each was last used."""
    rows = wk.list_keys(get_db(), _me())
    for row in rows:
        row["kind"] = "passkey and second factor" if row["passkey"] else "second factor"
        row["added"], row["last_used"] = _when(row["created_at"]), _when(row["last_used_at"])
    return rows


@protected_callback(
    Output("profile-keys-result", "children"),
    Output("profile-keys-version", "data"),
    Input("profile-keys-rename", "n_clicks"),
    Input("profile-keys-remove", "n_clicks"),
    State("profile-keys", "selectedRows"),
    State("profile-keys-new-name", "value"),
    State("profile-keys-version", "data"),
    permission=READ,
    objects={"rows": ("user", _own_key_row)},
    prevent_initial_call=True,
)
def change_key(_rename, _remove, rows, name, version):
    """Rename or remove the selected key (one of this person's, checked before this runs)."""
    if not rows:
        return _alert("Select a key in the list first.", "warning"), dash.no_update
    try:
        if ctx.triggered_id == "profile-keys-remove":
            remove_own_key(get_db(), _me(), rows[0]["id"])
            message = f"“{rows[0].get('name', 'The key')}” is removed: it no longer signs you in."
        else:
            renamed = wk.rename_key(get_db(), _me(), rows[0]["id"], name)
            message = f"Renamed to “{renamed['name']}”."
    except wk.KeyRefused as exc:
        return _alert(str(exc), "warning"), dash.no_update
    return _alert(message, "success"), (version or 0) + 1
