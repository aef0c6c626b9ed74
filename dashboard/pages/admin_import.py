"""Data import: upload a CSV or XLSX, preview what it would change and every bad row, then commit.

The page holds no import logic: `core.imports.uploads` keeps the uploaded bytes on the server
(the browser holds a token), previews and commits them through `core.imports.service`, and
re-checks `metrics:import` on the organization at every step. The Commit button is enabled only
after a clean preview of the very file, organization and mapping on screen; the server enforces
the same, whatever the browser posts.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core.imports import ImportReport
from core.imports.uploads import (
    IMPORT,
    MAX_UPLOAD_BYTES,
    UploadRejected,
    commit_upload,
    import_brands,
    import_organizations,
    owns_upload,
    preview_upload,
    project_names,
    stage_upload,
)
from core.runtime import app_state, get_db
from core.security import Forbidden, Principal, can
from dashboard import import_columns
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import empty_state

register_page(__name__, permission=IMPORT, path="/admin/import", name="Import", title="Data import · Digi-Cadence")

import_columns.register_callbacks()  # the column form's callbacks, once per app that loads this page
log = logging.getLogger(__name__)
KINDS = [{"label": "Metric values (brand × metric × month)", "value": "metrics"},
         {"label": "Spend, revenue and controls (weekly or monthly series)", "value": "marketing"}]
TABLE_NAMES = {"metric_values": "Metric values", "spend": "Spend", "outcomes": "Revenue / units",
               "control_values": "Controls"}
NOT_ALLOWED = "You are not allowed to import into that organization."
MAPPING_HINT = ("The same mapping the column form builds (Preview checks it either way). Keys: kind, layout (wide: "
                "one row per period; long: one value per row), granularity (week or month), date_column, "
                "brand_column, spend {column: channel}, revenue, units, controls {column: name}; for metric "
                "values, metrics {column: metric code} or the long columns brand, metric, period, value.")


def _org_allowed(principal: Principal, organization_id) -> bool:
    try:
        return can(principal, IMPORT, ("organization", int(organization_id)))
    except (TypeError, ValueError):
        return False


def _upload_owned(principal: Principal, token) -> bool:
    return owns_upload(get_db(), principal, token)


def _limits():
    """The running app's import limits (core.config.ImportLimits), which core.imports enforces."""
    return app_state().config.import_limits


def _alert(message, color: str = "danger", **kwargs) -> dbc.Alert:
    return dbc.Alert(message, color=color, className="mt-2 mb-0", **kwargs)


def _step(title: str, body, **kwargs) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)],
                    className="mb-3 shadow-sm", **kwargs)


ERROR_COLUMNS = [
    {"field": "row", "headerName": "Row", "maxWidth": 90, "type": "rightAligned",
     "valueFormatter": {"function": "params.value == null ? 'file' : params.value"}},
    {"field": "column", "headerName": "Column", "minWidth": 140,
     "valueFormatter": {"function": "params.value == null ? '—' : params.value"}},
    {"field": "reason", "headerName": "Reason", "minWidth": 300, "flex": 2, "wrapText": True, "autoHeight": True},
    {"field": "code", "headerName": "Code", "minWidth": 150},
]


def layout(kind: str | None = None, **_query) -> html.Div:
    """The import form; `?kind=marketing` opens it on spend and revenue (the getting-started checklist links so)."""
    principal = current_principal()
    organizations = import_organizations(get_db(), principal)
    if not organizations:
        return empty_state("No organization to import into.",
                           "Importing needs the metrics:import permission for a whole organization.")
    org_options = [{"label": o["name"], "value": o["id"]} for o in organizations]
    limit_mb, max_rows = MAX_UPLOAD_BYTES // 1048576, _limits().max_rows
    upload = dcc.Upload(
        id="import-upload", multiple=False, accept=".csv,.txt,.xlsx,.xlsm",
        children=html.Div([html.Strong("Drop a CSV or XLSX file here"), html.Span(" or "),
                           html.A("choose one", href="#", className="link-primary"),
                           html.Div(f"Up to {limit_mb} MB and {max_rows:,} rows. Nothing is written until you commit.",
                                    className="small text-muted")]),
        className="border border-2 rounded-3 p-4 text-center bg-body-tertiary",
        style={"borderStyle": "dashed", "cursor": "pointer"},
    )
    what = dbc.Row([
        dbc.Col([dbc.Label("Organization", html_for="import-org"),
                 dcc.Dropdown(id="import-org", options=org_options, value=organizations[0]["id"], clearable=False,
                              disabled=len(org_options) == 1)], md=5),
        dbc.Col([dbc.Label("The file holds"),
                 dbc.RadioItems(id="import-kind", options=KINDS,
                                value=kind if kind in {k["value"] for k in KINDS} else "metrics")], md=7),
        dbc.Col([dbc.Label("Start from", html_for="import-mapping-choice"),
                 dcc.Dropdown(id="import-mapping-choice", clearable=False)], md=6),
        dbc.Col([dbc.Label("Fixed brand for the whole file (optional)", html_for="import-brand"),
                 dcc.Dropdown(id="import-brand", placeholder="The file names the brand")], md=6),
        dbc.Col([html.Div("What each column holds", className="form-label"),
                 html.Div(id="import-columns-form"), html.Div(id="import-columns-status")], xs=12),
        dbc.Col([dbc.Button("Advanced: mapping as JSON", id="import-json-toggle", color="link", size="sm",
                            className="px-0"),
                 dbc.Collapse([
                     dbc.Label("Mapping as JSON", html_for="import-mapping", className="visually-hidden"),
                     dbc.Textarea(id="import-mapping", rows=8, className="font-monospace small", spellCheck=False),
                     html.Div(MAPPING_HINT, className="form-text"),
                 ], id="import-json", is_open=True)], xs=12),
    ], className="g-3")
    return html.Div([
        html.H2("Data import", className="mb-0"),
        html.Div("Metric values, spend and revenue from CSV or XLSX. Preview first: every bad row is listed and "
                 "nothing is written until a clean file is committed, all rows or none.",
                 className="text-muted small mb-3"),
        dbc.Row([
            dbc.Col([
                _step("1 · File", [upload, html.Div(id="import-upload-status")]),
                _step("2 · What it holds", what),
            ], xl=7),
            dbc.Col(_step("3 · Preview and commit", [
                html.Div([
                    dbc.Button("Preview", id="import-preview", color="primary", className="me-2"),
                    dbc.Button("Commit", id="import-commit", color="success", disabled=True),
                ]),
                html.Div("Upload a file, then Preview.", id="import-commit-hint", className="small text-muted mt-2"),
                dcc.Loading(html.Div(id="import-summary"), delay_show=200),
                html.Div([
                    html.Div(id="import-new-brands-list", className="small mb-1"),
                    dbc.Checkbox(id="import-create-brands", value=False, label="Create these new brands"),
                ], id="import-new-brands", hidden=True, className="alert alert-warning py-2 mt-2 mb-0"),
                dcc.Loading(html.Div(id="import-commit-result"), delay_show=200),
            ]), xl=5),
        ], className="g-3"),
        html.Div(dbc.Card([
            dbc.CardHeader("Rows with errors", className="fw-semibold"),
            dbc.CardBody(dag.AgGrid(
                id="import-errors", columnDefs=ERROR_COLUMNS, rowData=[], columnSize="responsiveSizeToFit",
                className="ag-theme-quartz", defaultColDef={"sortable": True, "filter": True, "resizable": True},
                dashGridOptions={"domLayout": "autoHeight", "animateRows": False, "pagination": True,
                                 "paginationPageSize": 25, "paginationPageSizeSelector": False},
            )),
        ], className="mb-4 shadow-sm"), id="import-errors-card", hidden=True),
        dcc.Store(id="import-token"),
        dcc.Store(id="import-columns"),
        dcc.Store(id="import-previewed"),
    ])


@protected_callback(
    Output("import-token", "data"),
    Output("import-upload-status", "children"),
    Input("import-upload", "contents"),
    State("import-upload", "filename"),
    permission=IMPORT,
    prevent_initial_call=True,
)
def receive_upload(contents, filename):
    """Keep the file on the server (the browser keeps only a token); too large or not CSV/XLSX is refused."""
    if not contents or not isinstance(contents, str) or "," not in contents:
        raise PreventUpdate
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None, _alert("The file could not be read. Upload it again.")
    try:
        staged = stage_upload(get_db(), current_principal(), filename or "", data, _limits())
    except UploadRejected as exc:
        return None, _alert(str(exc))
    size = f"{staged.size / 1024:,.1f} KB" if staged.size < 1048576 else f"{staged.size / 1048576:,.1f} MB"
    return staged.token, _alert([html.Strong(staged.filename), f" · {size} · SHA-256 {staged.sha256[:12]}… — "
                                 "now pick what it holds and press Preview."], "secondary", id="import-uploaded")


@protected_callback(
    Output("import-brand", "options"),
    Output("import-brand", "value"),
    Input("import-org", "value"),
    permission=IMPORT,
    objects={"organization_id": ("organization", _org_allowed)},
)
def brand_choices(organization_id):
    if organization_id is None:
        return [], None
    return import_brands(get_db(), current_principal(), organization_id), None


def _counts(report: ImportReport, committed: bool) -> html.Div:
    header = ["", "Insert", "Update", "Unchanged"] if not committed else ["", "Inserted", "Updated", "Unchanged"]
    rows = [html.Tr([html.Td(TABLE_NAMES.get(name, name)), html.Td(f"{c.insert:,}"), html.Td(f"{c.update:,}"),
                     html.Td(f"{c.unchanged:,}")]) for name, c in report.tables.items()]
    rows.append(html.Tr([html.Th("Total"), html.Th(f"{report.to_insert:,}"), html.Th(f"{report.to_update:,}"),
                         html.Th(f"{report.unchanged:,}")]))
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(rows)], size="sm",
                     className="mb-2", id="import-committed-counts" if committed else "import-counts")


@protected_callback(
    Output("import-summary", "children"),
    Output("import-errors", "rowData"),
    Output("import-errors-card", "hidden"),
    Output("import-previewed", "data"),
    Output("import-commit-result", "children"),
    Output("import-new-brands", "hidden"),
    Output("import-new-brands-list", "children"),
    Output("import-create-brands", "value"),
    Input("import-preview", "n_clicks"),
    State("import-token", "data"),
    State("import-org", "value"),
    State("import-kind", "value"),
    State("import-mapping", "value"),
    State("import-brand", "value"),
    permission=IMPORT,
    objects={"organization_id": ("organization", _org_allowed), "token": ("import_upload", _upload_owned)},
    prevent_initial_call=True,
)
def run_preview(_clicks, token, organization_id, kind, mapping_json, brand):
    """Dry run: counts per table and every bad row; remembers a clean preview for the commit.

    Brands the file names that the organization lacks are listed (for someone who may create
    brands) with a box to tick: the commit creates exactly those, or nothing is written."""
    hidden = (True, None, False)
    if not token:
        return _alert("Upload a file first.", "warning"), [], True, None, None, *hidden
    try:
        mapping = json.loads(mapping_json or "")
    except ValueError as exc:
        return _alert(f"The mapping is not valid JSON: {exc}."), [], True, None, None, *hidden
    try:
        report = preview_upload(get_db(), current_principal(), token, organization_id, mapping, kind, brand,
                                _limits())
    except Forbidden:
        return _alert(NOT_ALLOWED), [], True, None, None, *hidden
    except UploadRejected as exc:
        return _alert(str(exc), "warning"), [], True, None, None, *hidden
    errors = [e.to_dict() for e in report.errors]
    rows = f"{report.total_rows:,} row" + ("" if report.total_rows == 1 else "s")
    lines = [html.Div([html.Strong(report.filename), f" · {rows}"], className="mt-3 mb-2")]
    if report.tables:
        lines.append(_counts(report, committed=False))
    if report.channels_created:
        lines.append(html.Div("New channels: " + ", ".join(report.channels_created), className="small mb-2"))
    if report.new_brands and not report.ok:
        lines.append(html.Div("Brands not in this organization (you can create them once the errors are fixed): "
                              + ", ".join(report.new_brands), className="small mb-2", id="import-new-brands-pending"))
    if report.ok:
        lines.append(_alert("No errors: Commit writes exactly this.", "success", id="import-preview-ok"))
        previewed = {"token": token, "organization_id": organization_id, "kind": kind,
                     "mapping": mapping_json, "brand": brand, "new_brands": report.new_brands}
        if report.new_brands:
            n = len(report.new_brands)
            listing = [html.Strong(f"{n} brand{'s' if n != 1 else ''} not in this organization: "),
                       ", ".join(report.new_brands), html.Div("Tick the box to create them (in no project yet: add "
                                                              "them to projects under Portfolio setup).")]
            return lines, [], True, previewed, None, False, listing, False
        return lines, [], True, previewed, None, *hidden
    shown = f" (the first {len(errors)} are listed)" if report.error_count > len(errors) else ""
    by_reason = ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in sorted(report.error_counts.items()))
    lines.append(_alert([html.Strong(f"{report.error_count:,} error(s){shown}; nothing can be committed. "),
                         html.Span(f"By reason — {by_reason}. Fix the file or the mapping and preview again.")],
                        "danger", id="import-preview-errors"))
    return lines, errors, False, None, None, *hidden


@protected_callback(
    Output("import-commit", "disabled"),
    Output("import-commit-hint", "children"),
    Input("import-previewed", "data"),
    Input("import-token", "data"),
    Input("import-org", "value"),
    Input("import-kind", "value"),
    Input("import-mapping", "value"),
    Input("import-brand", "value"),
    Input("import-create-brands", "value"),
    permission=IMPORT,
)
def commit_ready(previewed, token, organization_id, kind, mapping_json, brand, create_brands):
    """Commit only what was previewed clean: any change to the file or the choices needs a new preview."""
    if not token:
        return True, "Upload a file, then Preview."
    current = {"token": token, "organization_id": organization_id, "kind": kind, "mapping": mapping_json,
               "brand": brand}
    if not previewed:
        return True, "Preview the file; Commit is possible once the preview has no errors."
    if {k: v for k, v in previewed.items() if k != "new_brands"} != current:
        return True, "The file or the choices changed since the preview: Preview again."
    if previewed.get("new_brands") and not create_brands:
        return True, f"Tick “Create these new brands” ({len(previewed['new_brands'])}) to commit, or fix the names."
    return False, "Ready: Commit writes every row of the preview, or none."


@protected_callback(
    Output("import-commit-result", "children", allow_duplicate=True),
    Output("import-previewed", "data", allow_duplicate=True),
    Output("import-token", "data", allow_duplicate=True),
    Output("import-summary", "children", allow_duplicate=True),
    Output("import-upload-status", "children", allow_duplicate=True),
    Output("import-new-brands", "hidden", allow_duplicate=True),
    Input("import-commit", "n_clicks"),
    State("import-token", "data"),
    State("import-org", "value"),
    State("import-create-brands", "value"),
    State("import-previewed", "data"),
    permission=IMPORT,
    objects={"organization_id": ("organization", _org_allowed), "token": ("import_upload", _upload_owned)},
    prevent_initial_call=True,
)
def run_commit(_clicks, token, organization_id, create_brands, previewed):
    """Write the previewed file in one transaction; say what changed and which projects were re-scored."""
    keep = (no_update, no_update, no_update)
    if not token:
        return _alert("Upload and preview a file first.", "warning"), no_update, no_update, *keep
    try:
        confirmed = (previewed or {}).get("new_brands") if create_brands and isinstance(previewed, dict) else None
        report = commit_upload(get_db(), current_principal(), token, organization_id, _limits(),
                               create_brands=confirmed if isinstance(confirmed, list) else None)
    except Forbidden:
        return _alert(NOT_ALLOWED), no_update, no_update, *keep
    except UploadRejected as exc:
        return _alert(str(exc), "warning"), None, no_update, *keep
    if not report.committed:
        return _alert(f"Nothing was written: the file now has {report.error_count:,} error(s) (the stored data "
                      "changed since the preview). Preview again to see them."), None, no_update, *keep
    body = [html.Strong(f"Committed as import batch #{report.batch_id}. "),
            f"{report.to_insert:,} inserted, {report.to_update:,} updated, {report.unchanged:,} unchanged.",
            _counts(report, committed=True)]
    if report.channels_created:
        body.append(html.Div("New channels: " + ", ".join(report.channels_created), className="small"))
    if report.brands_created:
        body.append(html.Div("New brands: " + ", ".join(report.brands_created), className="small",
                             id="import-brands-created"))
    projects = project_names(get_db(), report.projects_recomputed)
    if projects:
        body.append(html.Div("DC scores recomputed for: " + ", ".join(projects) + ".", id="import-recomputed"))
    elif report.kind == "metrics":
        body.append(html.Div("No metric value changed, so no DC score needed recomputing."))
    if report.fit_jobs:
        body.append(html.Div([f"Models of {len(report.fit_jobs)} brand(s) are being refitted with the new data: ",
                              dcc.Link("Model review", href="/models"), "."], id="import-refits"))
    body.extend(html.Div(f"Warning: {w}", className="text-warning-emphasis small") for w in report.warnings)
    done = html.Div(f"{report.filename} was imported. Upload another file to import more.",
                    className="small text-muted mt-2")
    return _alert(body, "success", id="import-committed"), None, None, None, done, True
