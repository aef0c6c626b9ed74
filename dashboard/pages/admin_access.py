"""Access administration: a user's roles at organization, project or brand scope, and custom roles.

The form offers only roles and scopes the administrator could grant, but that is a convenience:
`grant_role`, `revoke_grant` and `create_custom_role` re-check everything on the server (scope,
organization, no escalation), and every id the browser posts is checked before they are called.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html
from sqlalchemy.exc import IntegrityError

from core.admin import (
    ROLE_MANAGE,
    can_see_user,
    custom_roles,
    definable_permissions,
    grant_in_scope,
    grantable_roles,
    organizations_in_scope,
    role_usable,
    scope_choices,
    user_grants,
    user_options,
)
from core.runtime import get_db
from core.security import Forbidden, Principal, can, create_custom_role, grant_role, revoke_grant
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

register_page(__name__, permission=ROLE_MANAGE, path="/admin/access", name="Access", title="Access · Digi-Cadence")

SCOPE_LABELS = {"organization": "Organization", "project": "Project", "brand": "Brand", "system": "System"}
NOT_ALLOWED = "You are not allowed to grant that role at that scope."


def _user_ok(principal: Principal, user_id) -> bool:
    return can_see_user(principal, user_id, ROLE_MANAGE)


def _role_ok(principal: Principal, role_id) -> bool:
    return role_usable(get_db(), principal, role_id)


def _grant_row_ok(principal: Principal, row) -> bool:
    """A selected grant row: the grant must exist and its holder be a user the principal manages roles for.
    Grid rows are objects; a bare number is no grant row and is refused."""
    return isinstance(row, dict) and grant_in_scope(get_db(), principal, row.get("id"))


def _org_ok(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, ROLE_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _alert(message, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="mt-2 mb-0")


def _grid(grid_id: str, columns: list[dict], empty: str, selectable: bool = False) -> dag.AgGrid:
    options = {"domLayout": "autoHeight", "animateRows": False, "localeText": {"noRowsToShow": empty}}
    if selectable:
        options["rowSelection"] = {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}
    return dag.AgGrid(id=grid_id, columnDefs=columns, rowData=[], getRowId="params.data.id",
                      columnSize="responsiveSizeToFit", className="ag-theme-quartz", dashGridOptions=options,
                      defaultColDef={"sortable": True, "filter": True, "resizable": True, "cellDataType": False})


def _grants_card(users: list[dict]) -> dbc.Card:
    columns = [
        {"field": "role_label", "headerName": "Role", "minWidth": 170},
        {"field": "scope_label", "headerName": "Scope", "minWidth": 110},
        {"field": "scope", "headerName": "Granted on", "minWidth": 180},
        {"field": "granted_at", "headerName": "Since", "minWidth": 150},
    ]
    return dbc.Card([
        dbc.CardHeader(html.H5("Grants", className="mb-0")),
        dbc.CardBody([
            dbc.Label("User", html_for="admin-access-user"),
            dcc.Dropdown(id="admin-access-user", options=users, placeholder="Choose a user…",
                         value=users[0]["value"] if users else None),
            dcc.Loading(_grid("admin-access-grants", columns, "No grants: this user can see nothing yet.",
                              selectable=True), delay_show=300, parent_className="mt-3"),
            dbc.Button("Revoke selected grant", id="admin-access-revoke", color="danger", outline=True, size="sm",
                       className="mt-2"),
            html.Hr(),
            html.H6("Add a grant"),
            dbc.Row([
                dbc.Col([dbc.Label("Role", html_for="admin-access-role"),
                         dcc.Dropdown(id="admin-access-role", placeholder="Role…")], md=4),
                dbc.Col([dbc.Label("Scope", html_for="admin-access-scope-type"),
                         dcc.Dropdown(id="admin-access-scope-type", placeholder="Scope…", clearable=False)], md=3),
                dbc.Col([dbc.Label("On", html_for="admin-access-scope"),
                         dcc.Dropdown(id="admin-access-scope", placeholder="Organization, project or brand…")],
                        md=5),
            ], className="g-2"),
            dbc.Button("Grant", id="admin-access-grant", color="primary", className="mt-2"),
            html.Div(id="admin-access-grant-result"),
        ]),
    ], className="mb-3 shadow-sm h-100")


def _roles_card(organizations: list[dict], system_admin: bool) -> dbc.Card:
    columns = [
        {"field": "label", "headerName": "Role", "minWidth": 140},
        {"field": "permissions", "headerName": "Permissions", "minWidth": 240, "wrapText": True, "autoHeight": True},
        {"field": "holders", "headerName": "Holders", "maxWidth": 110, "type": "rightAligned"},
    ]
    if system_admin:
        columns.insert(1, {"field": "organization", "headerName": "Organization", "minWidth": 130})
    org_options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    return dbc.Card([
        dbc.CardHeader(html.H5("Custom roles", className="mb-0")),
        dbc.CardBody([
            _grid("admin-access-roles", columns, "No custom roles yet: the built-in roles apply."),
            html.Hr(),
            html.H6("Create a role"),
            dbc.Row([
                dbc.Col([dbc.Label("Organization", html_for="admin-access-role-org"),
                         dcc.Dropdown(id="admin-access-role-org", options=org_options, clearable=False,
                                      value=org_options[0]["value"] if org_options else None,
                                      disabled=len(org_options) <= 1)], md=6),
                dbc.Col([dbc.Label("Name", html_for="admin-access-role-name"),
                         dbc.Input(id="admin-access-role-name", placeholder="e.g. Media buyer", maxLength=100)], md=6),
            ], className="g-2"),
            dbc.Label("Permissions", className="mt-2"),
            dbc.Checklist(id="admin-access-role-permissions", options=[], value=[], inline=True),
            dbc.Button("Create role", id="admin-access-role-create", color="primary", className="mt-2"),
            html.Div(id="admin-access-role-result"),
        ]),
    ], className="mb-3 shadow-sm h-100")


def layout(**_query) -> html.Div:
    """Grants of one user on the left, custom roles on the right."""
    principal = current_principal()
    db = get_db()
    users = user_options(db, principal, ROLE_MANAGE)
    organizations = organizations_in_scope(db, principal, ROLE_MANAGE)
    if not users and not organizations:
        return empty_state("Nothing to administer here.", "You manage roles in no organization.")
    return html.Div([
        html.H2("Access", className="mb-0"),
        html.Div("Who holds which role where. A grant at an organization covers its projects and brands.",
                 className="text-muted small mb-3"),
        dbc.Row([dbc.Col(_grants_card(users), lg=7), dbc.Col(_roles_card(organizations, principal.is_system_admin),
                                                            lg=5)], className="g-3 mb-4"),
        dcc.Store(id="admin-access-grants-version", data=0),
        dcc.Store(id="admin-access-roles-version", data=0),
    ])


@protected_callback(
    Output("admin-access-grants", "rowData"),
    Output("admin-access-role", "options"),
    Input("admin-access-user", "value"),
    Input("admin-access-grants-version", "data"),
    Input("admin-access-roles-version", "data"),
    permission=ROLE_MANAGE,
    objects={"user_id": ("user", _user_ok)},
)
def show_grants(user_id, _grants_version, _roles_version):
    """The chosen user's grants, and the roles that could be given to them."""
    if user_id is None:
        return [], []
    db, principal = get_db(), current_principal()
    rows = user_grants(db, principal, user_id)
    for row in rows:
        row["scope_label"] = SCOPE_LABELS.get(row["scope_type"], row["scope_type"])
        row["granted_at"] = f"{row['granted_at'][:10]} {row['granted_at'][11:16]} UTC" if row["granted_at"] else ""
    roles = grantable_roles(db, principal, user_id)
    return rows, [{"label": r["label"], "value": r["value"]} for r in roles]


@protected_callback(
    Output("admin-access-scope-type", "options"),
    Output("admin-access-scope-type", "value"),
    Input("admin-access-role", "value"),
    State("admin-access-user", "value"),
    permission=ROLE_MANAGE,
    objects={"role_id": ("role", _role_ok), "user_id": ("user", _user_ok)},
)
def scope_types(role_id, user_id):
    """The scopes the chosen role may be granted at (Organization Administrator: organization only)."""
    if role_id is None or user_id is None:
        return [], None
    role = next((r for r in grantable_roles(get_db(), current_principal(), user_id) if r["value"] == role_id), None)
    scopes = role["scopes"] if role else []
    return [{"label": SCOPE_LABELS[s], "value": s} for s in scopes], scopes[0] if scopes else None


@protected_callback(
    Output("admin-access-scope", "options"),
    Output("admin-access-scope", "value"),
    Input("admin-access-scope-type", "value"),
    State("admin-access-user", "value"),
    permission=ROLE_MANAGE,
    objects={"user_id": ("user", _user_ok)},
)
def scopes(scope_type, user_id):
    """Organizations, projects or brands of the user's organization where the admin manages roles."""
    if scope_type is None or user_id is None:
        return [], None
    options = scope_choices(get_db(), current_principal(), user_id, scope_type)
    return options, options[0]["value"] if len(options) == 1 else None


@protected_callback(
    Output("admin-access-grant-result", "children"),
    Output("admin-access-grants-version", "data"),
    Input("admin-access-grant", "n_clicks"),
    Input("admin-access-revoke", "n_clicks"),
    State("admin-access-user", "value"),
    State("admin-access-role", "value"),
    State("admin-access-scope-type", "value"),
    State("admin-access-scope", "value"),
    State("admin-access-grants", "selectedRows"),
    State("admin-access-grants-version", "data"),
    permission=ROLE_MANAGE,
    objects={"user_id": ("user", _user_ok), "role_id": ("role", _role_ok), "rows": ("user", _grant_row_ok)},
    prevent_initial_call=True,
)
def change_grant(_grant, _revoke, user_id, role_id, scope_type, scope_id, rows, version):
    """Grant or revoke; `grant_role` and `revoke_grant` re-check scope and escalation."""
    db, principal = get_db(), current_principal()
    try:
        if ctx.triggered_id == "admin-access-revoke":
            if not rows:
                return _alert("Select a grant in the grid first.", "warning"), dash.no_update
            revoke_grant(db, principal, int(rows[0]["id"]))
            return _alert(f"Revoked {rows[0].get('role_label', 'the role')} on {rows[0].get('scope', 'that scope')}.",
                          "success"), (version or 0) + 1
        if user_id is None or role_id is None or scope_type is None or scope_id is None:
            return _alert("Choose a user, a role, a scope type and where.", "warning"), dash.no_update
        grant_role(db, principal, int(user_id), int(role_id), str(scope_type), int(scope_id))
    except Forbidden:
        return _alert(NOT_ALLOWED), dash.no_update
    except (ValueError, TypeError) as exc:
        return _alert(f"Not granted: {exc}.", "warning"), dash.no_update
    return _alert("Granted.", "success"), (version or 0) + 1


@protected_callback(
    Output("admin-access-role-permissions", "options"),
    Input("admin-access-role-org", "value"),
    permission=ROLE_MANAGE,
    objects={"organization_id": ("organization", _org_ok)},
)
def permission_options(organization_id):
    """Only permissions the administrator holds there may go into a role."""
    perms = definable_permissions(current_principal(), organization_id)
    return [{"label": p, "value": p} for p in perms]


@protected_callback(
    Output("admin-access-roles", "rowData"),
    Input("admin-access-roles-version", "data"),
    permission=ROLE_MANAGE,
)
def show_roles(_version):
    """Custom roles in the administrator's organizations."""
    return custom_roles(get_db(), current_principal())


@protected_callback(
    Output("admin-access-role-result", "children"),
    Output("admin-access-roles-version", "data"),
    Input("admin-access-role-create", "n_clicks"),
    State("admin-access-role-org", "value"),
    State("admin-access-role-name", "value"),
    State("admin-access-role-permissions", "value"),
    State("admin-access-roles-version", "data"),
    permission=ROLE_MANAGE,
    objects={"organization_id": ("organization", _org_ok)},
    prevent_initial_call=True,
)
def create_role(_clicks, organization_id, name, permissions, version):
    """A custom role from the permission list; the service refuses permissions the creator lacks."""
    name = (name or "").strip()
    if organization_id is None or not name or not permissions:
        return _alert("Give the role a name and at least one permission.", "warning"), dash.no_update
    try:
        create_custom_role(get_db(), current_principal(), int(organization_id), name, permissions)
    except IntegrityError:
        return _alert(f"A role named “{name}” exists already in that organization.", "warning"), dash.no_update
    except Forbidden:
        return _alert("You may not define a role with those permissions."), dash.no_update
    except ValueError as exc:
        return _alert(f"Not created: {exc}.", "warning"), dash.no_update
    return _alert(f"Role “{name}” created. Grant it on the left.", "success"), (version or 0) + 1
