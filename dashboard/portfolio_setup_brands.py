"""The brand half of the Portfolio setup page (`dashboard/pages/admin_portfolio.py`): the brand grid,
create / rename / archive / delete, merge (a preview of what moves, then a confirmation) and the
CSV list. Rules, audit and rescoring are `core.setup`'s; this module shows their answers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback_context, dcc, html, no_update

from core.runtime import get_db
from core.security import Forbidden
from core.setup import brand_merge
from core.setup import brands as brand_service
from core.setup.portfolio_common import MANAGE, PortfolioError
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal

BRAND_COLUMNS = [
    {"field": "name", "headerName": "Brand", "minWidth": 150, "flex": 2},
    {"field": "projects", "headerName": "Projects (role)", "minWidth": 220, "flex": 3, "wrapText": True,
     "autoHeight": True},
    {"field": "status", "headerName": "Status", "maxWidth": 120},
]
TABLE_LABELS = {"metric_values": "metric values", "spend": "spend rows", "outcomes": "revenue rows",
                "control_values": "control values", "response_curves": "response curves",
                "project_brands": "project memberships"}
KEEP_OPTIONS = [{"label": "Ask me if both brands hold values for the same month", "value": "ask"},
                {"label": "Keep the target's values", "value": "target"},
                {"label": "Keep the source's values", "value": "source"}]


def card(title: str, body) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)], className="mb-3 shadow-sm")


def grid(grid_id: str, columns: list[dict]) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, columnDefs=columns, rowData=[], columnSize="responsiveSizeToFit",
                      className="ag-theme-quartz", defaultColDef={"sortable": True, "resizable": True},
                      dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "pagination": True,
                                       "paginationPageSize": 10, "paginationPageSizeSelector": False})


def message(text, color: str = "success", **kwargs) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2", dismissable=True, **kwargs)


def outcome(step: Callable[[], str], version) -> tuple:
    """(the message, the next version) of a change: a refusal changes nothing and says why."""
    try:
        text = step()
    except Forbidden:
        return message("You are not allowed to change this organization's portfolio.", "danger"), no_update
    except PortfolioError as exc:
        return message([html.Strong("Nothing was changed: "), str(exc)], "danger", id="pset-refused"), no_update
    return message(text, id="pset-done"), (version or 0) + 1


def brand_rows(found: list[dict]) -> list[dict]:
    return [{"id": b["id"], "name": b["name"],
             "projects": ", ".join(f"{p['name']} ({p['role']})" for p in b["projects"]) or "—",
             "status": "archived" if b["archived"] else "live"} for b in found]


def brand_section(role_options: list[dict]) -> list:
    return [
        grid("pset-brands", BRAND_COLUMNS),
        html.Hr(),
        dbc.Row([
            dbc.Col(dbc.Input(id="pset-brand-new", placeholder="New brand name", maxLength=200), md=5),
            dbc.Col(dcc.Dropdown(id="pset-brand-role-new", options=role_options, value="own", clearable=False), md=3),
            dbc.Col(dcc.Dropdown(id="pset-brand-projects-new", multi=True, placeholder="In projects"), md=4),
        ], className="g-2"),
        html.Div(dbc.Button("Add brand", id="pset-brand-create", color="primary", size="sm"), className="mt-2 mb-3"),
        dbc.Label("Brand", html_for="pset-brand"),
        html.Div(dcc.Dropdown(id="pset-brand", placeholder="Choose a brand to change"), className="mb-2"),
        dbc.InputGroup([dbc.Input(id="pset-brand-name", placeholder="New name", maxLength=200),
                        dbc.Button("Rename", id="pset-brand-rename", color="secondary", outline=True)],
                       className="mb-2"),
        html.Div([dbc.Button("Archive", id="pset-brand-archive", color="warning", outline=True, size="sm"),
                  dbc.Button("Unarchive", id="pset-brand-unarchive", color="secondary", outline=True, size="sm"),
                  dbc.Button("Delete…", id="pset-brand-delete", color="danger", outline=True, size="sm")],
                 className="d-flex gap-2 flex-wrap mb-3"),
        dcc.ConfirmDialog(id="pset-brand-delete-confirm",
                          message="Delete this brand and all its data (metric values, spend, revenue, curves, "
                                  "scores)? This cannot be undone; archiving keeps the data."),
        html.Div("Merge into another brand", className="fw-semibold small text-uppercase text-muted"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="pset-merge-into", placeholder="Target: the brand that stays"), md=6),
            dbc.Col(dbc.Button("Preview merge", id="pset-merge-preview", color="secondary", size="sm"), md=6),
        ], className="g-2"),
        dbc.RadioItems(id="pset-merge-keep", options=KEEP_OPTIONS, value="ask", className="small mt-1"),
        html.Div(id="pset-merge-plan"),
        html.Div(dbc.Button("Merge now", id="pset-merge-confirm", color="danger", size="sm", disabled=True),
                 className="mb-3"),
        html.Div("Add many brands from a CSV", className="fw-semibold small text-uppercase text-muted"),
        dcc.Upload(id="pset-csv", accept=".csv,.txt", className="border border-2 rounded-3 p-3 text-center small",
                   style={"borderStyle": "dashed", "cursor": "pointer"},
                   children=html.Div(["Drop a CSV with columns ", html.Code("name, role, projects"),
                                      " (projects separated by ;) or click to choose one"])),
        html.Div(id="pset-csv-result"),
        html.Div(dbc.Button("Add these brands", id="pset-csv-commit", color="primary", size="sm", disabled=True),
                 className="mt-2"),
        html.Div(id="pset-brand-message", className="mt-2"),
        dcc.Store(id="pset-merge-previewed"),
        dcc.Store(id="pset-csv-data"),
    ]


def _brand_step(trigger: str, organization_id, brand_id, new_name, role, projects, name) -> str:
    db, principal = get_db(), current_principal()
    if trigger == "pset-brand-create":
        brand_service.create_brand(db, principal, organization_id, new_name, [(p, role) for p in projects or []])
        return f"Brand “{' '.join(str(new_name).split())}” added."
    if brand_id is None:
        raise PortfolioError("choose a brand first")
    if trigger == "pset-brand-rename":
        brand_service.rename_brand(db, principal, brand_id, name)
        return "Brand renamed."
    if trigger == "pset-brand-delete-confirm":
        counts = brand_service.delete_brand(db, principal, brand_id)
        gone = ", ".join(f"{n:,} {TABLE_LABELS.get(t, t.replace('_', ' '))}" for t, n in counts.items() if n)
        return f"Brand deleted ({gone or 'it held no data'}). The audit trail keeps the record."
    archived = trigger == "pset-brand-archive"
    brand_service.set_brand_archived(db, principal, brand_id, archived)
    return "Brand archived: its data and scores are kept." if archived else "Brand is live again."


def ask_delete(_clicks):
    return True


def brand_action(_create, _rename, _archive, _unarchive, _delete, organization_id, brand_id, new_name, role,
                 projects, name, version):
    """One of the brand buttons: add, rename, archive, unarchive, delete (after the dialog)."""
    trigger = callback_context.triggered_id
    if not isinstance(trigger, str):
        return no_update, no_update
    return outcome(lambda: _brand_step(trigger, organization_id, brand_id, new_name, role, projects, name), version)


def _plan_view(plan: brand_merge.MergePlan) -> html.Div:
    moves = [html.Li(f"{n:,} {TABLE_LABELS.get(t, t.replace('_', ' '))}") for t, n in plan.rows.items() if n]
    parts = [html.Div([html.Strong(plan.source["name"]), " goes; its data moves to ", html.Strong(plan.target["name"]),
                       ":"]), html.Ul(moves or [html.Li("no rows")], className="mb-1")]
    data = {t: c for t, c in plan.conflicts.items() if t != brand_merge.MEMBERSHIP}
    if data:
        lines = [html.Li(f"{c['count']:,} {TABLE_LABELS.get(t, t)} for the same "
                         + ("month or week" if t != "response_curves" else "channel") + " (e.g. "
                         + "; ".join(" ".join(k.values()) for k in c["keys"][:3]) + ")") for t, c in data.items()]
        parts += [html.Div("Both brands hold:"), html.Ul(lines, className="mb-1"),
                  html.Div("Choose whose values to keep above, or the merge is refused.", className="small")]
    shared = plan.conflicts.get(brand_merge.MEMBERSHIP)
    if shared:
        parts.append(html.Div(f"Both are in {shared['count']} project(s) ("
                              + ", ".join(k["project_id"] for k in shared["keys"]) + "): the kept side's role stays."))
    if plan.scenarios:
        parts.append(html.Div(f"{len(plan.scenarios)} saved scenario(s) will name {plan.target['name']} instead."))
    if plan.blocked:
        parts.append(html.Div("Blocked: scenario(s) " + ", ".join(b["name"] for b in plan.blocked)
                              + " use both brands; delete them first.", className="text-danger"))
    return dbc.Alert(parts, color="warning", className="py-2 small", id="pset-merge-summary")


def preview_merge(_clicks, source, target):
    """What the merge moves and where the two brands collide, before anything is written."""
    if source is None or target is None:
        return message("Choose the brand that goes (above) and the one that stays.", "warning"), None, True
    try:
        plan = brand_merge.preview_merge(get_db(), current_principal(), source, target)
    except Forbidden:
        return message("You are not allowed to merge these brands.", "danger"), None, True
    except PortfolioError as exc:
        return message(str(exc), "danger"), None, True
    return _plan_view(plan), {"source": source, "target": target}, bool(plan.blocked)


def confirm_merge(_clicks, source, target, keep, previewed, version):
    """The merge the person previewed (the same two brands), with their choice on conflicting values."""
    if previewed != {"source": source, "target": target}:
        return message("The brands changed since the preview: preview the merge again.", "warning"), no_update, \
            True, None

    def step() -> str:
        result = brand_merge.merge_brands(get_db(), current_principal(), source, target,
                                          keep=None if keep == "ask" else keep)
        moved, dropped = sum(result["moved"].values()), sum(result["dropped"].values())
        return (f"Merged {result['source']['name']} into {result['target']['name']}: {moved:,} rows moved"
                + (f", {dropped:,} of the {keep}'s other side dropped" if dropped else "") + ".")

    text, new_version = outcome(step, version)
    return text, new_version, True, None


def _decode(contents) -> bytes | None:
    if not isinstance(contents, str) or "," not in contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def _csv_report(report: brand_service.BulkReport) -> dbc.Alert:
    if report.ok:
        verb = "Added" if report.committed else "Ready to add"
        return message([html.Strong(f"{verb} {len(report.created)} brand(s): "), ", ".join(report.created)],
                       "success" if report.committed else "info", id="pset-csv-ok")
    rows = [html.Li(f"row {e['row'] or '—'}{' · ' + e['column'] if e['column'] else ''}: {e['reason']}")
            for e in report.errors[:50]]
    return message([html.Strong(f"{len(report.errors)} problem(s); nothing was added."), html.Ul(rows)], "danger",
                   id="pset-csv-errors")


def preview_csv(contents, organization_id):
    """Check every row of the CSV; nothing is written until “Add these brands”."""
    data = _decode(contents)
    if data is None:
        return message("Upload a CSV file.", "warning"), None, True
    try:
        report = brand_service.add_brands_csv(get_db(), current_principal(), organization_id, data, commit=False)
    except Forbidden:
        return message("You are not allowed to add brands here.", "danger"), None, True
    return _csv_report(report), contents if report.ok else None, not report.ok


def commit_csv(_clicks, contents, organization_id, version):
    """Add every brand of the checked CSV, or none (rows are checked again on the server)."""
    data = _decode(contents)
    if data is None:
        return message("Upload a CSV file first.", "warning"), no_update, True
    try:
        report = brand_service.add_brands_csv(get_db(), current_principal(), organization_id, data, commit=True)
    except Forbidden:
        return message("You are not allowed to add brands here.", "danger"), no_update, True
    return _csv_report(report), (version or 0) + 1 if report.committed else no_update, True


def register_callbacks() -> None:
    """Declare the brand callbacks; the page module calls this each time Dash loads it for an app (Dash
    executes page modules per app, while this module is imported once)."""
    protected_callback(
        Output("pset-brand-delete-confirm", "displayed"),
        Input("pset-brand-delete", "n_clicks"),
        permission=MANAGE,
        prevent_initial_call=True,
    )(ask_delete)
    protected_callback(
        Output("pset-brand-message", "children"),
        Output("pset-version", "data", allow_duplicate=True),
        Input("pset-brand-create", "n_clicks"),
        Input("pset-brand-rename", "n_clicks"),
        Input("pset-brand-archive", "n_clicks"),
        Input("pset-brand-unarchive", "n_clicks"),
        Input("pset-brand-delete-confirm", "submit_n_clicks"),
        State("pset-org", "value"),
        State("pset-brand", "value"),
        State("pset-brand-new", "value"),
        State("pset-brand-role-new", "value"),
        State("pset-brand-projects-new", "value"),
        State("pset-brand-name", "value"),
        State("pset-version", "data"),
        permission=MANAGE,
        objects={"organization_id": "organization", "brand_id": "brand", "projects": "project"},
        prevent_initial_call=True,
    )(brand_action)
    protected_callback(
        Output("pset-merge-plan", "children"),
        Output("pset-merge-previewed", "data"),
        Output("pset-merge-confirm", "disabled"),
        Input("pset-merge-preview", "n_clicks"),
        State("pset-brand", "value"),
        State("pset-merge-into", "value"),
        permission=MANAGE,
        objects={"source": "brand", "target": "brand"},
        prevent_initial_call=True,
    )(preview_merge)
    protected_callback(
        Output("pset-brand-message", "children", allow_duplicate=True),
        Output("pset-version", "data", allow_duplicate=True),
        Output("pset-merge-confirm", "disabled", allow_duplicate=True),
        Output("pset-merge-plan", "children", allow_duplicate=True),
        Input("pset-merge-confirm", "n_clicks"),
        State("pset-brand", "value"),
        State("pset-merge-into", "value"),
        State("pset-merge-keep", "value"),
        State("pset-merge-previewed", "data"),
        State("pset-version", "data"),
        permission=MANAGE,
        objects={"source": "brand", "target": "brand"},
        prevent_initial_call=True,
    )(confirm_merge)
    protected_callback(
        Output("pset-csv-result", "children"),
        Output("pset-csv-data", "data"),
        Output("pset-csv-commit", "disabled"),
        Input("pset-csv", "contents"),
        State("pset-org", "value"),
        permission=MANAGE,
        objects={"organization_id": "organization"},
        prevent_initial_call=True,
    )(preview_csv)
    protected_callback(
        Output("pset-csv-result", "children", allow_duplicate=True),
        Output("pset-version", "data", allow_duplicate=True),
        Output("pset-csv-commit", "disabled", allow_duplicate=True),
        Input("pset-csv-commit", "n_clicks"),
        State("pset-csv-data", "data"),
        State("pset-org", "value"),
        State("pset-version", "data"),
        permission=MANAGE,
        objects={"organization_id": "organization"},
        prevent_initial_call=True,
    )(commit_csv)
