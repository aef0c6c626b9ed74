"""Portfolio setup: an organization's projects (scoring settings, own brands and competitor set) and
its brands (create, rename, archive, delete, merge, add many from a CSV).

The page holds no rules: `core.setup.projects`, `core.setup.brands` and `core.setup.brand_merge`
check `portfolio:manage` on the organization, validate, audit and recompute the scores; the
page shows their reasons. Every id the browser sends is checked again by `protected_callback`.
The brand half of the page lives in `dashboard/portfolio_setup_brands.py`.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback_context, dcc, html, no_update

from core.runtime import get_db
from core.setup import brands as brand_service
from core.setup import projects as project_service
from core.setup.portfolio_common import MANAGE, PortfolioError, managed_organizations
from dashboard import portfolio_setup_brands as brand_part
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state
from dashboard.portfolio_setup_brands import card, grid, message, outcome

register_page(__name__, permission=MANAGE, path="/admin/portfolio", name="Setup",
              title="Portfolio setup · Digi-Cadence")
brand_part.register_callbacks()  # the brand half's callbacks, once per app that loads this page

MAX_SECTIONS = 8
ROLE_OPTIONS = [{"label": "Own brand", "value": "own"}, {"label": "Competitor", "value": "competitor"},
                {"label": "Benchmark", "value": "benchmark"}]
PROJECT_COLUMNS = [
    {"field": "name", "headerName": "Project", "minWidth": 130, "flex": 2},
    {"field": "normalization", "headerName": "Normalization", "minWidth": 110},
    {"field": "weights", "headerName": "Section weights", "minWidth": 180, "flex": 3, "wrapText": True,
     "autoHeight": True},
    {"field": "own", "headerName": "Own", "minWidth": 70, "type": "rightAligned"},
    {"field": "competitor", "headerName": "Competitors", "minWidth": 110, "type": "rightAligned"},
    {"field": "status", "headerName": "Status", "minWidth": 90},
]
MEMBER_COLUMNS = [
    {"field": "name", "headerName": "Brand", "flex": 2, "minWidth": 150},
    {"field": "role", "headerName": "Role", "minWidth": 110},
    {"field": "status", "headerName": "Status", "maxWidth": 120},
]


def _sections() -> list[str]:
    return project_service.section_names(get_db())[:MAX_SECTIONS]


def _weight_inputs(sections: list[str]) -> dbc.Row:
    cols = []
    for i in range(MAX_SECTIONS):
        name = sections[i] if i < len(sections) else ""
        cols.append(dbc.Col([dbc.Label(name, html_for=f"pset-weight-{i}", className="small mb-0"),
                             dbc.Input(id=f"pset-weight-{i}", type="number", min=0.01, max=1000, step=0.01,
                                       size="sm", placeholder="1")],
                            xs=6, md=3, style=None if name else {"display": "none"}))
    return dbc.Row(cols, className="g-2")


def _project_forms(sections: list[str]) -> list:
    return [
        dbc.InputGroup([dbc.Input(id="pset-project-new", placeholder="New project name", maxLength=200),
                        dbc.Button("Create project", id="pset-project-create", color="primary")],
                       className="mb-3"),
        dbc.Label("Project", html_for="pset-project"),
        html.Div(dcc.Dropdown(id="pset-project", placeholder="Choose a project to change"), className="mb-2"),
        dbc.InputGroup([dbc.Input(id="pset-project-name", placeholder="Name", maxLength=200),
                        dbc.Button("Rename", id="pset-project-rename", color="secondary", outline=True)],
                       className="mb-2"),
        html.Div([dbc.Button("Archive", id="pset-project-archive", color="warning", outline=True, size="sm"),
                  dbc.Button("Unarchive", id="pset-project-unarchive", color="secondary", outline=True, size="sm")],
                 className="d-flex gap-2 flex-wrap mb-3"),
        html.Div("Scoring", className="fw-semibold small text-uppercase text-muted"),
        dbc.RadioItems(id="pset-normalization", inline=True, options=[
            {"label": "Min–max (best brand 100, worst 0)", "value": "minmax"},
            {"label": "Percentile (rank among the project's brands)", "value": "percentile"}]),
        _weight_inputs(sections),
        html.Div("Weights above 0; an empty box weighs 1. Saving recomputes the project's DC scores.",
                 className="form-text"),
        dbc.Button("Save scoring", id="pset-scoring-save", color="primary", size="sm", className="mt-2 mb-3"),
        html.Div("Brands in the project", className="fw-semibold small text-uppercase text-muted"),
        grid("pset-members", MEMBER_COLUMNS),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="pset-member-brand", placeholder="Brand"), md=5),
            dbc.Col(dcc.Dropdown(id="pset-member-role", options=ROLE_OPTIONS, value="own", clearable=False), md=3),
            dbc.Col([dbc.Button("Add / set role", id="pset-member-set", color="primary", size="sm", className="me-1"),
                     dbc.Button("Remove", id="pset-member-remove", color="danger", outline=True, size="sm")], md=4),
        ], className="g-2 mt-1"),
    ]


def layout(**_query) -> html.Div:
    organizations = managed_organizations(get_db(), current_principal())
    if not organizations:
        return empty_state("No organization whose portfolio you manage.",
                           "Setting up projects and brands needs portfolio:manage for a whole organization.")
    options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    sections = _sections()
    return html.Div([
        dbc.Row([
            dbc.Col([html.H2("Portfolio setup", className="mb-0"),
                     html.Div("Projects, their own brands and competitor sets, and the organization's brands. "
                              "Every change is checked, audited, and the DC scores it moves are recomputed.",
                              className="text-muted small")], md=8),
            dbc.Col(dcc.Dropdown(id="pset-org", options=options, value=organizations[0]["id"], clearable=False,
                                 disabled=len(options) == 1), md=4),
        ], className="align-items-center g-2 mb-3"),
        html.Div(id="pset-message"),
        dbc.Row([
            dbc.Col(card("Projects", [grid("pset-projects", PROJECT_COLUMNS), html.Hr(), *_project_forms(sections)]),
                    xxl=6),
            dbc.Col(card("Brands", brand_part.brand_section(ROLE_OPTIONS)), xxl=6),
        ], className="g-3"),
        dcc.Store(id="pset-version", data=0),
    ])


def _weights_text(weights: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in weights.items()) or "equal"


def _project_rows(items: list[dict]) -> list[dict]:
    return [{"id": p["id"], "name": p["name"], "normalization": p["normalization"],
             "weights": _weights_text(p["section_weights"]),
             "own": sum(b["role"] == "own" for b in p["brands"]),
             "competitor": sum(b["role"] == "competitor" for b in p["brands"]),
             "status": "archived" if p["archived"] else "live"} for p in items]


@protected_callback(
    Output("pset-projects", "rowData"),
    Output("pset-project", "options"),
    Output("pset-brands", "rowData"),
    Output("pset-brand", "options"),
    Output("pset-member-brand", "options"),
    Output("pset-merge-into", "options"),
    Output("pset-brand-projects-new", "options"),
    Input("pset-org", "value"),
    Input("pset-version", "data"),
    permission=MANAGE,
    objects={"organization_id": "organization"},
)
def refresh(organization_id, _version):
    """The organization's projects and brands, after every change."""
    if organization_id is None:
        return [], [], [], [], [], [], []
    db, principal = get_db(), current_principal()
    items = project_service.list_projects(db, principal, organization_id)
    found = brand_service.list_brands(db, principal, organization_id)
    project_options = [{"label": p["name"] + (" (archived)" if p["archived"] else ""), "value": p["id"]}
                       for p in items]
    brand_options = [{"label": b["name"] + (" (archived)" if b["archived"] else ""), "value": b["id"]} for b in found]
    return (_project_rows(items), project_options, brand_part.brand_rows(found), brand_options, brand_options,
            brand_options, [o for o, p in zip(project_options, items, strict=True) if not p["archived"]])


@protected_callback(
    Output("pset-project-name", "value"),
    Output("pset-normalization", "value"),
    *[Output(f"pset-weight-{i}", "value") for i in range(MAX_SECTIONS)],
    Output("pset-members", "rowData"),
    Input("pset-project", "value"),
    Input("pset-version", "data"),
    permission=MANAGE,
    objects={"project_id": "project"},
)
def show_setup_project(project_id, _version):
    """The chosen project's name, scoring settings and brands."""
    if project_id is None:
        return None, None, *[None] * MAX_SECTIONS, []
    project = project_service.get_project(get_db(), current_principal(), project_id)
    weights = [project["section_weights"].get(name) for name in _sections()]
    weights += [None] * (MAX_SECTIONS - len(weights))
    members = [{"name": b["name"], "role": b["role"], "status": "archived" if b["archived"] else "live"}
               for b in project["brands"]]
    return project["name"], project["normalization"], *weights, members


def _weights(values: tuple) -> dict[str, float]:
    return {name: value for name, value in zip(_sections(), values, strict=False) if value not in (None, "")}


def _project_step(trigger: str, organization_id, project_id, new_name, name, normalization, weights,
                  member_brand, member_role) -> str:
    """Run the button's change; returns what to tell the person."""
    db, principal = get_db(), current_principal()
    if trigger == "pset-project-create":
        project_service.create_project(db, principal, organization_id, new_name)
        return f"Project “{' '.join(str(new_name).split())}” created."
    if project_id is None:
        raise PortfolioError("choose a project first")
    if trigger == "pset-project-rename":
        project_service.rename_project(db, principal, project_id, name)
        return "Project renamed."
    if trigger in ("pset-project-archive", "pset-project-unarchive"):
        archived = trigger == "pset-project-archive"
        project_service.set_project_archived(db, principal, project_id, archived)
        return "Project archived: it leaves the pages, its data and scores are kept." if archived else \
            "Project is live again."
    if trigger == "pset-scoring-save":
        changed = project_service.set_scoring(db, principal, project_id, normalization=normalization,
                                              section_weights=_weights(weights))
        return "Scoring saved and the project's DC scores recomputed." if changed else "Nothing changed."
    if member_brand is None:
        raise PortfolioError("choose a brand first")
    if trigger == "pset-member-set":
        changed = project_service.set_member(db, principal, project_id, member_brand, member_role)
        return "Brand set in the project; DC scores recomputed." if changed else "Nothing changed."
    changed = project_service.remove_member(db, principal, project_id, member_brand)
    return "Brand taken out of the project; DC scores recomputed." if changed else "That brand is not in the project."


@protected_callback(
    Output("pset-message", "children"),
    Output("pset-version", "data"),
    Input("pset-project-create", "n_clicks"),
    Input("pset-project-rename", "n_clicks"),
    Input("pset-project-archive", "n_clicks"),
    Input("pset-project-unarchive", "n_clicks"),
    Input("pset-scoring-save", "n_clicks"),
    Input("pset-member-set", "n_clicks"),
    Input("pset-member-remove", "n_clicks"),
    State("pset-org", "value"),
    State("pset-project", "value"),
    State("pset-project-new", "value"),
    State("pset-project-name", "value"),
    State("pset-normalization", "value"),
    State("pset-member-brand", "value"),
    State("pset-member-role", "value"),
    State("pset-version", "data"),
    *[State(f"pset-weight-{i}", "value") for i in range(MAX_SECTIONS)],
    permission=MANAGE,
    objects={"organization_id": "organization", "project_id": "project", "member_brand": "brand"},
    prevent_initial_call=True,
)
def project_action(_create, _rename, _archive, _unarchive, _scoring, _member_set, _member_remove, organization_id,
                   project_id, new_name, name, normalization, member_brand, member_role, version, *weights):
    """One of the project buttons: create, rename, archive, scoring, add or remove a brand."""
    trigger = callback_context.triggered_id
    if not isinstance(trigger, str):
        return no_update, no_update
    return outcome(lambda: _project_step(trigger, organization_id, project_id, new_name, name, normalization,
                                         weights, member_brand, member_role), version)


__all__ = ["layout", "message"]
