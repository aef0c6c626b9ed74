"""The import page's column form: what each column of an uploaded spend and revenue file holds.

After a file is uploaded its header and first rows are read on the server
(`core.imports.uploads.upload_head`); each column gets a role (date, brand, revenue, units, a
channel's spend, a control, or not imported) pre-filled by `core.imports.column_form.guess_roles`,
and a preview of the first rows is shown. The form writes the same mapping JSON the "Advanced"
editor holds, and reading the editor puts the roles back, so both stay in step; the preview still
validates that JSON on the server (`core.imports.mapping.parse_spec`), never the form.

The page module (`dashboard/pages/admin_import.py`) calls `register_callbacks` (Dash executes
page modules once per app, while this module is imported once).
"""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from core.imports.column_form import (
    NAMED,
    ROLES,
    ColumnRole,
    channel_name,
    guess_granularity,
    guess_roles,
    mapping_from_roles,
    roles_from_mapping,
)
from core.imports.mapping import MappingError, parse_spec
from core.imports.uploads import IMPORT, UploadRejected, owns_upload, shipped_mappings, upload_head
from core.runtime import app_state, get_db
from dashboard.access import protected_callback
from dashboard.auth.principal import current_principal

FORM = "form"  # the mapping choice that means "as the column form says"
ROLE = "import-col-role"
NAME = "import-col-name"
GRANULARITY = "import-col-granularity"
CELL_CHARS = 40
ROLE_OPTIONS = [{"label": label, "value": value} for value, label in ROLES.items()]
GRANULARITIES = [{"label": "week", "value": "week"}, {"label": "month", "value": "month"}]
NO_FILE = "Upload a file to say what each of its columns holds."
NOT_MARKETING = (
    "The column form is for spend and revenue files. Metric values: pick a layout under “Start "
    "from”, or edit the mapping under “Advanced: mapping as JSON”."
)


def _upload_owned(principal, token) -> bool:
    return owns_upload(get_db(), principal, token)


def _head(columns: Any) -> tuple[list[str], list[list[str]]] | None:
    """The header and rows the store holds, or None (nothing uploaded, or a reading error)."""
    if not isinstance(columns, dict) or not isinstance(columns.get("headers"), list):
        return None
    headers = [str(h) for h in columns["headers"]]
    rows = [[str(c) for c in row] for row in columns.get("rows") or [] if isinstance(row, list)]
    return headers, rows


def _column_row(index: int, column: str, role: ColumnRole, example: str) -> dbc.Row:
    named = role.role in NAMED
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.Div(column, className="fw-semibold text-break"),
                    html.Div(f"e.g. {example}" if example else "first row empty", className="small text-muted"),
                ],
                xs=12,
                md=4,
            ),
            dbc.Col(
                html.Label(  # the label wraps the field: a pattern-matching id cannot be named by html_for
                    [
                        html.Span(f"What “{column}” holds", className="visually-hidden"),
                        dbc.Select(id={"type": ROLE, "index": index}, options=ROLE_OPTIONS, value=role.role, size="sm"),
                    ],
                    className="w-100 mb-0",
                ),
                xs=7,
                md=4,
            ),
            dbc.Col(
                html.Label(
                    [
                        html.Span(f"Name for “{column}”", className="visually-hidden"),
                        dbc.Input(
                            id={"type": NAME, "index": index},
                            value=role.name if named else "",
                            size="sm",
                            disabled=not named,
                            placeholder="channel or control name" if named else "—",
                        ),
                    ],
                    className="w-100 mb-0",
                ),
                xs=5,
                md=4,
            ),
        ],
        className="g-2 align-items-center py-1 border-bottom",
    )


def _preview_table(headers: list[str], rows: list[list[str]]) -> html.Div:
    head = html.Thead(html.Tr([html.Th(h, className="text-nowrap") for h in headers]))
    body = html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])
    return html.Div(
        [
            html.Div(
                f"The first {len(rows)} row{'s' if len(rows) != 1 else ''} of the file",
                className="small text-muted mt-3 mb-1",
            ),
            html.Div(
                dbc.Table(
                    [head, body],
                    size="sm",
                    bordered=True,
                    className="small mb-0 text-nowrap",
                    id="import-columns-preview",
                ),
                style={"overflowX": "auto"},
            ),
        ]
    )


def render_form(headers: list[str], rows: list[list[str]], roles: list[ColumnRole], granularity: str) -> list:
    """The role of every column, how often the periods come, and the first rows of the file."""
    first = rows[0] if rows else []
    return [
        dbc.Row(
            [
                dbc.Col(dbc.Label("One row per", className="mb-0"), width="auto"),
                dbc.Col(
                    dbc.RadioItems(
                        id={"type": GRANULARITY, "index": 0}, options=GRANULARITIES, value=granularity, inline=True
                    ),
                    width="auto",
                ),
            ],
            className="g-2 align-items-center mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(html.Span("Column", className="small text-muted"), xs=12, md=4, className="d-none d-md-block"),
                dbc.Col(html.Span("Holds", className="small text-muted"), md=4, className="d-none d-md-block"),
                dbc.Col(html.Span("Stored as", className="small text-muted"), md=4, className="d-none d-md-block"),
            ],
            className="g-2",
        ),
        *[
            _column_row(i, h, r, first[i][:CELL_CHARS] if i < len(first) else "")
            for i, (h, r) in enumerate(zip(headers, roles, strict=True))
        ],
        _preview_table(headers, rows),
    ]


def _granularity_of(mapping: dict, roles: list[ColumnRole], rows: list[list[str]]) -> str:
    """The mapping's own, else guessed from the date column's first values."""
    if mapping.get("granularity") in ("week", "month"):
        return mapping["granularity"]
    dated = [i for i, r in enumerate(roles) if r.role == "date"]
    return guess_granularity([row[dated[0]] for row in rows if dated[0] < len(row)]) if dated else "week"


def problems_of(mapping: dict, form_problems: list[str]) -> list[str]:
    """What stops this mapping: the form's own words when it has any, else the schema's (which the
    preview applies again on the server)."""
    if form_problems:
        return form_problems
    try:
        parse_spec(mapping, kind="marketing")
    except MappingError as exc:
        return exc.problems
    return []


def _status(problems: list[str], note: str | None = None):
    if note:
        return dbc.Alert(note, color="secondary", className="small py-2 mt-2 mb-0", id="import-columns-note")
    if not problems:
        return html.Div("The mapping below follows these choices.", className="small text-muted mt-2")
    return dbc.Alert(
        [html.Strong("Before you preview: "), html.Ul([html.Li(p) for p in problems], className="mb-0")],
        color="warning",
        className="small py-2 mt-2 mb-0",
        id="import-columns-problems",
    )


def read_columns(token):
    """The uploaded file's header and first rows (cells cut short): the browser sees no more of it."""
    if not token:
        return None
    try:
        head = upload_head(get_db(), current_principal(), token, app_state().config.import_limits)
    except UploadRejected as exc:
        return {"error": str(exc)}
    return {"headers": head.headers, "rows": [[c[:CELL_CHARS] for c in row] for row in head.rows]}


def mapping_choices(kind, columns, current):
    """The mappings for this kind of data; a spend and revenue file starts from its own columns. A new
    file keeps a shipped example chosen for it before (only the default layouts give way)."""
    options = [{"label": label, "value": name} for name, (label, _m) in shipped_mappings(kind or "").items()]
    if kind == "marketing" and _head(columns):
        options = [{"label": "The columns as chosen below", "value": FORM}, *options]
    kept = ctx.triggered_id == "import-columns" and current not in (FORM, f"{kind}-long")
    if kept and current in {o["value"] for o in options}:
        return options, current
    return options, options[0]["value"] if options else None


def mapping_text(name, columns, kind):
    """The chosen mapping as editable JSON and, for a spend and revenue file, the column form: guessed
    from the headers ("The columns as chosen below") or read from the shipped mapping when it fits."""
    head = _head(columns)
    if isinstance(columns, dict) and columns.get("error"):
        form = dbc.Alert(columns["error"], color="warning", className="small mb-0")
    else:
        form = html.Div(NO_FILE if kind == "marketing" else NOT_MARKETING, className="small text-muted")
    if name == FORM and head and kind == "marketing":
        headers, rows = head
        roles = guess_roles(headers)
        mapping, problems = mapping_from_roles(roles, _granularity_of({}, roles, rows))
        return (
            json.dumps(mapping, indent=2),
            render_form(headers, rows, roles, mapping["granularity"]),
            _status(problems_of(mapping, problems)),
        )
    found = shipped_mappings(kind or "").get(name or "")
    if found is None:
        return "", form, None
    mapping = {k: v for k, v in found[1].items() if k != "description"}
    text = json.dumps(mapping, indent=2)
    if not head or kind != "marketing":
        return text, form, None
    headers, rows = head
    roles = roles_from_mapping(mapping, headers)
    if roles is None:
        return (
            text,
            None,
            _status(
                [],
                "This mapping uses settings the column form cannot show (or columns this "
                "file lacks): edit it under “Advanced: mapping as JSON”, or choose “The "
                "columns as chosen below”.",
            ),
        )
    return (
        text,
        render_form(headers, rows, roles, _granularity_of(mapping, roles, rows)),
        _status(problems_of(mapping, [])),
    )


def _chosen(headers: list[str], roles: list, names: list) -> list[ColumnRole]:
    """The form's roles as posted (an unknown role is "not imported"), names filled in where needed."""
    chosen = []
    for header, role, name in zip(headers, roles, names, strict=False):
        role = role if role in ROLES else "ignore"
        default = channel_name(header) if role == "spend" else header
        chosen.append(ColumnRole(header, role, (str(name or "").strip() or default) if role in NAMED else ""))
    return chosen


def _from_form(head: tuple[list[str], list[list[str]]], roles: list, names: list, granularity: list) -> tuple:
    """Form → JSON: the mapping the roles build; a changed role redraws the form (its name field
    filled in and enabled for spend and controls, emptied and disabled otherwise)."""
    headers, rows = head
    chosen = _chosen(headers, roles, names)
    period = granularity[0] if granularity and granularity[0] in ("week", "month") else "week"
    mapping, problems = mapping_from_roles(chosen, period)
    role_changed = isinstance(ctx.triggered_id, dict) and ctx.triggered_id.get("type") == ROLE
    form = render_form(headers, rows, chosen, period) if role_changed else no_update
    return json.dumps(mapping, indent=2), form, _status(problems_of(mapping, problems))


def _from_json(head: tuple[list[str], list[list[str]]], text: str, shown: list[ColumnRole], granularity: list) -> tuple:
    """JSON → form: the roles the edited mapping gives (the form redrawn only if they differ from
    what it shows), or a note when the form cannot show that mapping."""
    headers, rows = head
    try:
        mapping = json.loads(text or "")
    except ValueError:
        return (
            no_update,
            no_update,
            _status([], "The mapping below is not valid JSON yet; the column form waits for it."),
        )
    roles = roles_from_mapping(mapping, headers)
    if roles is None:
        return (
            no_update,
            no_update,
            _status(
                [],
                "The mapping below uses settings the column form cannot show: "
                "changing a column here replaces it with the form's mapping.",
            ),
        )
    period = mapping.get("granularity", "week")
    same = roles == shown and granularity[:1] == [period]
    form = no_update if same else render_form(headers, rows, roles, period)
    return no_update, form, _status(problems_of(mapping, []))


def sync_mapping(roles, names, granularity, text, columns, kind):
    """Keep the form and the JSON editor in step, whichever the person changed. A call no person
    caused (the form's fields just drawn) changes nothing, so redrawing never loops."""
    head = _head(columns)
    if not head or kind != "marketing" or ctx.triggered_id is None:
        raise PreventUpdate
    granularity = granularity or []
    if "import-mapping.value" in ctx.triggered_prop_ids:
        return _from_json(head, text, _chosen(head[0], roles or [], names or []), granularity)
    if not roles or len(roles) != len(head[0]):
        raise PreventUpdate
    return _from_form(head, roles, names or [], granularity)


def toggle_json(_clicks, kind, is_open):
    """The JSON editor is the advanced way for spend files, and the way for metric values."""
    if ctx.triggered_id == "import-json-toggle":
        return not is_open
    return kind != "marketing"


def register_callbacks() -> None:
    """Declare the column form's callbacks; the page module calls this each time Dash loads it for an app
    (Dash executes page modules per app, while this module is imported once)."""
    protected_callback(
        Output("import-columns", "data"),
        Input("import-token", "data"),
        permission=IMPORT,
        objects={"token": ("import_upload", _upload_owned)},
    )(read_columns)
    protected_callback(
        Output("import-mapping-choice", "options"),
        Output("import-mapping-choice", "value"),
        Input("import-kind", "value"),
        Input("import-columns", "data"),
        State("import-mapping-choice", "value"),
        permission=IMPORT,
    )(mapping_choices)
    protected_callback(
        Output("import-mapping", "value"),
        Output("import-columns-form", "children"),
        Output("import-columns-status", "children"),
        Input("import-mapping-choice", "value"),
        Input("import-columns", "data"),
        State("import-kind", "value"),
        permission=IMPORT,
    )(mapping_text)
    protected_callback(
        Output("import-mapping", "value", allow_duplicate=True),
        Output("import-columns-form", "children", allow_duplicate=True),
        Output("import-columns-status", "children", allow_duplicate=True),
        Input({"type": ROLE, "index": ALL}, "value"),
        Input({"type": NAME, "index": ALL}, "value"),
        Input({"type": GRANULARITY, "index": ALL}, "value"),
        Input("import-mapping", "value"),
        State("import-columns", "data"),
        State("import-kind", "value"),
        permission=IMPORT,
        prevent_initial_call=True,
    )(sync_mapping)
    protected_callback(
        Output("import-json", "is_open"),
        Input("import-json-toggle", "n_clicks"),
        Input("import-kind", "value"),
        State("import-json", "is_open"),
        permission=IMPORT,
    )(toggle_json)
