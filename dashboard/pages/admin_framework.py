"""Metric framework: an organization's sections → platforms → metrics with their weights.

Weights are edited in the grids; Preview computes the current month with the proposed weights (no
write) and lists the brands whose score or rank would move; Save stores them as a new framework
version and recomputes every month of every project (core.setup, framework:manage checked there).
Adding, renaming and removing sections, platforms and metrics is the card at the bottom
(`dashboard/framework_items.py`), also in the REST API and `python -m core.setup` (docs/SCORING.md).
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.admin import organizations_in_scope
from core.runtime import get_db
from core.security import Forbidden
from core.setup import framework as fw
from core.setup.channels import PORTFOLIO_MANAGE
from core.setup.framework_rules import FrameworkError
from core.setup.framework_weights import MOVE, apply_template, parse_proposal, preview, set_weights
from dashboard import framework_items
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal, holds_anywhere
from dashboard.components import empty_state

register_page(__name__, permission=fw.FRAMEWORK_MANAGE, path="/admin/framework", name="Framework",
              title="Metric framework · Digi-Cadence")
framework_items.register_callbacks()  # the item card's callbacks, once per app that loads this page

WEIGHT = {"field": "weight", "headerName": "Weight", "editable": True, "cellClass": "dc-editable",
          "type": "rightAligned", "cellDataType": "number", "minWidth": 90, "maxWidth": 110,
          "valueFormatter": {"function": "params.value == null ? '' : d3.format('.3~f')(params.value)"}}
GRID_OPTIONS = {"singleClickEdit": True, "stopEditingWhenCellsLoseFocus": True}
COLUMNS = {
    "sections": [{"field": "name", "headerName": "Section", "minWidth": 150}, WEIGHT],
    "platforms": [{"field": "name", "headerName": "Platform", "minWidth": 120}, WEIGHT,
                  {"field": "section", "headerName": "Section", "minWidth": 130}],
    # The name and the weight first: on a phone they are what fits.
    "metrics": [{"field": "name", "headerName": "Metric", "minWidth": 190, "tooltipField": "description",
                 "filter": True},
                WEIGHT,
                {"field": "direction", "headerName": "Better", "minWidth": 85, "maxWidth": 100},
                {"field": "unit", "headerName": "Unit", "minWidth": 75, "maxWidth": 100},
                {"field": "platform", "headerName": "Platform", "minWidth": 115, "filter": True},
                {"field": "section", "headerName": "Section", "minWidth": 140, "filter": True},
                {"field": "code", "headerName": "Code", "minWidth": 170},
                {"field": "description", "headerName": "Description", "minWidth": 300}],
}
MOVE_COLUMNS = [{"field": "brand", "headerName": "Brand", "minWidth": 130},
                {"field": "score", "headerName": "Score (old → new)", "minWidth": 140},
                {"field": "rank", "headerName": "Rank (old → new)", "minWidth": 130},
                {"field": "project", "headerName": "Project", "minWidth": 110},
                {"field": "role", "headerName": "Role", "minWidth": 100}]


def _grid(name: str, height: str) -> dag.AgGrid:
    return dag.AgGrid(id=f"framework-{name}", columnDefs=COLUMNS[name], rowData=[], getRowId="params.data.id",
                      columnSize="responsiveSizeToFit", dashGridOptions=GRID_OPTIONS, className="ag-theme-quartz",
                      defaultColDef={"resizable": True, "sortable": True},
                      style={"height": height})


def _channels_link():
    """The Channels page is not in the navigation (it is small); reach it from here when allowed."""
    if not holds_anywhere(current_principal(), PORTFOLIO_MANAGE):
        return None
    return dcc.Link("Manage channels →", href="/admin/channels", className="ms-3")


def _card(title: str, body, note: str | None = None) -> dbc.Card:
    return dbc.Card([dbc.CardHeader([html.Span(title, className="fw-semibold"),
                                     html.Span(note, className="text-muted small ms-2") if note else None]),
                     dbc.CardBody(body)], className="mb-3 shadow-sm")


def layout(**_query) -> html.Div:
    organizations = organizations_in_scope(get_db(), current_principal(), fw.FRAMEWORK_MANAGE)
    if not organizations:
        return empty_state("No organization whose metric framework you manage.")
    options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Metric framework", className="mb-0"),
                     html.Div("Sections, platforms and metrics of the DC score and how much each weighs. Edit a "
                              "weight, preview what moves this month, then save.", className="text-muted small"),
                     html.Div([html.Span(id="framework-version"), _channels_link()], className="small mt-1")], md=8),
            dbc.Col(dcc.Dropdown(id="framework-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        _start_box(),
        dbc.Row([
            dbc.Col([_card("Sections", _grid("sections", "230px"), "a project's own section weights win there"),
                     _card("Platforms", _grid("platforms", "330px"))], lg=4),
            dbc.Col(_card("Metrics", _grid("metrics", "611px"), "hover a name for its description"), lg=8),
        ], className="g-3"),
        html.Div([
            dbc.Button("Preview", id="framework-preview", color="secondary", outline=True, className="me-2"),
            dbc.Button("Save weights", id="framework-save", color="primary"),
        ], className="mb-2"),
        html.Div(id="framework-result", className="mb-2"),
        _card("What moves this month", dag.AgGrid(
            id="framework-moves", columnDefs=MOVE_COLUMNS, rowData=[], columnSize="responsiveSizeToFit",
            className="ag-theme-quartz", style={"height": "420px"}),
              "old → new, with the proposed weights"),
        _card("Sections, platforms and metrics", framework_items.items_card(),
              "add, rename, change or remove; scores are recomputed"),
    ])


def _rows(tree: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    sections = [{"id": s["id"], "name": s["name"], "weight": s["weight"]} for s in tree]
    platforms = [{"id": p["id"], "section": s["name"], "name": p["name"], "weight": p["weight"]}
                 for s in tree for p in s["platforms"]]
    metrics = [{**{k: m[k] for k in ("id", "code", "name", "unit", "direction", "weight", "description")},
                "section": s["name"], "platform": p["name"]}
               for s in tree for p in s["platforms"] for m in p["metrics"]]
    return sections, platforms, metrics


def _proposal(tree: list[dict], grids: dict[str, list | None]) -> dict:
    """The weights in the grids that differ from the stored ones, by level (ids as the browser sent them;
    core.setup checks they are this organization's)."""
    stored = dict(zip(("sections", "platforms", "metrics"), _rows(tree), strict=True))
    out: dict[str, dict] = {}
    for level, rows in grids.items():
        before = {r["id"]: r["weight"] for r in stored[level]}
        out[level] = {str(r.get("id")): r.get("weight") for r in rows or []
                      if isinstance(r, dict) and before.get(r.get("id")) != r.get("weight")}
    return out


def _moves(shown: dict) -> tuple[list[dict], dbc.Alert]:
    rows = [{"project": r["project"], "brand": r["brand"], "role": r["role"],
             "score": f"{r['old_score']:.1f} → {r['new_score']:.1f}", "rank": f"{r['old_rank']} → {r['new_rank']}"}
            for r in shown["rows"]]
    months = ", ".join(f"{p} {m[:7]}" for p, m in shown["periods"].items()) or "no scored month yet"
    text = f"{len(rows)} brand(s) would move ({months}). Nothing is saved until you press Save weights." if rows \
        else f"Nothing would move by {MOVE} points or more ({months})."
    notes = [html.Div(f"{project} sets its own weight for {', '.join(names)} (project settings), so a change of "
                      "that section's weight here does not apply there.", className="small mt-1")
             for project, names in shown.get("overridden", {}).items()]
    return rows, dbc.Alert([html.Div(text), *notes], color="info", id="framework-previewed")


def _version_text(organization_id: int) -> str:
    with get_db().session() as s:
        version = fw.version_of(s, organization_id)
    return f"Scores computed with {version.label()}." if version else "No framework saved yet."


def _start_box() -> dbc.Alert:
    """Shown while the organization has no framework (hidden otherwise)."""
    return dbc.Alert([html.Div("This organization has no framework yet. Start from the template: the four default "
                               "sections (Marketplace, Digital Spends, Organic Performance, Socialwatch) with their "
                               "platforms and metrics. You can change every weight afterwards."),
                      dbc.Button("Start from the template", id="framework-template", color="primary", size="sm",
                                 className="mt-2")], id="framework-start", color="light", className="border",
                     style={"display": "none"})


def _act(trigger: str | None, organization_id: int, grids: dict) -> tuple:
    """(result, moves) for the button pressed (nothing for a change of organization)."""
    db, principal = get_db(), current_principal()
    if trigger == "framework-template":
        count = apply_template(db, principal, organization_id)
        return dbc.Alert(f"Started from the template: {count} metrics.", color="success"), []
    if trigger not in ("framework-preview", "framework-save"):
        return None, []
    tree = fw.framework(db, principal, organization_id)["sections"]
    proposal = parse_proposal(_proposal(tree, grids))
    if proposal.is_empty():
        return dbc.Alert("No weight was changed.", color="secondary"), []
    if trigger == "framework-preview":
        rows, note = _moves(preview(db, principal, organization_id, proposal))
        return note, rows
    set_weights(db, principal, organization_id, proposal)
    return dbc.Alert([html.Strong("Saved. "), "Every month of every project was recomputed with the new weights."],
                     color="success", id="framework-saved"), []


@protected_callback(
    Output("framework-sections", "rowData"), Output("framework-platforms", "rowData"),
    Output("framework-metrics", "rowData"), Output("framework-version", "children"),
    Output("framework-start", "style"), Output("framework-result", "children"),
    Output("framework-moves", "rowData"),
    Input("framework-org", "value"), Input("framework-preview", "n_clicks"), Input("framework-save", "n_clicks"),
    Input("framework-template", "n_clicks"), Input("framework-items-version", "data"),
    State("framework-sections", "rowData"), State("framework-platforms", "rowData"),
    State("framework-metrics", "rowData"),
    permission=fw.FRAMEWORK_MANAGE,
    objects={"organization_id": ("organization", framework_items.org_allowed)},
)
def show(organization_id, _preview, _save, _template, _items_version, sections, platforms, metrics):
    """Load the organization's framework; run the pressed button (template, preview, save) first; a change
    in the item card (a new items version) only reloads."""
    if organization_id is None:
        return [no_update] * 7
    trigger = ctx.triggered_id
    grids = {"sections": sections, "platforms": platforms, "metrics": metrics}
    refused = True
    try:
        result, moves = _act(trigger, int(organization_id), grids)
        refused = False
    except Forbidden:
        result, moves = dbc.Alert("You are not allowed to change this organization's framework.", color="danger"), []
    except FrameworkError as exc:
        result, moves = dbc.Alert([html.Strong("Nothing was saved. "), str(exc)], color="danger",
                                  id="framework-invalid"), []
    tree = fw.framework(get_db(), current_principal(), int(organization_id))["sections"]
    # A preview or a refusal leaves the edited grids as they are (nothing was saved).
    keep = trigger == "framework-preview" or (refused and trigger == "framework-save")
    grids_out = [no_update] * 3 if keep else list(_rows(tree))
    start = {"display": "none"} if tree else {}
    return (*grids_out, _version_text(int(organization_id)), start, result, moves)
