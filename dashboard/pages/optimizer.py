"""Budget optimizer (what-if): brands × channels, a scenario type, a budget and constraints → a run.

Run submits an "optimization" job to the durable queue exactly as the API does (core.jobs.queue:
validated and authorized again, a Job row owned by the person, then the in-process executor or a
Celery worker), keeps its id in the `optimizer-watch` store, and a dcc.Interval follows the row:
progress, then the result, or the error (and no stale result). The row is the run: a reload, or a
restart of the web process, finds the person's active or latest run on load and follows it again.
Cancel asks the job to stop; it stops at its next progress report. Only the job's owner (or a system
administrator) may follow or cancel it. `?scenario=ID` reopens a saved scenario: its inputs back in
the form and its result on screen.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core import input_ranges as ranges
from core.budget import (
    SCENARIOS,
    SOURCES,
    BudgetInputError,
    catalogue,
    export_bytes,
    preview,
)
from core.jobs.builtin import OPTIMIZATION
from core.jobs.kinds import JobInputError
from core.jobs.queue import QueueUnavailable, submit
from core.jobs.records import ACTIVE, JobNotFound, cancel, get_job, latest_job
from core.runtime import get_db
from core.scenarios import ScenarioError, get_scenario, save_copy, save_from_job
from core.security import Action, Principal, can, record
from core.security.authorizer import Forbidden
from dashboard.access import holds_anywhere, protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.components import compact, empty_state, kpi_card
from dashboard.errors import JOBS_UNAVAILABLE, queue_unavailable
from dashboard.figures.optimizer import (
    NUMBER,
    allocation_tab,
    binding_tab,
    curves_figure,
    frontier_figure,
    mroi_figure,
    risk_tab,
)

register_page(__name__, permission="scenario:run", path="/optimizer", name="Budget optimizer",
              title="Budget optimizer · Digi-Cadence")

RUN, SAVE, EXPORT = "scenario:run", "scenario:save", "report:export"
KIND = OPTIMIZATION.name
FOLLOW_EVERY_MS = 700  # how often the page reads the job row while a run is active




def _span(pair: list[float] | None) -> str:
    return f"90 % interval {compact(pair[0])} … {compact(pair[1])}" if pair else "no interval (curves without draws)"


# ------------------------------------------------------------------------------------------------ layout

EDIT = {**NUMBER, "editable": True, "cellClass": "dc-editable"}


def _grid(grid_id: str, columns: list[dict], rows: list[dict]) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=columns, rowData=rows, columnSize="responsiveSizeToFit",
        defaultColDef={"resizable": True, "minWidth": 90, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"domLayout": "autoHeight", "singleClickEdit": True, "stopEditingWhenCellsLoseFocus": True},
        className="ag-theme-quartz",
    )


CELL_COLUMNS = [
    {"field": "brand", "headerName": "Brand", "minWidth": 110, "pinned": "left"},
    {"field": "channel", "headerName": "Channel", "minWidth": 110},
    {"field": "current", "headerName": "Last 12 months", **NUMBER},
    {"field": "lower", "headerName": "Min", **EDIT},
    {"field": "upper", "headerName": "Max", **EDIT},
    {"field": "locked", "headerName": "Lock", "editable": True, "cellDataType": "boolean", "minWidth": 70},
    {"field": "min_spend", "headerName": "Min when on", **EDIT},
]
BRAND_COLUMNS = [{"field": "brand", "headerName": "Brand", "minWidth": 120},
                 {"field": "current", "headerName": "Last 12 months", **NUMBER},
                 {"field": "lower", "headerName": "Min total", **EDIT}, {"field": "upper", "headerName": "Max total",
                                                                         **EDIT}]
CHANNEL_COLUMNS = [{"field": "channel", "headerName": "Channel", "minWidth": 120},
                   {"field": "current", "headerName": "Last 12 months", **NUMBER},
                   {"field": "lower", "headerName": "Min total", **EDIT},
                   {"field": "upper", "headerName": "Max total", **EDIT}]


def _merge_rows(rows: list[dict], saved: list[dict] | None, keys: tuple[str, ...]) -> list[dict]:
    """Preview rows with a scenario's stored bounds laid over them (matched on `keys`)."""
    stored = {tuple(str(r.get(k)) for k in keys): r for r in saved or []}
    out = []
    for row in rows:
        extra = stored.get(tuple(str(row.get(k)) for k in keys), {})
        out.append({**row, "lower": extra.get("lower"), "upper": extra.get("upper"),
                    **({"locked": bool(extra.get("locked")), "min_spend": extra.get("min_spend")}
                       if "channel" in keys and "brand_id" in keys else {})})
    return out


def _limits(rng: ranges.NumberRange) -> dict[str, float]:
    """The browser's min/max hints from the range the server checks (core.input_ranges)."""
    return {"min": rng.lo, "max": rng.hi}


def _field(label: str, control: Any, hint: str | None = None) -> html.Div:
    return html.Div([dbc.Label(label, className="small fw-semibold mb-1"), control,
                     dbc.FormText(hint) if hint else None], className="mb-3")


def layout(scenario: str | None = None, brands: str | None = None, **_query) -> html.Div:
    """The form (prefilled from `?scenario=ID`, or brands from `?brands=ID,ID`), progress and results."""
    principal = current_principal()
    db = get_db()
    cat = catalogue(db, principal)
    if not cat["brands"]:
        return empty_state("No brand with spend history you may optimize.",
                           "Ask an administrator for access, or import spend and outcome data.")
    reopened, inputs = None, {}
    if scenario:
        try:
            reopened = get_scenario(db, principal, scenario)
            inputs = reopened.get("inputs") or {}
        except Forbidden:
            return empty_state("403 — you may not open this scenario.")
    running = latest_job(db, principal, KIND)  # a run survives a reload: the row says where it is
    if not reopened and running and running["status"] not in ("failed", "cancelled"):
        inputs = (running.get("payload") or {}).get("inputs") or {}  # the form as the last run had it
    brand_ids = {b["id"] for b in cat["brands"]}
    asked = inputs.get("brand_ids") or [int(b) for b in (brands or "").split(",") if b.strip().isdigit()]
    chosen = [b for b in asked if b in brand_ids] or [b["id"] for b in cat["brands"][:3]]
    channels = [c for c in inputs.get("channels") or [] if c in cat["channels"]] or list(cat["channels"])
    source = inputs.get("curve_source") or ("fitted" if any(b["fitted"] for b in cat["brands"]) or
                                            not cat["truth_available"] else "truth")
    pv = preview(db, principal, chosen, channels, source)
    watch = running["id"] if running and running["status"] in ACTIVE and not reopened else None
    shown_job = running["id"] if running and running["status"] == "succeeded" and not reopened else None
    source_options = [{"label": SOURCES["fitted"], "value": "fitted"}]
    if cat["truth_available"]:
        source_options.append({"label": SOURCES["truth"], "value": "truth"})
    brand_options = [{"label": b["name"] + ("" if b["fitted"] else " (not fitted yet)"), "value": b["id"]}
                     for b in cat["brands"]]

    setup = dbc.Card([
        dbc.CardHeader("Scenario"),
        dbc.CardBody([
            _field("Brands", dcc.Dropdown(id="optimizer-brands", options=brand_options, value=chosen, multi=True)),
            _field("Channels", dcc.Dropdown(id="optimizer-channels", options=cat["channels"], value=channels,
                                            multi=True)),
            _field("Response curves", dbc.RadioItems(id="optimizer-source", options=source_options, value=source),
                   "Brands without fitted curves are fitted when the run starts."),
            _field("Scenario type", dbc.RadioItems(id="optimizer-scenario-type", value=inputs.get("scenario")
                                                   or "max_outcome",
                                                   options=[{"label": v, "value": k} for k, v in SCENARIOS.items()])),
            dbc.Row([
                dbc.Col(_field("Budget, 12 months", dbc.Input(id="optimizer-budget", type="number",
                                                              **_limits(ranges.BUDGET),
                                                              value=inputs.get("budget") or round(pv["budget"])),
                               "Default: the last 12 months' actual spend."), xs=12, sm=6),
                dbc.Col(_field("Target outcome, 12 months", dbc.Input(
                    id="optimizer-target", type="number", **_limits(ranges.TARGET),
                    value=inputs.get("target") or (round(pv["current_outcome"] * 1.05) if pv["current_outcome"]
                                                   else None)),
                    "For the smallest-budget scenario."), xs=12, sm=6),
            ], className="g-2"),
            _field("Max change per cell, %", dbc.Input(id="optimizer-max-change", type="number",
                                                       **_limits(ranges.MAX_CHANGE_PCT),
                                                       value=inputs.get("max_change_pct"), placeholder="no limit")),
            html.Div(id="optimizer-window", className="small text-muted mb-2", children=_window_text(pv)),
        ]),
    ], className="shadow-sm mb-3")

    constraints = dbc.Card([
        dbc.CardHeader("Constraints (12-month money; empty = no bound)"),
        dbc.CardBody(dbc.Tabs([
            dbc.Tab(_grid("optimizer-cells", CELL_COLUMNS,
                          _merge_rows(pv["cells"], inputs.get("cells"), ("brand_id", "channel"))),
                    label="Cells", tab_id="cells"),
            dbc.Tab(_grid("optimizer-brand-bounds", BRAND_COLUMNS,
                          _merge_rows(pv["brands"], inputs.get("brand_bounds"), ("brand_id",))),
                    label="Brand totals", tab_id="brands"),
            dbc.Tab(_grid("optimizer-channel-bounds", CHANNEL_COLUMNS,
                          _merge_rows(pv["channels"], inputs.get("channel_bounds"), ("channel",))),
                    label="Channel totals", tab_id="channels"),
        ], active_tab="cells"), className="p-2"),
    ], className="shadow-sm mb-3")

    hard = dbc.Card([
        dbc.CardHeader("Hard cases"),
        dbc.CardBody([
            html.P("S-shaped curves, a minimum spend when a channel is on, at most k active channels per brand "
                   "or whole spend units switch to the genetic search, seeded by the exact optimum.",
                   className="small text-muted"),
            dbc.Row([
                dbc.Col(_field("Max active channels per brand", dbc.Input(
                    id="optimizer-max-active", type="number", step=1, **_limits(ranges.MAX_ACTIVE),
                    value=inputs.get("max_active_per_brand"), placeholder="all")), xs=6),
                dbc.Col(_field("Whole spend unit", dbc.Input(id="optimizer-unit", type="number",
                                                             step="any", **_limits(ranges.UNIT),
                                                             value=inputs.get("unit"), placeholder="none")), xs=6),
                dbc.Col(_field("Generations", dbc.Input(id="optimizer-generations", type="number", step=10,
                                                        **_limits(ranges.GENERATIONS),
                                                        value=inputs.get("generations") or 120)), xs=6),
                dbc.Col(_field("Frontier points", dbc.Input(id="optimizer-frontier-points", type="number",
                                                            **_limits(ranges.FRONTIER_POINTS),
                                                            value=inputs.get("frontier_points") or 11)),
                        xs=6),
            ], className="g-2"),
            dbc.Checklist(id="optimizer-risk", options=[{"label": "Compute the risk front (NSGA-II over the "
                                                         "bootstrap draws)", "value": "on"}],
                          value=["on"] if inputs.get("risk_front", True) else [], switch=True),
        ]),
    ], className="shadow-sm mb-3")

    actions = dbc.Card(dbc.CardBody([
        html.Div([
            dbc.Button("Run optimization", id="optimizer-run", color="primary", className="me-2",
                       disabled=watch is not None),
            dbc.Button("Cancel", id="optimizer-cancel", color="outline-danger", disabled=watch is None),
        ], className="d-flex flex-wrap gap-2 mb-2"),
        html.Div([
            dbc.Progress(id="optimizer-progress", value=running["progress"] * 100 if watch else 0, striped=True,
                         animated=True, label="", style={"height": "1.25rem"}),
            html.Div(running["message"] if watch else "", id="optimizer-progress-text",
                     className="small text-muted mt-1"),
        ], id="optimizer-progress-wrap", style={} if watch else {"display": "none"}),
        html.Div(id="optimizer-message", className="mt-2"),
        html.Div(id="optimizer-cancel-message", className="small text-muted"),
    ]), className="shadow-sm mb-3")

    title = "Budget optimizer"
    subtitle = (f"Reopened scenario “{reopened['name']}” ({reopened['status']})" if reopened else
                "Where should next year's budget go? Curves × last year's spend, with every constraint.")
    return html.Div([
        dcc.Store(id="optimizer-job", data=shown_job),
        dcc.Store(id="optimizer-scenario", data=reopened["id"] if reopened else None),
        dcc.Store(id="optimizer-watch", data=watch),
        dcc.Interval(id="optimizer-watch-tick", interval=FOLLOW_EVERY_MS, disabled=watch is None),
        dcc.Download(id="optimizer-download"),
        html.H2(title, className="mb-0"),
        html.P(subtitle, className="text-muted"),
        dbc.Row([
            dbc.Col([setup, hard], xs=12, lg=4),
            dbc.Col([constraints, actions, html.Div(id="optimizer-results")], xs=12, lg=8),
        ], className="g-3"),
    ])


def _window_text(pv: dict) -> list:
    parts = [html.Div("Last 12 months of spend: " + "; ".join(pv["window"]))] if pv["window"] else []
    if pv["current_outcome"]:
        parts.append(html.Div(f"Current allocation predicts {compact(pv['current_outcome'])} outcome a year "
                              f"for {compact(pv['budget'])} spend."))
    parts += [html.Div(n) for n in pv["notes"]]
    return parts


# ------------------------------------------------------------------------------------------------ callbacks


def _brands_allowed(principal: Principal, brand_id: Any) -> bool:
    try:
        return can(principal, RUN, ("brand", int(brand_id)))
    except (TypeError, ValueError):
        return False


@protected_callback(
    Output("optimizer-cells", "rowData"),
    Output("optimizer-brand-bounds", "rowData"),
    Output("optimizer-channel-bounds", "rowData"),
    Output("optimizer-budget", "value"),
    Output("optimizer-target", "value"),
    Output("optimizer-window", "children"),
    Input("optimizer-brands", "value"),
    Input("optimizer-channels", "value"),
    Input("optimizer-source", "value"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brands_allowed)},
)
def refresh_defaults(brand_ids, channels, source):
    """New selection → last year's spend per cell, brand and channel, and the default budget."""
    if not brand_ids or not channels:
        return [], [], [], None, None, [html.Div("Choose brands and channels.")]
    try:
        pv = preview(get_db(), current_principal(), brand_ids, channels, source or "fitted")
    except BudgetInputError as exc:
        return no_update, no_update, no_update, no_update, no_update, [html.Div(str(exc), className="text-danger")]
    target = round(pv["current_outcome"] * 1.05) if pv["current_outcome"] else None
    return (_merge_rows(pv["cells"], None, ("brand_id", "channel")), _merge_rows(pv["brands"], None, ("brand_id",)),
            _merge_rows(pv["channels"], None, ("channel",)), round(pv["budget"]), target, _window_text(pv))


def _alert(text: str, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0")


def _job_followable(principal: Principal, job_id: Any) -> bool:
    """Only the job's owner (or a system administrator) may follow, cancel or read it."""
    try:
        get_job(get_db(), principal, job_id)
    except JobNotFound:
        return False
    return True


# What the run, follow and cancel callbacks set, in this order (outputs of `_following`).
FOLLOW_OUTPUTS = [Output("optimizer-watch", "data", allow_duplicate=True),
                  Output("optimizer-watch-tick", "disabled", allow_duplicate=True),
                  Output("optimizer-progress", "value", allow_duplicate=True),
                  Output("optimizer-progress", "label", allow_duplicate=True),
                  Output("optimizer-progress-text", "children", allow_duplicate=True),
                  Output("optimizer-progress-wrap", "style", allow_duplicate=True),
                  Output("optimizer-run", "disabled", allow_duplicate=True),
                  Output("optimizer-cancel", "disabled", allow_duplicate=True),
                  Output("optimizer-job", "data", allow_duplicate=True),
                  Output("optimizer-message", "children", allow_duplicate=True)]


def _following(job: dict | None, message: Any = "") -> tuple:
    """The page's run controls for `job` (a get_job dict): following it while active, its outcome once ended.

    A succeeded job becomes the shown result; a failed or cancelled one clears it (no stale result
    under an error); None stops following and leaves the shown result as it is.
    """
    if job is None:
        return None, True, 0, "", "", {"display": "none"}, False, True, no_update, message
    pct = round((job["progress"] or 0) * 100)
    if job["status"] in ACTIVE:
        return (job["id"], False, pct, f"{pct}%", job["message"] or "", {}, True, False, None, message)
    if job["status"] == "succeeded":
        return None, True, 100, "100%", "", {"display": "none"}, False, True, job["id"], _alert("Done.", "success")
    text = "Run cancelled." if job["status"] == "cancelled" else f"The run failed: {job['error'] or 'unknown error'}"
    return None, True, 0, "", "", {"display": "none"}, False, True, None, _alert(text, "secondary")


@protected_callback(
    *FOLLOW_OUTPUTS,
    Input("optimizer-run", "n_clicks"),
    State("optimizer-brands", "value"),
    State("optimizer-channels", "value"),
    State("optimizer-source", "value"),
    State("optimizer-scenario-type", "value"),
    State("optimizer-budget", "value"),
    State("optimizer-target", "value"),
    State("optimizer-max-change", "value"),
    State("optimizer-cells", "rowData"),
    State("optimizer-brand-bounds", "rowData"),
    State("optimizer-channel-bounds", "rowData"),
    State("optimizer-max-active", "value"),
    State("optimizer-unit", "value"),
    State("optimizer-generations", "value"),
    State("optimizer-frontier-points", "value"),
    State("optimizer-risk", "value"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brands_allowed)},
)
def run_optimizer(n_clicks, brand_ids, channels, source, scenario_type, budget, target, max_change, cells,
                  brand_bounds, channel_bounds, max_active, unit, generations, frontier_points, risk):
    """Submit the run as a durable job, as the API does (validated and authorized again by the queue), and follow it."""
    if not n_clicks:
        return (no_update,) * len(FOLLOW_OUTPUTS)
    raw = {"brand_ids": brand_ids or [], "channels": channels or [], "curve_source": source,
           "scenario": scenario_type, "budget": budget, "target": target, "max_change_pct": max_change,
           "cells": cells or [], "brand_bounds": brand_bounds or [], "channel_bounds": channel_bounds or [],
           "max_active_per_brand": max_active, "unit": unit, "generations": generations,
           "frontier_points": frontier_points, "risk_front": bool(risk)}
    db, principal = get_db(), current_principal()
    try:
        job_id = submit(db, principal, KIND, {"inputs": raw})
    except JobInputError as exc:
        return _following(None, _alert(exc.reason.removeprefix("inputs: "), "warning"))
    except QueueUnavailable as exc:  # the broker down (dashboard.errors' words), or too many jobs waiting
        return _following(None, _alert(JOBS_UNAVAILABLE if queue_unavailable(exc) else str(exc), "warning"))
    except Forbidden:
        return _following(None, _alert("You may not run this scenario."))
    return _following(get_job(db, principal, job_id))


@protected_callback(
    *FOLLOW_OUTPUTS,
    Input("optimizer-watch-tick", "n_intervals"),
    State("optimizer-watch", "data"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"job_id": ("job", _job_followable)},
)
def follow_job(_tick, job_id):
    """Follow the job row (this page load's run, or one found on load): progress, then result or error."""
    if not job_id:
        return _following(None)
    return _following(get_job(get_db(), current_principal(), job_id))


@protected_callback(
    Output("optimizer-cancel-message", "children"),
    Input("optimizer-cancel", "n_clicks"),
    State("optimizer-watch", "data"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"job_id": ("job", _job_followable)},
)
def cancel_run(n_clicks, job_id):
    """Ask the followed job to stop; the run stops at its next progress report and the follow shows it."""
    if not n_clicks:
        return no_update
    if not job_id:
        return "Nothing is running."
    job = cancel(get_db(), current_principal(), job_id)
    return "Cancelling…" if job["status"] == "cancelled" else "The run had already ended."


def _scenario_readable(principal: Principal, scenario_id: Any) -> bool:
    try:
        return can(principal, "scenario:read", ("scenario", int(scenario_id)))
    except (TypeError, ValueError):
        return False


def _load_result(principal: Principal, job_id: Any, scenario_id: Any) -> dict | None:
    """The result on screen: the person's own finished job, or a scenario they may read."""
    db = get_db()
    if job_id:
        try:
            job = get_job(db, principal, job_id)
        except JobNotFound:
            return None
        return job["result"] if job["status"] == "succeeded" else None
    if scenario_id:
        return get_scenario(db, principal, scenario_id).get("result")
    return None


@protected_callback(
    Output("optimizer-results", "children"),
    Input("optimizer-job", "data"),
    Input("optimizer-scenario", "data"),
    permission=RUN,
    objects={"scenario_id": ("scenario", _scenario_readable)},
)
def show_result(job_id, scenario_id):
    """Render the result of the shown run (or reopened scenario)."""
    principal = current_principal()
    result = _load_result(principal, job_id, scenario_id if not job_id else None)
    if not result:
        return empty_state("No result yet.", "Set up the scenario and press Run optimization.")
    return results_view(result, can_save=holds_anywhere(principal, SAVE), can_export=holds_anywhere(principal, EXPORT),
                        default_name=_default_name(result))


def _default_name(result: dict) -> str:
    brands = sorted({c["brand"] for c in result.get("cells") or []})
    label = ", ".join(brands[:3]) + (f" +{len(brands) - 3}" if len(brands) > 3 else "")
    return f"{label} · {compact(result.get('budget'))} · {time.strftime('%Y-%m-%d %H:%M')}"


# ------------------------------------------------------------------------------------------------ results


def results_view(result: dict, *, can_save: bool, can_export: bool, default_name: str) -> html.Div:
    """KPIs, the charts in tabs, notes, and save / export controls."""
    uplift_pct = result.get("uplift_pct")
    tone = "success" if (result.get("uplift") or 0) >= 0 else "danger"
    kpis = [
        kpi_card("Predicted outcome, 12 months", compact(result.get("outcome")), _span(result.get("outcome_interval"))),
        kpi_card("Uplift vs current allocation",
                 (compact(result.get("uplift")) if result.get("uplift") is not None else "n/a")
                 + (f" ({uplift_pct:+.1f} %)" if uplift_pct is not None else ""),
                 _span(result.get("uplift_interval")), tone),
        kpi_card("Budget", compact(result.get("budget")), f"current {compact(result.get('current_budget'))}"),
        kpi_card("Return per unit spent", f"{result['roi']:.2f}" if result.get("roi") else "n/a",
                 f"{result.get('method')} · {result.get('status')}"),
    ]
    tabs = dbc.Tabs([
        dbc.Tab(allocation_tab(result), label="Allocation", tab_id="allocation"),
        dbc.Tab(dcc.Graph(figure=curves_figure(result), id="optimizer-curves-graph",
                          config={"displaylogo": False, "responsive": True}), label="Response curves",
                tab_id="curves"),
        dbc.Tab(dcc.Graph(figure=mroi_figure(result), config={"displaylogo": False}), label="Marginal ROI",
                tab_id="mroi"),
        dbc.Tab(dcc.Graph(figure=frontier_figure(result), config={"displaylogo": False}), label="Budget frontier",
                tab_id="frontier"),
        dbc.Tab(binding_tab(result), label="Binding constraints", tab_id="binding"),
        dbc.Tab(risk_tab(result), label="Risk front", tab_id="risk"),
    ], active_tab="allocation", className="mb-2")
    controls = []
    if can_save:
        controls.append(dbc.InputGroup([
            dbc.Input(id="optimizer-save-name", value=default_name, maxlength=200),
            dbc.Button("Save as scenario", id="optimizer-save", color="success"),
        ], className="mb-2"))
    if can_export:
        controls.append(html.Div([
            dbc.Button("Export CSV", id="optimizer-export-csv", color="outline-secondary", size="sm",
                       className="me-2"),
            dbc.Button("Export XLSX", id="optimizer-export-xlsx", color="outline-secondary", size="sm"),
        ]))
    return html.Div([
        dbc.Row([dbc.Col(c, xs=12, sm=6, xl=3) for c in kpis], className="g-3 mb-3", id="optimizer-kpis"),
        dbc.Card([dbc.CardHeader(f"{result.get('scenario_label')} · {result.get('curve_source_label')}"),
                  dbc.CardBody(tabs)], className="shadow-sm mb-3"),
        dbc.Card(dbc.CardBody([*controls, html.Div(id="optimizer-save-message", className="mt-2")]),
                 className="shadow-sm mb-3") if controls else html.Div(id="optimizer-save-message"),
        html.Ul([html.Li(n) for n in result.get("notes") or []], className="small text-muted"),
    ], id="optimizer-result-view")


# ------------------------------------------------------------------------------------------------ save, export


@protected_callback(
    Output("optimizer-save-message", "children"),
    Input("optimizer-save", "n_clicks"),
    State("optimizer-save-name", "value"),
    State("optimizer-job", "data"),
    State("optimizer-scenario", "data"),
    prevent_initial_call=True,
    permission=SAVE,
    objects={"scenario_id": ("scenario", _scenario_readable)},
)
def save(n_clicks, name, job_id, scenario_id):
    """Save the shown run (its stored result, not the browser's copy) as a scenario."""
    if not n_clicks:
        return no_update
    principal = current_principal()
    try:
        if job_id:
            new_id = save_from_job(get_db(), principal, job_id, name)
        elif scenario_id:
            new_id = save_copy(get_db(), principal, scenario_id, name)
        else:
            return _alert("Run an optimization first.", "warning")
    except ScenarioError as exc:
        return _alert(str(exc), "warning")
    return dbc.Alert(["Saved as scenario #", str(new_id), ". ",
                      dcc.Link("Open Scenarios", href="/scenarios", id="optimizer-open-scenarios")],
                     color="success", className="py-2 mb-0", id="optimizer-saved")


@protected_callback(
    Output("optimizer-download", "data"),
    Input("optimizer-export-csv", "n_clicks"),
    Input("optimizer-export-xlsx", "n_clicks"),
    State("optimizer-job", "data"),
    State("optimizer-scenario", "data"),
    prevent_initial_call=True,
    permission=EXPORT,
    objects={"scenario_id": ("scenario", _scenario_readable)},
)
def export(csv_clicks, xlsx_clicks, job_id, scenario_id):
    """The shown result as CSV (allocation) or XLSX (allocation, summary, binding, frontier); audited."""
    if not (csv_clicks or xlsx_clicks):
        return no_update
    fmt = "xlsx" if dash.ctx.triggered_id == "optimizer-export-xlsx" else "csv"
    principal = current_principal()
    result = _load_result(principal, job_id, scenario_id if not job_id else None)
    if not result:
        return no_update
    record(get_db(), Action.EXPORT, actor=principal, organization_id=principal.organization_id,
           target=("scenario", scenario_id) if scenario_id and not job_id else ("job", job_id),
           data={"format": fmt, "what": "budget optimization"})
    stamp = time.strftime("%Y%m%d-%H%M")
    return dcc.send_bytes(export_bytes(result, fmt), f"budget-optimization-{stamp}.{fmt}")
