"""Budget optimizer (what-if): brands × channels, a scenario type, a budget and constraints → a run.

Run submits an "optimization" job to the durable queue exactly as the API does (core.jobs.queue:
validated and authorized again, a Job row owned by the person, then the in-process executor or a
Celery worker), keeps its id in the `optimizer-watch` store, and a dcc.Interval follows the row:
progress, then the result, or the error (and no stale result). The row is the run: a reload, or a
restart of the web process, finds the person's active or latest run on load and follows it again.
Cancel asks the job to stop; it stops at its next progress report. Only the job's owner (or a system
administrator) may follow or cancel it. `?scenario=ID` reopens a saved scenario: its inputs back in
the form and its result on screen.

This module holds the layout and the callbacks; the form's grids and its values as a job's inputs are
in dashboard/optimizer_form.py, submitting, following and exporting a run in dashboard/optimizer_run.py,
and the result view and charts in dashboard/figures/optimizer.py.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core import input_ranges as ranges
from core.budget import SCENARIOS, SOURCES, BudgetInputError, catalogue, preview
from core.budget_inputs import DEFAULT_MAX_CHANGE_PCT
from core.formatting import Units
from core.jobs.records import ACTIVE, latest_job
from core.runtime import get_db
from core.scenarios import ScenarioError, get_scenario, save_copy, save_from_job
from core.security import Principal, can
from core.security.authorizer import Forbidden
from dashboard.access import holds_anywhere, protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.classification_view import level_badge
from dashboard.components import empty_state
from dashboard.figures.optimizer import default_name, results_view
from dashboard.getting_started import empty_page
from dashboard.optimizer_form import (
    BRAND_COLUMNS,
    CELL_COLUMNS,
    CHANNEL_COLUMNS,
    brand_options,
    default_target,
    field,
    form_inputs,
    goal_fields,
    goal_visibility,
    grid,
    grid_rows,
    limits,
    risk_options,
    window_text,
)
from dashboard.optimizer_run import (
    FOLLOW_EVERY_MS,
    FOLLOW_OUTPUTS,
    KIND,
    alert,
    export_download,
    follow_and_cancel,
    following,
    job_followable,
    load_result,
    result_placeholder,
    scenario_readable,
    shown_plan_level,
    submit_run,
)

register_page(__name__, permission="scenario:run", path="/optimizer", name="Budget optimizer",
              title="Budget optimizer · Digi-Cadence")

RUN, SAVE, EXPORT = "scenario:run", "scenario:save", "report:export"


# ------------------------------------------------------------------------------------------------ layout

def layout(scenario: str | None = None, brands: str | None = None, **_query) -> html.Div:
    """The form (prefilled from `?scenario=ID`, or brands from `?brands=ID,ID`), progress and results."""
    principal = current_principal()
    db = get_db()
    cat = catalogue(db, principal)
    if not cat["brands"]:
        return empty_page(principal, "No brand with spend history you may optimize.",
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
    source = inputs.get("curve_source") or "fitted"  # a brand not fitted yet is fitted when the run starts
    pv = preview(db, principal, chosen, channels, source)
    units = Units.of(pv.get("units"))
    watch = running["id"] if running and running["status"] in ACTIVE and not reopened else None
    shown_job = running["id"] if running and running["status"] == "succeeded" and not reopened else None
    source_options = [{"label": SOURCES["fitted"], "value": "fitted"}]
    if cat["truth_available"]:
        source_options.append({"label": SOURCES["truth"], "value": "truth"})

    setup = dbc.Card([
        dbc.CardHeader("Scenario"),
        dbc.CardBody([
            field("Brands", dcc.Dropdown(id="optimizer-brands", options=brand_options(cat), value=chosen, multi=True)),
            field("Channels", dcc.Dropdown(id="optimizer-channels", options=cat["channels"], value=channels,
                                           multi=True)),
            field("Response curves", dbc.RadioItems(id="optimizer-source", options=source_options, value=source),
                  "Brands without fitted curves are fitted when the run starts."),
            field("Scenario type", dbc.RadioItems(id="optimizer-scenario-type",
                                                  value=inputs.get("scenario") or "max_outcome",
                                                  options=[{"label": v, "value": k} for k, v in SCENARIOS.items()])),
            goal_fields(inputs, pv, units),
            field("Max change per channel, ± %", dbc.Input(
                id="optimizer-max-change", type="number", **limits(ranges.MAX_CHANGE_PCT), placeholder="no limit",
                value=inputs.get("max_change_pct", DEFAULT_MAX_CHANGE_PCT)),
                  f"±{DEFAULT_MAX_CHANGE_PCT:g} % to start: no channel moves further from last year's spend than "
                  "its curve has seen, and none is cut to nothing. Widen it (say 60) for a bolder plan; clear it "
                  "for no limit."),
            html.Div(id="optimizer-window", className="small text-muted mb-2", children=window_text(pv)),
        ]),
    ], className="shadow-sm mb-3")

    cell_rows, brand_rows, channel_rows = grid_rows(pv, inputs)
    constraints = dbc.Card([
        dbc.CardHeader("Constraints (12-month money; empty = no bound)"),
        dbc.CardBody(dbc.Tabs([
            dbc.Tab(grid("optimizer-cells", CELL_COLUMNS, cell_rows), label="Cells", tab_id="cells"),
            dbc.Tab(grid("optimizer-brand-bounds", BRAND_COLUMNS, brand_rows), label="Brand totals",
                    tab_id="brands"),
            dbc.Tab(grid("optimizer-channel-bounds", CHANNEL_COLUMNS, channel_rows), label="Channel totals",
                    tab_id="channels"),
        ], active_tab="cells"), className="p-2"),
    ], className="shadow-sm mb-3")

    hard = dbc.Card([
        dbc.CardHeader("Hard cases"),
        dbc.CardBody([
            html.P("S-shaped curves, a minimum spend when a channel is on, at most k active channels per brand "
                   "or whole spend units switch to the genetic search, seeded by the exact optimum.",
                   className="small text-muted"),
            dbc.Row([
                dbc.Col(field("Max active channels per brand", dbc.Input(
                    id="optimizer-max-active", type="number", step=1, **limits(ranges.MAX_ACTIVE),
                    value=inputs.get("max_active_per_brand"), placeholder="all")), xs=6),
                dbc.Col(field("Whole spend unit", dbc.Input(id="optimizer-unit", type="number",
                                                            step="any", **limits(ranges.UNIT),
                                                            value=inputs.get("unit"), placeholder="none")), xs=6),
                dbc.Col(field("Generations", dbc.Input(id="optimizer-generations", type="number", step=10,
                                                       **limits(ranges.GENERATIONS),
                                                       value=inputs.get("generations") or 120)), xs=6),
                dbc.Col(field("Frontier points", dbc.Input(id="optimizer-frontier-points", type="number",
                                                           **limits(ranges.FRONTIER_POINTS),
                                                           value=inputs.get("frontier_points") or 11)),
                        xs=6),
            ], className="g-2"),
            dbc.Checklist(id="optimizer-risk", options=risk_options(pv), switch=True,
                          value=["on"] if inputs.get("risk_front", True) and pv["draws"] else []),
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
    Output("optimizer-risk", "options"),
    Output("optimizer-risk", "value"),
    Input("optimizer-brands", "value"),
    Input("optimizer-channels", "value"),
    Input("optimizer-source", "value"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brands_allowed)},
)
def refresh_defaults(brand_ids, channels, source):
    """New selection → last year's spend per cell, brand and channel, the default budget, and the risk front
    switched on exactly when these curves carry the uncertainty it needs."""
    if not brand_ids or not channels:
        return [], [], [], None, None, [html.Div("Choose brands and channels.")], no_update, no_update
    try:
        pv = preview(get_db(), current_principal(), brand_ids, channels, source or "fitted")
    except BudgetInputError as exc:
        return (no_update,) * 5 + ([html.Div(str(exc), className="text-danger")], no_update, no_update)
    units = Units.of(pv.get("units"))
    return (*grid_rows(pv), units.whole(pv["budget"]), units.whole(default_target(pv)), window_text(pv),
            risk_options(pv), ["on"] if pv["draws"] else [])


@protected_callback(
    Output("optimizer-budget-col", "style"),
    Output("optimizer-target-col", "style"),
    Output("optimizer-target-roas-col", "style"),
    Input("optimizer-scenario-type", "value"),
    prevent_initial_call=True,
    permission=RUN,
)
def show_goal_fields(scenario_type):
    """The fields the chosen scenario type reads: a budget to place, an outcome to reach or a ROAS to hold."""
    return goal_visibility(scenario_type)


@protected_callback(
    *FOLLOW_OUTPUTS,
    Input("optimizer-run", "n_clicks"),
    State("optimizer-brands", "value"),
    State("optimizer-channels", "value"),
    State("optimizer-source", "value"),
    State("optimizer-scenario-type", "value"),
    State("optimizer-budget", "value"),
    State("optimizer-target", "value"),
    State("optimizer-target-roas", "value"),
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
def run_optimizer(n_clicks, brand_ids, channels, source, scenario_type, budget, target, target_roas, max_change, cells,
                  brand_bounds, channel_bounds, max_active, unit, generations, frontier_points, risk):
    """Submit the run as a durable job, as the API does (validated and authorized again by the queue), and follow it."""
    if not n_clicks:
        return (no_update,) * len(FOLLOW_OUTPUTS)
    raw = form_inputs(brand_ids=brand_ids, channels=channels, source=source, scenario_type=scenario_type,
                      budget=budget, target=target, target_roas=target_roas, max_change=max_change, cells=cells,
                      brand_bounds=brand_bounds, channel_bounds=channel_bounds, max_active=max_active, unit=unit,
                      generations=generations, frontier_points=frontier_points, risk=risk)
    return submit_run(current_principal(), raw)


follow_and_cancel("optimizer", FOLLOW_OUTPUTS, following)



@protected_callback(
    Output("optimizer-results", "children"),
    Input("optimizer-job", "data"),
    Input("optimizer-scenario", "data"),
    State("optimizer-watch", "data"),
    permission=RUN,
    objects={"scenario_id": ("scenario", scenario_readable), "watched": ("job", job_followable)},
)
def show_result(job_id, scenario_id, watched):
    """Render the result of the shown run (or reopened scenario); while a run is followed, say it is running."""
    principal = current_principal()
    result = load_result(principal, job_id, scenario_id if not job_id else None)
    if not result:
        return result_placeholder(watched)
    return results_view(result, can_save=holds_anywhere(principal, SAVE), can_export=holds_anywhere(principal, EXPORT),
                        default_name=default_name(result),
                        badge=level_badge(shown_plan_level(principal, scenario_id), class_name="optimizer-level"))


@protected_callback(
    Output("optimizer-brands", "options", allow_duplicate=True),
    Output("optimizer-window", "children", allow_duplicate=True),
    Input("optimizer-job", "data"),
    State("optimizer-brands", "value"),
    State("optimizer-channels", "value"),
    State("optimizer-source", "value"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brands_allowed)},
)
def refresh_fitted(job_id, brand_ids, channels, source):
    """A finished run may have fitted brands on demand: the form stops calling them "not fitted yet"."""
    if not job_id or not brand_ids or not channels:
        return no_update, no_update
    principal = current_principal()
    try:
        pv = preview(get_db(), principal, brand_ids, channels, source or "fitted")
    except BudgetInputError:
        return no_update, no_update
    return brand_options(catalogue(get_db(), principal)), window_text(pv)


@protected_callback(
    Output("optimizer-save-message", "children"),
    Input("optimizer-save", "n_clicks"),
    State("optimizer-save-name", "value"),
    State("optimizer-job", "data"),
    State("optimizer-scenario", "data"),
    prevent_initial_call=True,
    permission=SAVE,
    objects={"scenario_id": ("scenario", scenario_readable)},
)
def save(n_clicks, name, job_id, scenario_id):
    """Save the shown run (its stored result, not the browser's copy) as a scenario."""
    if not n_clicks:
        return no_update
    principal = current_principal()
    try:
        if job_id:
            # A run started from a reopened scenario keeps its level (never declassified by saving).
            new_id = save_from_job(get_db(), principal, job_id, name, shown_plan_level(principal, scenario_id).value)
        elif scenario_id:
            new_id = save_copy(get_db(), principal, scenario_id, name)
        else:
            return alert("Run an optimization first.", "warning")
    except ScenarioError as exc:
        return alert(str(exc), "warning")
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
    objects={"scenario_id": ("scenario", scenario_readable)},
)
def export(csv_clicks, xlsx_clicks, job_id, scenario_id):
    """The shown result as CSV (allocation) or XLSX (allocation, summary, binding, frontier); audited."""
    if not (csv_clicks or xlsx_clicks):
        return no_update
    fmt = "xlsx" if dash.ctx.triggered_id == "optimizer-export-xlsx" else "csv"
    principal = current_principal()
    result = load_result(principal, job_id, scenario_id if not job_id else None)
    if not result:
        return no_update
    return export_download(principal, result, fmt, job_id, scenario_id)
