"""Organizations, for System Administrators: create one, rename, archive or bring back, and invite its
first Organization Administrator.

Every action goes through `core.setup.organizations` with the principal of whoever clicks, which
authorizes `system:manage`, validates the name and audits; the page shows the sentence it gets back.
The selected row comes from the browser and is re-checked before anything runs.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html
from flask import current_app, request

from core.runtime import get_db
from core.security import Accounts, Forbidden, Principal
from core.setup import organizations as service
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal

register_page(__name__, permission=service.SYSTEM_MANAGE, path="/admin/organizations", name="Organizations",
              title="Organizations · Digi-Cadence")

NOT_ALLOWED = "Only System Administrators manage organizations."
ACTIONS = {"orgs-rename": "rename", "orgs-archive": "archive", "orgs-unarchive": "unarchive",
           "orgs-invite": "invite"}


def _accounts() -> Accounts:
    return current_app.extensions["digicadence.accounts"]


def _row_allowed(principal: Principal, row) -> bool:
    """A grid row posted by the browser names an organization; only its id counts."""
    return service.may_manage(principal, row.get("id") if isinstance(row, dict) else row)


def _alert(message, color: str = "danger", **kwargs) -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True, className="mt-2 mb-0", **kwargs)


def _field(label: str, component, **col) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=component.id), component], **col)


def _method(id_: str) -> dbc.RadioItems:
    return dbc.RadioItems(id=id_, value="invite", inline=True,
                          options=[{"label": "Invitation link", "value": "invite"},
                                   {"label": "Temporary password", "value": "password"}])


def _create_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        dbc.Row([
            _field("Name", dbc.Input(id="orgs-new-name", placeholder="e.g. Acme Beverages", maxLength=200), md=4),
            _field("First administrator's e-mail (optional)",
                   dbc.Input(id="orgs-new-admin-email", type="email", placeholder="name@company.com"), md=4),
            _field("Their name", dbc.Input(id="orgs-new-admin-name", placeholder="Full name"), md=4),
        ], className="g-3"),
        dbc.Row([
            dbc.Col([dbc.Label("First sign-in by"), _method("orgs-new-method")], md=8),
            dbc.Col(dbc.Button("Create organization", id="orgs-create", color="primary", className="w-100"),
                    md=4, className="align-self-end"),
        ], className="g-3 mt-1"),
        html.Div("A slug for scripts is derived from the name. Settings start at the system defaults; the "
                 "administrator sets up two-factor sign-in at their first sign-in.", className="form-text"),
        html.Div(id="orgs-create-result"),
    ]), className="mb-3 shadow-sm")


def _actions_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.Div("Select an organization in the grid to act on it.", id="orgs-selected", className="small mb-2"),
        dbc.Row([
            _field("New name", dbc.Input(id="orgs-rename-name", maxLength=200, disabled=True), md=6),
            dbc.Col(dbc.ButtonGroup([
                dbc.Button("Rename", id="orgs-rename", color="secondary", outline=True, disabled=True),
                dbc.Button("Archive", id="orgs-archive", color="danger", outline=True, disabled=True),
                dbc.Button("Unarchive", id="orgs-unarchive", color="secondary", outline=True, disabled=True),
            ], className="flex-wrap"), md=6, className="align-self-end"),
        ], className="g-2"),
        html.Hr(),
        dbc.Row([
            _field("Invite an administrator: e-mail",
                   dbc.Input(id="orgs-invite-email", type="email", placeholder="name@company.com"), md=4),
            _field("Name", dbc.Input(id="orgs-invite-name", placeholder="Full name"), md=3),
            dbc.Col([dbc.Label("First sign-in by"), _method("orgs-invite-method")], md=3),
            dbc.Col(dbc.Button("Invite", id="orgs-invite", color="primary", outline=True, disabled=True,
                               className="w-100"), md=2, className="align-self-end"),
        ], className="g-2"),
        html.Div(id="orgs-result"),
    ]), className="mb-3 shadow-sm")


COLUMNS = [
    {"field": "name", "headerName": "Organization", "minWidth": 200, "pinned": "left"},
    {"field": "slug", "headerName": "Slug", "minWidth": 140},
    {"field": "status", "headerName": "Status", "minWidth": 100,
     "cellClassRules": {"text-muted": "params.value == 'archived'", "text-success": "params.value == 'live'"}},
    {"field": "members", "headerName": "Members", "minWidth": 100, "type": "numericColumn"},
    {"field": "projects", "headerName": "Projects", "minWidth": 100, "type": "numericColumn"},
    {"field": "brands", "headerName": "Brands", "minWidth": 90, "type": "numericColumn"},
    {"field": "created", "headerName": "Created", "minWidth": 120},
    {"field": "archived", "headerName": "Archived", "minWidth": 120},
]


def layout(**_query) -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Organizations", className="mb-0"),
                     html.Div("Each customer team is an organization: its people, projects, brands and data stay "
                              "inside it. Archiving keeps the data and closes it to its members.",
                              className="text-muted small")], md=8),
            dbc.Col(dbc.Button("New organization", id="orgs-new", color="primary"), md=4, className="text-md-end"),
        ], className="align-items-center g-2 mb-3"),
        dbc.Collapse(_create_card(), id="orgs-create-collapse", is_open=False),
        html.Div(id="orgs-summary"),
        _actions_card(),
        dbc.Card(dbc.CardBody(dcc.Loading(dag.AgGrid(
            id="orgs-grid", columnDefs=COLUMNS, rowData=[], getRowId="params.data.id",
            columnSize="responsiveSizeToFit", className="ag-theme-quartz",
            defaultColDef={"sortable": True, "filter": True, "resizable": True},
            dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                             "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                             "localeText": {"noRowsToShow": "No organizations yet: create the first one with "
                                                            "“New organization”."}},
        ), delay_show=300)), className="mb-4 shadow-sm"),
        dcc.Store(id="orgs-version", data=0),
    ])


@protected_callback(
    Output("orgs-create-collapse", "is_open"),
    Input("orgs-new", "n_clicks"),
    State("orgs-create-collapse", "is_open"),
    permission=service.SYSTEM_MANAGE,
    prevent_initial_call=True,
)
def toggle_create(_clicks, is_open):
    """Show or hide the new-organization form."""
    return not is_open


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


@protected_callback(
    Output("orgs-grid", "rowData"),
    Output("orgs-summary", "children"),
    Input("orgs-version", "data"),
    permission=service.SYSTEM_MANAGE,
)
def load_organizations(_version):
    """Every organization, fresh after each change; live ones first."""
    rows = service.list_organizations(get_db(), current_principal())
    for row in rows:
        row["created"] = row["created_at"][:10]
        row["archived"] = row["archived_at"][:10] if row["archived_at"] else None
    live = sum(1 for r in rows if r["status"] == "live")
    return rows, html.Div(f"{_plural(len(rows), 'organization')} · {live} live · {len(rows) - live} archived",
                          className="small text-muted mb-2", id="orgs-counts")


@protected_callback(
    Output("orgs-selected", "children"),
    Output("orgs-rename-name", "value"),
    Output("orgs-rename-name", "disabled"),
    Output("orgs-rename", "disabled"),
    Output("orgs-archive", "disabled"),
    Output("orgs-unarchive", "disabled"),
    Output("orgs-invite", "disabled"),
    Input("orgs-grid", "selectedRows"),
    Input("orgs-grid", "rowData"),
    permission=service.SYSTEM_MANAGE,
    objects={"rows": ("organization", _row_allowed)},
)
def selection(rows, data):
    """Enable what fits the selected organization, from the server's fresh row."""
    selected = (rows or [None])[0]
    fresh = next((r for r in data or [] if selected and r.get("id") == selected.get("id")), None)
    if fresh is None:
        return "Select an organization in the grid to act on it.", "", True, True, True, True, True
    archived = fresh["status"] == "archived"
    label = [html.Strong(fresh["name"]), f" — {fresh['status']}, {_plural(fresh['members'], 'member')}"]
    return label, fresh["name"], False, False, archived, not archived, archived


def _shown_once(title: str, secret: str, hint: str) -> html.Div:
    return html.Div([html.Strong(title), html.Div(html.Code(secret, className="user-select-all fs-6"),
                                                  className="my-2 text-break"), html.Div(hint, className="small")])


def _invited(new, email: str) -> html.Div:
    """The invitation link or temporary password, shown this once only."""
    if new.invite_token:
        link = f"{request.host_url.rstrip('/')}/login/invite/{new.invite_token}"
        return _shown_once(f"{email} is invited as Organization Administrator. Send them this link (shown only "
                           "now):", link, f"It works once, until {new.invite_expires_at:%Y-%m-%d %H:%M} UTC.")
    return _shown_once(f"{email} is an Organization Administrator. Temporary password (shown only now):",
                       new.temporary_password, "They choose a new password at their first sign-in.")


def _invite(organization_id: int, email, name, method) -> html.Div:
    new = service.invite_administrator(get_db(), _accounts(), current_principal(), organization_id,
                                       email=email, name=name or "", invite=method != "password")
    return _invited(new, email.strip())


@protected_callback(
    Output("orgs-create-result", "children"),
    Output("orgs-version", "data", allow_duplicate=True),
    Input("orgs-create", "n_clicks"),
    State("orgs-new-name", "value"),
    State("orgs-new-admin-email", "value"),
    State("orgs-new-admin-name", "value"),
    State("orgs-new-method", "value"),
    State("orgs-version", "data"),
    permission=service.SYSTEM_MANAGE,
    prevent_initial_call=True,
)
def create(_clicks, name, admin_email, admin_name, method, version):
    """Create the organization, then (if an address was given) invite its first administrator."""
    try:
        row = service.create_organization(get_db(), current_principal(), name)
    except Forbidden:
        return _alert(NOT_ALLOWED), dash.no_update
    except ValueError as exc:
        return _alert(f"Not created. {exc}", "warning", id="orgs-create-invalid"), dash.no_update
    parts = [html.Div([html.Strong(row["name"]), f" was created (slug {row['slug']})."])]
    color = "success"
    if isinstance(admin_email, str) and admin_email.strip():
        try:
            parts.append(_invite(row["id"], admin_email, admin_name, method))
        except (ValueError, Forbidden) as exc:
            parts.append(html.Div(f"The administrator was not invited: {exc} Invite them below.", className="small"))
            color = "warning"
    return _alert(parts, color, id="orgs-created"), (version or 0) + 1


def _act(action: str, organization_id: int, new_name, email, name, method):
    """Run one action; returns what to show."""
    db, principal = get_db(), current_principal()
    if action == "rename":
        row = service.rename_organization(db, principal, organization_id, new_name)
        return f"Renamed to “{row['name']}”."
    if action == "archive":
        row = service.archive_organization(db, principal, organization_id)
        return f"“{row['name']}” is archived: its members now see an “archived” page. Its data is kept."
    if action == "unarchive":
        row = service.unarchive_organization(db, principal, organization_id)
        return f"“{row['name']}” is live again."
    if not isinstance(email, str) or not email.strip():
        raise service.OrganizationInvalid("Enter the administrator's e-mail address.")
    return _invite(organization_id, email, name, method)


@protected_callback(
    Output("orgs-result", "children"),
    Output("orgs-version", "data", allow_duplicate=True),
    Input("orgs-rename", "n_clicks"),
    Input("orgs-archive", "n_clicks"),
    Input("orgs-unarchive", "n_clicks"),
    Input("orgs-invite", "n_clicks"),
    State("orgs-grid", "selectedRows"),
    State("orgs-rename-name", "value"),
    State("orgs-invite-email", "value"),
    State("orgs-invite-name", "value"),
    State("orgs-invite-method", "value"),
    State("orgs-version", "data"),
    permission=service.SYSTEM_MANAGE,
    objects={"rows": ("organization", _row_allowed)},
    prevent_initial_call=True,
)
def act(_rename, _archive, _unarchive, _invite_clicks, rows, new_name, email, name, method, version):
    """Rename, archive, unarchive or invite, on the selected organization, with the clicker's principal."""
    action = ACTIONS.get(ctx.triggered_id)
    if action is None or not rows or not isinstance(rows[0], dict):
        return _alert("Select an organization first.", "warning"), dash.no_update
    try:
        shown = _act(action, rows[0].get("id"), new_name, email, name, method)
    except Forbidden:
        return _alert(NOT_ALLOWED), dash.no_update
    except (ValueError, LookupError) as exc:
        return _alert(f"Could not {action}: {exc}", "warning", id="orgs-invalid"), dash.no_update
    return _alert(shown, "success", id="orgs-done"), (version or 0) + 1
