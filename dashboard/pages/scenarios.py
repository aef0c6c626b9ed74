"""Saved scenarios in the person's scope: reopen, compare two or three side by side, delete, approve.

Every action posts scenario ids, and every id is checked on the server (core.scenarios authorizes
each read and write and audits the writes). Approving is for holders of scenario:approve (a
Portfolio Manager); deleting an approved scenario needs that permission too.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core.classification import ClassificationError, readable
from core.formatting import Units
from core.optimize.results import describe_status
from core.runtime import get_db
from core.scenarios import (
    APPROVE,
    LIST_LIMIT,
    READ,
    SAVE,
    ScenarioError,
    approve_scenario,
    compare,
    delete_scenario,
    list_scenarios,
)
from core.security import Forbidden, Principal, can
from core.setup.classification import set_scenario_level
from dashboard.access import holds_anywhere, protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.classification_view import level_badge
from dashboard.components import PALETTE, chart_layout, signed, term
from dashboard.figures.common import figure
from dashboard.getting_started import empty_page
from dashboard.report_download import report_control, send_report

register_page(__name__, permission=READ, path="/scenarios", name="Scenarios", title="Scenarios · Digi-Cadence")

STATUS_COLORS = {"approved": "success", "saved": "primary", "draft": "secondary", "archived": "light"}




# ₹1.26 B / ₹462 M / 48.2 K conversions, as the optimizer writes them: each row in its own run's units
# (`_with_units` puts the sign and the outcome noun on the row; a list can span organizations).
_COMPACT = ("(Math.abs(params.value) >= 1e9 ? d3.format('.3~r')(Math.abs(params.value) / 1e9) + ' B' : "
            "Math.abs(params.value) >= 1e6 ? d3.format('.3~r')(Math.abs(params.value) / 1e6) + ' M' : "
            "Math.abs(params.value) >= 1e3 ? d3.format('.3~r')(Math.abs(params.value) / 1e3) + ' K' : "
            "d3.format('.3~r')(Math.abs(params.value)))")
_MINUS = "(params.value < 0 ? '\u2212' : '')"
MONEY = {"type": "rightAligned", "cellDataType": "number", "valueFormatter": {"function": (
    f"params.value == null ? '' : {_MINUS} + (params.data.money_sign || '') + {_COMPACT}")}}
OUTCOME = {"type": "rightAligned", "cellDataType": "number", "valueFormatter": {"function": (
    f"params.value == null ? '' : params.data.outcome_noun ? {_MINUS} + {_COMPACT} + ' ' + params.data.outcome_noun"
    f" : {_MINUS} + (params.data.money_sign || '') + {_COMPACT}")}}


def _with_units(rows: list[dict]) -> list[dict]:
    """Each row with its currency sign and, for a count outcome, the outcome's noun (for the grid's formatters)."""
    for row in rows:
        units = Units.of(row.get("units"))
        row["money_sign"] = units.sign
        row["outcome_noun"] = None if units.revenue else units.outcome_name
    return rows


def _columns(can_open: bool) -> list[dict]:
    # Names wrap instead of being cut off: two plans often differ only at the end of their names.
    name = {"field": "name", "headerName": "Scenario", "minWidth": 220, "checkboxSelection": True,
            "headerCheckboxSelection": False, "pinned": "left", "wrapText": True, "autoHeight": True,
            "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}}
    if can_open:
        name |= {"cellRenderer": "markdown", "valueGetter": {
            "function": "'[' + params.data.name.replace(/[\\[\\]]/g, '') + '](/' + "
                        "(params.data.kind == 'flighting' ? 'flighting' : 'optimizer') + '?scenario=' + params.data.id "
                        "+ ')'"}}
    return [
        name,
        {"field": "status", "headerName": "Status", "minWidth": 100,
         "cellClassRules": {"text-success fw-semibold": "params.value == 'approved'"}},
        # Each row's data classification (issue 17); rows above the reader's clearance are never sent.
        {"field": "classification", "headerName": "Classification", "minWidth": 120,
         "valueFormatter": {"function": "params.value ? params.value[0].toUpperCase() + params.value.slice(1) : ''"},
         "cellClassRules": {"text-danger fw-semibold": "params.value == 'restricted'",
                            "text-warning-emphasis fw-semibold": "params.value == 'confidential'"}},
        {"field": "scenario", "headerName": "Type", "minWidth": 170, "wrapText": True, "autoHeight": True,
         "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}},
        {"field": "brands", "headerName": "Brands", "minWidth": 150,
         "valueFormatter": {"function": "(params.value || []).join(', ')"}},
        {"field": "budget", "headerName": "Budget", **MONEY},
        {"field": "outcome", "headerName": "Predicted outcome", "minWidth": 130, "wrapHeaderText": True,
         "autoHeaderHeight": True, **OUTCOME},
        {"field": "uplift_pct", "headerName": "Uplift", "type": "rightAligned",
         "valueFormatter": {"function": "params.value == null ? '' : d3.format('+.1f')(params.value) + ' %'"}},
        {"field": "owner", "headerName": "Owner", "minWidth": 130},
        {"field": "created_at", "headerName": "Saved", "minWidth": 150, "sort": "desc",
         "valueFormatter": {"function": "params.value ? params.value.slice(0, 16).replace('T', ' ') : ''"}},
    ]


def layout(**_query) -> html.Div:
    principal = current_principal()
    rows = _with_units(list_scenarios(get_db(), principal))
    can_open = holds_anywhere(principal, "scenario:run")
    buttons = [dbc.Button("Compare / view", id="scenarios-compare", color="primary", className="me-2")]
    if holds_anywhere(principal, APPROVE):
        buttons.append(dbc.Button("Approve", id="scenarios-approve", color="success", className="me-2"))
    if holds_anywhere(principal, SAVE):
        buttons.append(dcc.ConfirmDialogProvider(
            dbc.Button("Delete", id="scenarios-delete-button", color="outline-danger"), id="scenarios-delete",
            message="Delete the selected scenarios? This cannot be undone."))
        # Data classification (issue 17): an owner sets their scenario's level, up to their own clearance.
        buttons += [dcc.Dropdown(id="scenarios-level", options=[{"label": v.capitalize(), "value": v}
                                                                for v in readable(principal.clearance)],
                                 placeholder="Classification", clearable=False, style={"minWidth": "160px"}),
                    dbc.Button("Classify", id="scenarios-classify", color="outline-secondary")]
    return html.Div([
        html.Div([html.H2("Scenarios", className="mb-0"), report_control("report-scenario", "Report on the selected")],
                 className="d-flex flex-wrap justify-content-between align-items-center gap-2"),
        html.P("Saved what-if runs you may see. Select up to three to compare them side by side"
               + ("; open one to reload it in the optimizer." if can_open else "."), className="text-muted"),
        html.P(f"Showing the newest {LIST_LIMIT} scenarios; delete the ones you no longer need to list older ones.",
               className="small text-muted", id="scenarios-capped") if len(rows) >= LIST_LIMIT else None,
        None if rows else empty_page(principal, "No saved scenarios yet.",
                                     "Run the budget optimizer and save its plan: it appears here."
                                     if can_open else "Scenarios appear here once someone saves a plan."),
        dbc.Card([
            dbc.CardHeader(html.Div(buttons, className="d-flex flex-wrap gap-2")),
            dbc.CardBody([
                dag.AgGrid(id="scenarios-grid", rowData=rows, columnDefs=_columns(can_open),
                           getRowId="params.data.id", columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                           defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
                           dashGridOptions={"rowSelection": "multiple", "suppressRowClickSelection": True,
                                            "domLayout": "autoHeight", "animateRows": False}),
                html.Div(id="scenarios-message", className="mt-2"),
            ]),
        ], className="shadow-sm mb-3"),
        html.Div(id="scenarios-compare-view"),
    ])


def _row_id(item: Any) -> int | None:
    value = item.get("id") if isinstance(item, dict) else item
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _selected(principal: Principal, item: Any, permission: str = READ) -> bool:
    ident = _row_id(item)
    return ident is not None and can(principal, permission, ("scenario", ident))


def _ids(selected: list | None) -> list[int]:
    return [i for i in (_row_id(r) for r in selected or []) if i is not None]


def _alert(text: str, color: str = "warning") -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0")


@protected_callback(
    Output("scenarios-compare-view", "children"),
    Output("scenarios-message", "children", allow_duplicate=True),
    Input("scenarios-compare", "n_clicks"),
    State("scenarios-grid", "selectedRows"),
    prevent_initial_call=True,
    permission=READ,
    objects={"selected": ("scenario", _selected)},
)
def show_compare(n_clicks, selected):
    """One to three selected scenarios side by side: headline numbers and spend by channel and brand."""
    if not n_clicks:
        return no_update, no_update
    ids = _ids(selected)
    if not ids:
        return no_update, _alert("Select one to three scenarios first.")
    try:
        data = compare(get_db(), current_principal(), ids)
    except ScenarioError as exc:
        return no_update, _alert(str(exc))
    return compare_view(data), None


def _delta_line(delta: dict, first: str, units: Units) -> html.Div | None:
    """“vs <first>: revenue +₹12.3 M (+2.1 pts of uplift), budget +₹10 M”: how this plan moved against the first."""
    if delta.get("outcome") is None:
        return None
    parts = [f"{units.outcome_name} {units.outcome_change(delta['outcome'])}"]
    if delta.get("uplift_pct") is not None:
        parts.append(f"uplift {signed(delta['uplift_pct'])} pts")
    if delta.get("budget"):
        parts.append(f"budget {units.money_change(delta['budget'])}")
    return html.Div([html.Span(f"vs {first}: ", className="text-muted"), ", ".join(parts)],
                    className="small mt-1 scenarios-delta")


def _card(sc: dict, delta: dict, first: str | None, width: int) -> dbc.Col:
    r = sc["result"] or {}
    pct, units = r.get("uplift_pct"), Units.of(r.get("units"))
    return dbc.Col(dbc.Card([
        dbc.CardHeader([html.Span(sc["name"], className="fw-semibold me-2 text-break"),
                        dbc.Badge(sc["status"], color=STATUS_COLORS.get(sc["status"], "secondary")),
                        level_badge(sc.get("classification") or "internal", class_name="ms-1")]),
        dbc.CardBody([
            html.Div(r.get("scenario_label") or sc["kind"], className="small text-muted"),
            html.Div(["Budget ", units.money(r.get("budget"))], className="mt-1"),
            html.Div([term("predicted_outcome", f"Predicted {units.outcome_name}"), " ",
                      units.outcome_value(r.get("outcome"))], className="fs-5 fw-semibold"),
            html.Div([term("uplift"), " ", units.outcome_change(r.get("uplift"))
                      + (f" ({pct:+.1f} %)".replace("-", "−") if pct is not None else "")],
                     className="text-success" if (r.get("uplift") or 0) >= 0 else "text-danger"),
            _delta_line(delta, first, units) if first
            else html.Div("the reference for the changes", className="small mt-1 text-muted"),
            html.Div(f"{r.get('curve_source_label', '')} · {r.get('method', '')}", className="small text-muted"),
            html.Div(describe_status(r), className="small text-muted") if r.get("status") else None,
            html.Div(f"by {sc['owner'] or 'n/a'} · {(sc['created_at'] or '')[:10]}", className="small text-muted"),
        ]),
    ], className="h-100 shadow-sm"), xs=12, md=width)


def _differences(data: dict) -> dbc.Card:
    rows = data.get("differences") or []
    if len(data["scenarios"]) < 2:
        body = html.Div("Select two or three scenarios to see what differs.", className="text-muted small")
    elif not rows:
        body = html.Div("Every input is the same: the plans differ only by the data each one ran on.",
                        className="text-muted small")
    else:
        head = html.Thead(html.Tr([html.Th("Input")] + [html.Th(sc["name"])
                                                         for sc in data["scenarios"]]))
        body = dbc.Table([head, html.Tbody([html.Tr([html.Td(r["input"], className="fw-semibold")]
                                                    + [html.Td(v) for v in r["values"]]) for r in rows])],
                         size="sm", bordered=False, striped=True, responsive=True, className="mb-0 small",
                         id="scenarios-differences-table")
    return dbc.Card([dbc.CardHeader("What differs between them"), dbc.CardBody(body)],
                    className="shadow-sm mb-3", id="scenarios-differences")


def compare_view(data: dict) -> html.Div:
    scenarios, labels = data["scenarios"], data["labels"]
    deltas = data.get("deltas") or [{} for _ in scenarios]
    width = 12 // max(len(scenarios), 1)
    cards = [_card(sc, deltas[i], scenarios[0]["name"] if i else None, width) for i, sc in enumerate(scenarios)]
    units = Units.of(((scenarios[0].get("result") or {}) if scenarios else {}).get("units"))
    charts = [
        dbc.Col(dbc.Card([dbc.CardHeader("Optimized spend by channel"),
                          dbc.CardBody(dcc.Graph(figure=_bars(data["by_channel"], "channel", labels, units),
                                                 config={"displaylogo": False}))], className="shadow-sm"),
                xs=12, lg=6),
        dbc.Col(dbc.Card([dbc.CardHeader("Optimized spend by brand"),
                          dbc.CardBody(dcc.Graph(figure=_bars(data["by_brand"], "brand", labels, units),
                                                 config={"displaylogo": False}))], className="shadow-sm"),
                xs=12, lg=6),
    ]
    if len(labels) > 1:
        charts.append(dbc.Col(dbc.Card([
            dbc.CardHeader(f"Change in spend by channel against {scenarios[0]['name']}"),
            dbc.CardBody(dcc.Graph(figure=_delta_bars(data["by_channel"], labels, units), config={"displaylogo": False},
                                   id="scenarios-delta-chart"))], className="shadow-sm"), xs=12))
    return html.Div([
        html.H4("Side by side", className="mt-2"),
        dbc.Row(cards, className="g-3 mb-3", id="scenarios-compare-cards"),
        _differences(data),
        dbc.Row(charts, className="g-3 mb-4"),
    ], id="scenarios-compare-body")


def _delta_bars(rows: list[dict], labels: list[str], units: Units) -> dict:
    """Each later scenario's spend per channel minus the first's: where the plans disagree."""
    first = labels[0]
    data = [{"type": "bar", "name": label, "x": [r["channel"] for r in rows],
             "y": [(r.get(label) or 0) - (r.get(first) or 0) for r in rows],
             "marker": {"color": PALETTE[(i + 1) % len(PALETTE)]}} for i, label in enumerate(labels[1:])]
    return figure(data, chart_layout(height=300, barmode="group", hovermode="x", showlegend=True,
                                     yaxis={**units.axis_money("spend change, 12 months"), "zeroline": True},
                                     xaxis={"automargin": True}))


def _bars(rows: list[dict], key: str, labels: list[str], units: Units) -> dict:
    return figure([{"type": "bar", "name": label, "x": [r[key] for r in rows], "y": [r.get(label) for r in rows],
                    "marker": {"color": PALETTE[i % len(PALETTE)]}} for i, label in enumerate(labels)],
                  chart_layout(height=340, barmode="group", hovermode="x",
                               yaxis=units.axis_money("spend, 12 months"), xaxis={"automargin": True}))


def _refresh() -> list[dict]:
    return _with_units(list_scenarios(get_db(), current_principal()))


def _approvable(principal: Principal, item: Any) -> bool:
    return _selected(principal, item, APPROVE)


def _deletable(principal: Principal, item: Any) -> bool:
    return _selected(principal, item, SAVE)


@protected_callback(
    Output("scenarios-grid", "rowData", allow_duplicate=True),
    Output("scenarios-message", "children", allow_duplicate=True),
    Input("scenarios-approve", "n_clicks"),
    State("scenarios-grid", "selectedRows"),
    prevent_initial_call=True,
    permission=APPROVE,
    objects={"selected": ("scenario", _approvable)},
)
def approve(n_clicks, selected):
    """Mark the selected scenario approved (audited). One at a time: approval is a decision."""
    if not n_clicks:
        return no_update, no_update
    ids = _ids(selected)
    if len(ids) != 1:
        return no_update, _alert("Select exactly one scenario to approve.")
    approve_scenario(get_db(), current_principal(), ids[0])
    return _refresh(), _alert(f"Scenario #{ids[0]} approved.", "success")


@protected_callback(
    Output("scenarios-grid", "rowData", allow_duplicate=True),
    Output("scenarios-message", "children", allow_duplicate=True),
    Input("scenarios-classify", "n_clicks"),
    State("scenarios-grid", "selectedRows"),
    State("scenarios-level", "value"),
    prevent_initial_call=True,
    permission=SAVE,
    objects={"selected": ("scenario", _deletable)},
)
def classify(n_clicks, selected, level):
    """Set the selected scenario's classification: its owner only, validated and audited in core."""
    ids = _ids(selected)
    if not n_clicks or len(ids) != 1:
        return no_update, _alert("Select exactly one scenario of yours to classify.")
    try:
        stored = set_scenario_level(get_db(), current_principal(), ids[0], level)
    except Forbidden:
        return no_update, _alert("Only the scenario's owner sets its classification.", "danger")
    except (ClassificationError, LookupError) as exc:
        return no_update, _alert(f"Nothing was changed: {exc}.", "danger")
    return _refresh(), _alert(f"Scenario #{ids[0]} classified {stored}.", "success")


@protected_callback(
    Output("scenarios-grid", "rowData", allow_duplicate=True),
    Output("scenarios-message", "children", allow_duplicate=True),
    Output("scenarios-compare-view", "children", allow_duplicate=True),
    Input("scenarios-delete", "submit_n_clicks"),
    State("scenarios-grid", "selectedRows"),
    prevent_initial_call=True,
    permission=SAVE,
    objects={"selected": ("scenario", _deletable)},
)
def delete(submitted, selected):
    """Delete the selected scenarios (each checked and audited on its own)."""
    if not submitted:
        return no_update, no_update, no_update
    ids = _ids(selected)
    if not ids:
        return no_update, _alert("Select the scenarios to delete."), no_update
    principal = current_principal()
    for ident in ids:
        delete_scenario(get_db(), principal, ident)
    return _refresh(), _alert(f"Deleted {len(ids)} scenario(s).", "secondary"), None


@protected_callback(
    Output("report-scenario-download", "data"),
    Output("report-scenario-message", "children"),
    Input("report-scenario-pdf", "n_clicks"),
    Input("report-scenario-xlsx", "n_clicks"),
    State("scenarios-grid", "selectedRows"),
    permission="report:export",
    objects={"selected": ("scenario", lambda principal, item: _selected(principal, item, "report:export"))},
    prevent_initial_call=True,
)
def download_report(_pdf, _xlsx, selected):
    """The scenario report of the one selected scenario (core.reports re-checks export and scope)."""
    ids = _ids(selected)
    if len(ids) != 1:
        return no_update, "Select one scenario to download its report."
    return send_report("scenario", {"scenario_id": ids[0]})
