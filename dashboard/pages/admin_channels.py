"""Channels: an organization's paid media channels — add, rename, merge (portfolio:manage, checked in
core.setup.channels). Merging moves spend and response curves; overlapping spend is refused with the list.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.admin import organizations_in_scope
from core.runtime import get_db
from core.security import Forbidden, Principal, can
from core.setup import channels as ch
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

# Not in the navigation (crowded enough): the Metric framework page links here.
register_page(__name__, permission=ch.PORTFOLIO_MANAGE, path="/admin/channels", name="Channels",
              title="Channels · Digi-Cadence", nav=False)

COLUMNS = [{"field": "name", "headerName": "Channel", "minWidth": 160},
           {"field": "spend_rows", "headerName": "Spend rows", "type": "rightAligned", "maxWidth": 140},
           {"field": "curves", "headerName": "Response curves", "type": "rightAligned", "maxWidth": 160}]


def _org_allowed(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, ch.PORTFOLIO_MANAGE, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def layout(**_query) -> html.Div:
    organizations = organizations_in_scope(get_db(), current_principal(), ch.PORTFOLIO_MANAGE)
    if not organizations:
        return empty_state("No organization whose channels you manage.")
    options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Channels", className="mb-0"),
                     html.Div("Paid media channels your spend and response curves are kept by. Imports add the "
                              "channels they name; here you add, rename or merge them.", className="text-muted small")],
                    md=8),
            dbc.Col(dcc.Dropdown(id="channels-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        dbc.Row([
            dbc.Col(dag.AgGrid(id="channels-grid", columnDefs=COLUMNS, rowData=[], getRowId="params.data.id",
                               columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                               dashGridOptions={"rowSelection": "single", "domLayout": "autoHeight"}), lg=7),
            dbc.Col(dbc.Card(dbc.CardBody([
                dbc.Label("Name", html_for="channels-name", className="small fw-semibold"),
                dbc.Input(id="channels-name", maxLength=ch.MAX_NAME, placeholder="e.g. Podcasts"),
                html.Div([dbc.Button("Add channel", id="channels-create", color="primary", size="sm",
                                     className="me-2 mt-2"),
                          dbc.Button("Rename selected", id="channels-rename", color="secondary", size="sm",
                                     outline=True, className="mt-2")]),
                html.Hr(),
                dbc.Label("Merge the selected channel into", html_for="channels-into", className="small fw-semibold"),
                dcc.Dropdown(id="channels-into", options=[], placeholder="Channel that stays"),
                dbc.Button("Merge", id="channels-merge", color="danger", size="sm", outline=True, className="mt-2"),
                html.Div("Spend and response curves move to the channel that stays; spend of one brand in one period "
                         "on both channels is refused, with the list.", className="form-text"),
            ]), className="shadow-sm"), lg=5),
        ], className="g-3 mb-3"),
        html.Div(id="channels-result"),
    ])


def _act(trigger, organization_id: int, name, selected, into):
    db, principal = get_db(), current_principal()
    chosen = (selected or [{}])[0].get("id") if isinstance(selected, list) and selected else None
    if trigger == "channels-create":
        ch.create_channel(db, principal, organization_id, name)
        return dbc.Alert(f"Added '{ch.clean_channel_name(name)}'.", color="success")
    if trigger in ("channels-rename", "channels-merge") and chosen is None:
        return dbc.Alert("Select a channel in the list first.", color="secondary")
    if trigger == "channels-rename":
        ch.rename_channel(db, principal, organization_id, chosen, name)
        return dbc.Alert("Renamed.", color="success")
    if trigger == "channels-merge":
        moved = ch.merge_channels(db, principal, organization_id, chosen, into)
        return dbc.Alert(f"Merged: {moved['spend_rows']} spend rows and {moved['curves_moved']} curves moved"
                         + (f", {moved['curves_dropped']} duplicate curves dropped (refit)."
                            if moved["curves_dropped"] else "."), color="success")
    return None


@protected_callback(
    Output("channels-grid", "rowData"), Output("channels-into", "options"), Output("channels-result", "children"),
    Input("channels-org", "value"), Input("channels-create", "n_clicks"), Input("channels-rename", "n_clicks"),
    Input("channels-merge", "n_clicks"),
    State("channels-name", "value"), State("channels-grid", "selectedRows"), State("channels-into", "value"),
    permission=ch.PORTFOLIO_MANAGE,
    objects={"organization_id": ("organization", _org_allowed)},
)
def show(organization_id, _create, _rename, _merge, name, selected, into):
    """List the organization's channels, after the pressed button's change (ids checked in core)."""
    if organization_id is None:
        return no_update, no_update, no_update
    try:
        result = _act(ctx.triggered_id, int(organization_id), name, selected, into)
    except Forbidden:
        result = dbc.Alert("You are not allowed to change this organization's channels.", color="danger")
    except ch.ChannelError as exc:
        result = dbc.Alert([html.Strong("Nothing was changed. "), str(exc)], color="danger")
    rows = ch.list_channels(get_db(), current_principal(), int(organization_id))
    return rows, [{"label": r["name"], "value": r["id"]} for r in rows], result
