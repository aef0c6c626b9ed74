"""Flighting planner: how a budget should be spent week by week over the next 13, 26 or 52 weeks.

Brands and channels the person may run (the optimizer's catalogue), a horizon from the week after the last
week of data, a budget (last year's spend over the same weeks to start) and whether the carry-over past the
horizon counts. Run submits a "flighting" job through the durable queue exactly as POST /api/v1/flighting
does (validated, authorized and checked for feasibility again) and follows its row as the optimizer page
does: progress, Cancel, and a reload finds the person's running or last run again. The grid caps each
channel's spend week by week (0 = a blackout week). Every callback re-checks scenario:run and the brands.

The form as a job's inputs, following and export are in dashboard/flighting_run.py, the charts in
dashboard/figures/flighting.py.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from core.budget import SOURCES, catalogue
from core.flighting.run import FlightingInputError, default_budget
from core.formatting import Units
from core.jobs.records import ACTIVE, latest_job
from core.runtime import get_db
from core.scenarios import ScenarioError, get_scenario, save_from_job
from core.security import Principal, can
from core.security.authorizer import Forbidden
from core.settings import brand_units
from dashboard.access import holds_anywhere, protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.classification_view import level_badge
from dashboard.components import empty_state
from dashboard.figures.flighting import results_view
from dashboard.flighting_run import (
    FOLLOW_EVERY_MS,
    FOLLOW_OUTPUTS,
    HORIZONS,
    KIND,
    FormError,
    export_download,
    following,
    form_inputs,
    limit_rows,
    load_result,
    period_keys,
    submit_run,
)
from dashboard.getting_started import empty_page
from dashboard.optimizer_form import amount_field, brand_options, field
from dashboard.optimizer_run import alert, follow_and_cancel, job_followable, scenario_readable, shown_plan_level

register_page(__name__, permission="scenario:run", path="/flighting", name="Flighting planner",
              title="Flighting planner · Digi-Cadence")

RUN, SAVE, EXPORT = "scenario:run", "scenario:save", "report:export"


# ------------------------------------------------------------------------------------------------ form parts

def _units(brand_ids: list[int]) -> Units:
    with get_db().engine.connect() as conn:
        return brand_units(conn, brand_ids) if brand_ids else Units()


def _defaults(principal: Principal, brand_ids: list[int], channels: list[str], weeks: int
              ) -> tuple[float | None, Any, list[str]]:
    """Last year's spend for these weeks (the budget to start from), the sentence saying which weeks, and
    the plan's week starts."""
    try:
        start = default_budget(get_db(), principal, brand_ids, channels, weeks)
    except FlightingInputError as exc:
        return None, html.Span(exc.reason, className="text-danger"), []
    if not start["last_data_week"]:
        return None, "No weekly spend for these brands and channels yet.", []
    units = _units(brand_ids)
    return start["budget"], (f"Week 1 starts {start['weeks'][0]} (the week after the last week of data, "
                             f"{start['last_data_week']}); week {weeks} starts {start['weeks'][-1]}. Last year "
                             f"the same weeks had {units.money(start['budget'])} of spend."), start["weeks"]


def bounds_columns(weeks: int, units: Units) -> list[dict]:
    """The weekly grid: per channel a row of the most it may spend each week and a row of what is booked."""
    money = {**units.grid_money(compact=True), "editable": True, "cellClass": "dc-editable", "minWidth": 84,
             "width": 92}
    return [{"field": "channel", "headerName": "Channel", "pinned": "left", "minWidth": 110, "width": 120},
            {"field": "row", "headerName": "", "minWidth": 80, "width": 84, "cellClass": "text-muted small"},
            *[{"field": f"w{w + 1}", "headerName": f"W{w + 1}", **money} for w in range(weeks)]]


def bounds_rows(channels: list[str], weeks: int, old: list[dict] | None = None, inputs: dict | None = None) -> list:
    """Per channel an "at most" row and a "booked" row; values typed before (or the last run's caps, blackouts
    and bookings) are kept."""
    kept = {(r.get("channel"), r.get("kind") or "cap"): r for r in old or []}
    caps, dark = (inputs or {}).get("week_max") or {}, (inputs or {}).get("blackout") or {}
    booked = (inputs or {}).get("commitments") or {}
    rows = []
    for c in channels:
        for kind, label in (("cap", "at most"), ("booked", "booked")):
            row = {"channel": c, "kind": kind, "row": label}
            for w in range(weeks):
                key = f"w{w + 1}"
                given = (caps if kind == "cap" else booked).get(c) or []
                value = given[w] if w < len(given) else None
                if kind == "cap" and w + 1 in dark.get(c, []):
                    value = 0
                row[key] = kept.get((c, kind), {}).get(key, value)
            rows.append(row)
    return rows


def limit_columns(units: Units) -> list[dict]:
    money = {**units.grid_money(compact=True), "editable": True, "cellClass": "dc-editable", "minWidth": 88}
    return [{"field": "limit", "headerName": "Total over", "minWidth": 110, "flex": 2, "wrapText": True,
             "autoHeight": True, "cellStyle": {"lineHeight": "1.3", "paddingTop": "6px", "paddingBottom": "6px"}},
            {"field": "least", "headerName": units.label("At least"), **money, "flex": 1},
            {"field": "most", "headerName": units.label("At most"), **money, "flex": 1}]


def _limits_from(inputs: dict | None) -> list[dict]:
    """The last run's (or reopened scenario's) totals as grid rows to keep."""
    out = []
    for kind in ("period", "channel"):
        for name, (least, most) in ((inputs or {}).get(f"{kind}_budgets") or {}).items():
            out.append({"key": f"{kind}:{name}", "least": least or None, "most": most})
    return out


def _grid(weeks: int, channels: list[str], units: Units, inputs: dict | None) -> dag.AgGrid:
    return dag.AgGrid(
        id="flighting-bounds", columnDefs=bounds_columns(weeks, units),
        rowData=bounds_rows(channels, weeks, None, inputs),
        defaultColDef={"resizable": True, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"domLayout": "autoHeight", "singleClickEdit": True, "stopEditingWhenCellsLoseFocus": True},
        className="ag-theme-quartz", style={"width": "100%"})


# ------------------------------------------------------------------------------------------------ layout

def layout(scenario: str | None = None, **_query) -> html.Div:
    """The form (as the last run or a reopened `?scenario=ID` had it), the run controls and the plan."""
    principal = current_principal()
    db = get_db()
    cat = catalogue(db, principal)
    if not cat["brands"]:
        return empty_page(principal, "No brand with spend history you may plan.",
                          "Ask an administrator for access, or import weekly spend and outcome data.")
    reopened = None
    if scenario:
        try:
            reopened = get_scenario(db, principal, scenario)
        except Forbidden:
            return empty_state("403 — you may not open this scenario.")
        if reopened.get("kind") != "flighting":
            return empty_state("This scenario is a budget plan, not a weekly one.",
                               "Open it from the Scenarios page in the Budget optimizer.")
    running = None if reopened else latest_job(db, principal, KIND)
    inputs = (running.get("payload") or {}) if running and running["status"] not in ("failed", "cancelled") else {}
    inputs = (reopened.get("inputs") or {}) if reopened else inputs
    brand_ids = {b["id"] for b in cat["brands"]}
    chosen = [b for b in inputs.get("brand_ids") or [] if b in brand_ids] or [cat["brands"][0]["id"]]
    channels = [c for c in inputs.get("channels") or [] if c in cat["channels"]] or list(cat["channels"])
    weeks = inputs.get("weeks") if inputs.get("weeks") in HORIZONS else 13
    fitted = all(b["fitted"] for b in cat["brands"] if b["id"] in chosen)  # a fresh demo has only its truth curves
    source = inputs.get("curve_source") or ("truth" if not fitted and cat["truth_available"] else "fitted")
    budget, window, starts = _defaults(principal, chosen, channels, weeks)
    units = _units(chosen)
    by = "quarter" if any("-Q" in p for p in inputs.get("period_budgets") or {}) else "month"
    watch = running["id"] if running and running["status"] in ACTIVE else None
    shown = running["id"] if running and running["status"] == "succeeded" else None
    sources = [{"label": SOURCES["fitted"], "value": "fitted"}]
    if cat["truth_available"]:
        sources.append({"label": SOURCES["truth"], "value": "truth"})

    setup = dbc.Card([dbc.CardHeader("Plan"), dbc.CardBody([
        field("Brands", dcc.Dropdown(id="flighting-brands", options=brand_options(cat), value=chosen, multi=True)),
        field("Channels", dcc.Dropdown(id="flighting-channels", options=cat["channels"], value=channels, multi=True)),
        field("Response curves", dbc.RadioItems(id="flighting-source", options=sources, value=source),
              "Flighting plans on curves already fitted; fit a brand on the Model review page first."),
        field("Horizon", dbc.RadioItems(id="flighting-weeks", value=weeks, inline=True,
                                        options=[{"label": f"{w} weeks", "value": w} for w in HORIZONS])),
        field("Budget for the horizon", amount_field("flighting-budget", inputs.get("budget") or budget, units),
              "Starts at last year's spend over the same weeks; type 12 M or 1,20,00,000."),
        dbc.Checklist(id="flighting-carryover", switch=True, className="mb-2",
                      value=["on"] if inputs.get("carryover_out", True) else [],
                      options=[{"label": "Count carry-over past the end of the horizon", "value": "on"}]),
        html.Div(window, id="flighting-window", className="small text-muted"),
    ])], className="shadow-sm mb-3")

    limits = dbc.Card([
        dbc.CardHeader("Weekly limits: the most a channel may spend each week (empty = no limit, 0 = blackout) "
                       "and what is already booked (spent whatever the plan says)"),
        dbc.CardBody(_grid(weeks, channels, units, inputs), className="p-2"),
    ], className="shadow-sm mb-3")

    totals = dbc.Card([
        dbc.CardHeader("Totals (optional): keep a month, a quarter or a channel within a range"),
        dbc.CardBody([
            dbc.RadioItems(id="flighting-period-by", value=by, inline=True, className="mb-2 small",
                           options=[{"label": "By month", "value": "month"},
                                    {"label": "By quarter", "value": "quarter"}]),
            dag.AgGrid(id="flighting-limits", columnDefs=limit_columns(units),
                       rowData=limit_rows(period_keys(starts, by), channels, _limits_from(inputs)),
                       defaultColDef={"resizable": True, "wrapHeaderText": True, "autoHeaderHeight": True},
                       dashGridOptions={"domLayout": "autoHeight", "singleClickEdit": True,
                                        "stopEditingWhenCellsLoseFocus": True},
                       className="ag-theme-quartz", style={"width": "100%"}),
            dbc.FormText("A week counts in the month and quarter it starts in. Empty = no limit; a channel's "
                         "total is over all chosen brands."),
        ], className="p-2"),
    ], className="shadow-sm mb-3")

    actions = dbc.Card(dbc.CardBody([
        html.Div([dbc.Button("Plan the weeks", id="flighting-run", color="primary", disabled=watch is not None),
                  dbc.Button("Cancel", id="flighting-cancel", color="outline-danger", disabled=watch is None)],
                 className="d-flex flex-wrap gap-2 mb-2"),
        html.Div([dbc.Progress(id="flighting-progress", value=running["progress"] * 100 if watch else 0, striped=True,
                               animated=True, label="", style={"height": "1.25rem"}),
                  html.Div(running["message"] if watch else "", id="flighting-progress-text",
                           className="small text-muted mt-1")],
                 id="flighting-progress-wrap", style={} if watch else {"display": "none"}),
        html.Div(id="flighting-message", className="mt-2"),
        html.Div(id="flighting-cancel-message", className="small text-muted"),
    ]), className="shadow-sm mb-3")

    return html.Div([
        dcc.Store(id="flighting-job", data=shown),
        dcc.Store(id="flighting-scenario", data=reopened["id"] if reopened else None),
        dcc.Store(id="flighting-watch", data=watch),
        dcc.Interval(id="flighting-watch-tick", interval=FOLLOW_EVERY_MS, disabled=watch is None),
        dcc.Download(id="flighting-download"),
        html.H2("Flighting planner", className="mb-0"),
        html.P(f"Reopened scenario “{reopened['name']}” ({reopened['status']})" if reopened else
               "When should the money go? Spend week by week, with carry-over in and out, solved exactly.",
               className="text-muted"),
        dbc.Row([dbc.Col([setup, totals, actions], xs=12, lg=4),
                 dbc.Col([limits, html.Div(id="flighting-results")], xs=12, lg=8)], className="g-3"),
    ])


# ------------------------------------------------------------------------------------------------ callbacks

def _brand_allowed(principal: Principal, brand_id: Any) -> bool:
    try:
        return can(principal, RUN, ("brand", int(brand_id)))
    except (TypeError, ValueError):
        return False


@protected_callback(
    Output("flighting-budget", "value"),
    Output("flighting-window", "children"),
    Output("flighting-bounds", "columnDefs"),
    Output("flighting-bounds", "rowData"),
    Output("flighting-limits", "columnDefs"),
    Output("flighting-limits", "rowData"),
    Input("flighting-brands", "value"),
    Input("flighting-channels", "value"),
    Input("flighting-weeks", "value"),
    Input("flighting-period-by", "value"),
    State("flighting-bounds", "rowData"),
    State("flighting-limits", "rowData"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brand_allowed)},
)
def refresh_defaults(brand_ids, channels, weeks, by, rows, limit_rows_now):
    """A new selection or horizon → last year's spend for those weeks as the budget, the grids' weeks, months
    or quarters and channels (values typed before are kept where their row stays)."""
    if not brand_ids or not channels:
        return no_update, "Choose brands and channels.", no_update, no_update, no_update, no_update
    weeks = weeks if weeks in HORIZONS else 13
    budget, window, starts = _defaults(current_principal(), [int(b) for b in brand_ids], list(channels), weeks)
    units = _units([int(b) for b in brand_ids])
    periods = period_keys(starts, "quarter" if by == "quarter" else "month")
    return (units.whole(budget) if budget else no_update, window, bounds_columns(weeks, units),
            bounds_rows(list(channels), weeks, rows), limit_columns(units),
            limit_rows(periods, list(channels), limit_rows_now))


@protected_callback(
    *FOLLOW_OUTPUTS,
    Input("flighting-run", "n_clicks"),
    State("flighting-brands", "value"),
    State("flighting-channels", "value"),
    State("flighting-weeks", "value"),
    State("flighting-budget", "value"),
    State("flighting-source", "value"),
    State("flighting-carryover", "value"),
    State("flighting-bounds", "rowData"),
    State("flighting-limits", "rowData"),
    prevent_initial_call=True,
    permission=RUN,
    objects={"brand_ids": ("brand", _brand_allowed)},
)
def run_flighting(n_clicks, brand_ids, channels, weeks, budget, source, carryover, bounds, limits):
    """Submit the plan as a durable job (validated, authorized and checked again by the queue) and follow it."""
    if not n_clicks:
        return (no_update,) * len(FOLLOW_OUTPUTS)
    try:
        raw = form_inputs(brand_ids=brand_ids, channels=channels, weeks=weeks, budget=budget, source=source,
                          carryover=carryover, bounds=bounds, limits=limits)
    except FormError as exc:
        return following(None, alert(str(exc), "warning"), refused=True)
    return submit_run(current_principal(), raw)


follow_and_cancel("flighting", FOLLOW_OUTPUTS, following)



@protected_callback(
    Output("flighting-results", "children"),
    Input("flighting-job", "data"),
    State("flighting-scenario", "data"),
    State("flighting-watch", "data"),
    permission=RUN,
    objects={"job_id": ("job", job_followable), "scenario_id": ("scenario", scenario_readable),
             "watched": ("job", job_followable)},
)
def show_result(job_id, scenario_id, watched):
    """The shown run's plan (or the reopened scenario's); while a run is followed, say it is on its way."""
    principal = current_principal()
    result = load_result(principal, job_id, None if job_id or watched else scenario_id)
    if not result:
        if watched:
            return empty_state("Planning — the plan appears here when the run finishes.",
                               "Follow its progress on the left; Cancel stops it.")
        return empty_state("No plan yet.", "Choose the brands, horizon and budget, then press Plan the weeks.")
    return results_view(result, can_export=holds_anywhere(principal, EXPORT), can_save=holds_anywhere(principal, SAVE),
                        badge=level_badge(shown_plan_level(principal, scenario_id), class_name="flighting-level"))


@protected_callback(
    Output("flighting-save-message", "children"),
    Input("flighting-save", "n_clicks"),
    State("flighting-save-name", "value"),
    State("flighting-job", "data"),
    State("flighting-scenario", "data"),
    prevent_initial_call=True,
    permission=SAVE,
    objects={"job_id": ("job", job_followable), "scenario_id": ("scenario", scenario_readable)},
)
def save(n_clicks, name, job_id, scenario_id):
    """Save the shown run (its stored result, not the browser's copy) as a flighting scenario with its horizon."""
    if not n_clicks:
        return no_update
    if not job_id:
        return alert("Plan the weeks first; a reopened scenario is saved already.", "warning")
    try:
        principal = current_principal()  # a run started from a reopened scenario keeps its level
        new_id = save_from_job(get_db(), principal, job_id, name, shown_plan_level(principal, scenario_id).value)
    except ScenarioError as exc:
        return alert(str(exc)[:1].upper() + str(exc)[1:] + ".", "warning")
    return dbc.Alert(["Saved as scenario #", str(new_id), ". ", dcc.Link("Open Scenarios", href="/scenarios")],
                     color="success", className="py-2 mb-0", id="flighting-saved")


@protected_callback(
    Output("flighting-download", "data"),
    Input("flighting-export-csv", "n_clicks"),
    Input("flighting-export-xlsx", "n_clicks"),
    State("flighting-job", "data"),
    State("flighting-scenario", "data"),
    prevent_initial_call=True,
    permission=EXPORT,
    objects={"job_id": ("job", job_followable), "scenario_id": ("scenario", scenario_readable)},
)
def export(csv_clicks, xlsx_clicks, job_id, scenario_id):
    """The shown plan as a media plan (channels as rows, weeks as columns): CSV or XLSX; audited."""
    if not (csv_clicks or xlsx_clicks):
        return no_update
    fmt = "xlsx" if dash.ctx.triggered_id == "flighting-export-xlsx" else "csv"
    principal = current_principal()
    result = load_result(principal, job_id, None if job_id else scenario_id)
    if not result:
        return no_update
    try:
        return export_download(principal, result, fmt, job_id, scenario_id)
    except Forbidden:
        return no_update
