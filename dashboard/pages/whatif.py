"""Score what-if: sliders per metric recompute one own brand's DC score live; the metric recommender
proposes the moves worth most under an effort budget, and its plan can be applied to the sliders.

Every callback re-checks the brand × project pair on the server (`core.whatif` denies otherwise):
a slider's id or a stored plan comes from the browser and is only ever a hypothetical value for a
brand the principal may already run scenarios on, clipped to that metric's feasible range.
"""

from __future__ import annotations

import math

import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import g, has_request_context

from core import whatif as wi
from core.classified import brand_organization
from core.input_ranges import EFFORT_BUDGET, RECOMMEND_K, RangeError
from core.runtime import get_db
from core.security import Principal
from dashboard.access import protected_callback, register_page
from dashboard.auth.principal import current_principal
from dashboard.classification_view import view_badge_and_note
from dashboard.components import empty_state, kpi_card, signed
from dashboard.getting_started import empty_page

RUN = wi.RUN
register_page(__name__, permission=RUN, path="/whatif", name="Score what-if", title="Score what-if · Digi-Cadence")

SLIDER = "whatif-slider"
STEPS = 100  # slider positions across a metric's feasible range


def _pairs(principal: Principal) -> pd.DataFrame:
    """The pairs the principal may use; read once per request (both object checks and the callback ask)."""
    key = ("whatif_pairs", principal.user_id)
    if has_request_context() and key in g.setdefault("dc_read_once", {}):
        return g.dc_read_once[key]
    with get_db().engine.connect() as conn:
        pairs = wi.whatif_pairs(conn, principal)
    if has_request_context():
        g.dc_read_once[key] = pairs
    return pairs


def _project_ok(principal: Principal, project_id) -> bool:
    try:
        return int(project_id) in set(_pairs(principal)["project_id"])
    except (TypeError, ValueError):
        return False


def _brand_ok(principal: Principal, brand_id) -> bool:
    try:
        return int(brand_id) in set(_pairs(principal)["brand_id"])
    except (TypeError, ValueError):
        return False


OBJECTS = {"brand_id": ("brand", _brand_ok), "project_id": ("project", _project_ok)}


def _load(brand_id, project_id) -> wi.WhatIf:
    with get_db().engine.connect() as conn:
        return wi.load_whatif(conn, current_principal(), int(brand_id), int(project_id))


def _number(label: str, component_id: str, value: float, **kwargs) -> dbc.InputGroup:
    return dbc.InputGroup([dbc.InputGroupText(label), dbc.Input(id=component_id, type="number", value=value,
                                                                **kwargs)], size="sm", className="mb-2")


def layout(brand: str | None = None, project: str | None = None, **_query) -> html.Div:
    """Brand and project may come in the URL (`?brand=ID&project=ID`), as from the portfolio."""
    pairs = _pairs(current_principal())
    if pairs.empty:
        return empty_page(current_principal(), "No brand you can run a what-if on.",
                          "A what-if needs an own brand with DC scores and the scenario:run permission on it.")
    projects = pairs.drop_duplicates("project_id")
    project_options = [{"label": f"{p.organization} · {p.project}", "value": int(p.project_id)}
                       for p in projects.itertuples()]
    wanted_brand = int(brand) if brand and brand.isdigit() else None
    wanted_project = int(project) if project and project.isdigit() else None
    match = pairs[(pairs.brand_id == wanted_brand) & ((pairs.project_id == wanted_project) | (wanted_project is None))]
    row = (match if len(match) else pairs[pairs.project_id == wanted_project] if wanted_project in set(
        pairs.project_id) else pairs).iloc[0]
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(html.H2("Score what-if", className="mb-0"), xs=12, lg=4),
                    dbc.Col(dcc.Dropdown(id="whatif-project", clearable=False, value=int(row.project_id),
                                         options=project_options), xs=12, md=6, lg=4),
                    dbc.Col(dcc.Dropdown(id="whatif-brand", clearable=False, value=int(row.brand_id),
                                         options=[{"label": b.brand, "value": int(b.brand_id)} for b in
                                                  pairs[pairs.project_id == row.project_id].itertuples()]),
                            xs=12, md=6, lg=4),
                ],
                className="align-items-center g-2 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Div(id="whatif-classification", className="mb-2"),
                            html.Div(id="whatif-score", className="mb-3"),
                            dbc.Card(
                                [
                                    dbc.CardHeader("Recommend moves"),
                                    dbc.CardBody(
                                        [
                                            html.Div("Effort: moving a metric by the brand's best-ever monthly "
                                                     f"improvement costs 1; each metric touched adds "
                                                     f"{wi.FIXED_EFFORT:g}.", className="small text-muted mb-2"),
                                            dbc.Row([
                                                dbc.Col(_number("At most k metrics", "whatif-k", 3,
                                                                min=RECOMMEND_K.lo, max=RECOMMEND_K.hi, step=1),
                                                        xs=12, sm=6, lg=12, xxl=6),
                                                dbc.Col(_number("Effort budget", "whatif-budget", 3, min=0.1,
                                                                max=EFFORT_BUDGET.hi, step=0.1),
                                                        xs=12, sm=6, lg=12, xxl=6),
                                            ], className="g-2"),
                                            dbc.Button("Recommend", id="whatif-recommend", color="primary",
                                                       className="me-2"),
                                            dbc.Button("Apply plan", id="whatif-apply", color="success",
                                                       outline=True, disabled=True),
                                            dcc.Loading(html.Div(id="whatif-plan", className="mt-3"), delay_show=200),
                                            dcc.Store(id="whatif-plan-store"),
                                        ]
                                    ),
                                ],
                                className="shadow-sm mb-3",
                            ),
                        ],
                        xs=12, lg=4, className="order-lg-2 whatif-side",
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader(dbc.Row([
                                    dbc.Col("Metrics (latest month)", className="fw-semibold"),
                                    dbc.Col(dbc.Button("Reset to current", id="whatif-reset", size="sm",
                                                       color="secondary", outline=True), width="auto"),
                                ], className="align-items-center")),
                                dbc.CardBody(dcc.Loading(html.Div(
                                    dbc.Accordion(id="whatif-accordion", always_open=True), id="whatif-sliders"),
                                    delay_show=200)),
                            ],
                            className="shadow-sm mb-4",
                        ),
                        xs=12, lg=8, className="order-lg-1",
                    ),
                ],
                className="g-3",
            ),
        ]
    )


@protected_callback(
    Output("whatif-brand", "options"),
    Output("whatif-brand", "value"),
    Input("whatif-project", "value"),
    State("whatif-brand", "value"),
    permission=RUN,
    objects=OBJECTS,
    prevent_initial_call=True,
)
def choose_project(project_id, brand_id):
    """The project's own brands the principal may use; keeps the brand when it is one of them."""
    if project_id is None:
        raise PreventUpdate
    pairs = _pairs(current_principal())
    mine = pairs[pairs.project_id == int(project_id)]
    options = [{"label": b.brand, "value": int(b.brand_id)} for b in mine.itertuples()]
    keep = brand_id if brand_id in set(mine.brand_id) else (int(mine.brand_id.iloc[0]) if len(mine) else None)
    return options, keep


def _fmt(value: float) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.4g}" if abs(value) < 1e3 else f"{value:,.0f}"


def _grid(low: float, high: float, current: float) -> tuple[float, float, float]:
    """Slider min, max and step with `current` on the grid, so an untouched slider keeps its value; the
    ends reach past the feasible range by less than a step, and the server clips to it."""
    span = high - low
    if span <= 0:
        return current, current, 1.0
    magnitude = 10 ** math.floor(math.log10(span / STEPS))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= span / STEPS), default=span / STEPS)
    below, above = math.ceil((current - low) / step - 1e-9), math.ceil((high - current) / step - 1e-9)
    return current - below * step, current + above * step, step


def _slider_row(metric_id: int, row: dict, value: float) -> html.Div:
    lo, hi, step = _grid(row["low"], row["high"], row["current"])
    unit = f" {row['unit']}" if row["unit"] else ""
    arrow = "↑ higher is better" if row["direction"] == "higher" else "↓ lower is better"
    seen = row["competitor_best"] == row["competitor_best"]
    cap = f"best visible competitor {_fmt(row['competitor_best'])}" if seen else "no competitor visible"
    stretch = abs(row["stretch"] - row["best"]) > 1e-12
    marks = {row["current"]: "now"}
    if abs(row["best"] - row["current"]) > 1e-12:
        marks[row["best"]] = "feasible"
    if stretch:
        marks[row["stretch"]] = "competitor"
        cap += " (past feasible is a stretch target)"
    return html.Div(
        [
            html.Div(
                [html.Span(row["metric"], className="fw-semibold"), html.Span(f" · {row['platform']}",
                                                                                className="text-muted"),
                 html.Span(f" {arrow}", className="small text-muted")],
            ),
            dcc.Slider(id={"type": SLIDER, "metric": int(metric_id)}, min=lo, max=hi, step=step,
                       value=value, marks=marks, disabled=hi <= lo,
                       tooltip={"placement": "top", "always_visible": False}, updatemode="mouseup",
                       className="whatif-slider"),
            html.Div(f"now {_fmt(row['current'])}{unit} · feasible {_fmt(row['best'])}{unit} · {cap}",
                     className="small text-muted"),
        ],
        className="mb-3",
    )


@protected_callback(
    Output("whatif-sliders", "children"),
    Output("whatif-plan", "children", allow_duplicate=True),
    Output("whatif-plan-store", "data", allow_duplicate=True),
    Input("whatif-brand", "value"),
    Input("whatif-apply", "n_clicks"),
    Input("whatif-reset", "n_clicks"),
    State("whatif-plan-store", "data"),
    State("whatif-project", "value"),
    State("whatif-accordion", "active_item"),
    permission=RUN,
    objects=OBJECTS,
    prevent_initial_call="initial_duplicate",
)
def build_sliders(brand_id, _apply, _reset, store, project_id, open_sections):
    """One slider per metric the brand reports, grouped by section, at the brand's latest values;
    "Apply plan" sets the plan's metrics to its targets (the rest stay current), "Reset" sets all
    back. The sliders are rebuilt rather than set one by one, which keeps every output a plain id.
    """
    if brand_id is None or project_id is None:
        raise PreventUpdate
    try:
        model = _load(brand_id, project_id)
    except LookupError as exc:
        return empty_state(str(exc)), None, None
    trigger = ctx.triggered_id
    targets: dict = {}
    keep_plan = trigger in ("whatif-apply", "whatif-reset")
    if trigger == "whatif-apply":
        same = store and store.get("brand_id") == int(brand_id) and store.get("project_id") == int(project_id)
        if not same:
            raise PreventUpdate
        targets = {int(k): v for k, v in store.get("targets", {}).items()}
    values = pd.Series(model.values_from(targets), index=model.metrics.index)
    items = []
    for section, rows in model.metrics.groupby("section", sort=False):
        sliders = [_slider_row(metric_id, row, float(values[metric_id])) for metric_id, row in
                   rows.to_dict("index").items()]
        items.append(dbc.AccordionItem(sliders, title=f"{section} ({len(rows)} metrics)", item_id=section))
    active = open_sections if keep_plan and open_sections is not None else ([items[0].item_id] if items else [])
    accordion = dbc.Accordion(items, id="whatif-accordion", always_open=True, active_item=active)
    if keep_plan:
        return accordion, no_update, no_update
    return accordion, None, None


@protected_callback(
    Output("whatif-classification", "children"),
    Input("whatif-brand", "value"),
    permission=RUN,
    objects={"brand_id": OBJECTS["brand_id"]},
)
def show_classification(brand_id):
    """The what-if's badge (the highest level among the metrics it shows) and, when classified metrics
    are held at their current values unseen, the note saying how many (issue 17); per brand, not per
    slider move."""
    if brand_id is None:
        raise PreventUpdate
    with get_db().engine.connect() as conn:
        badge, note = view_badge_and_note(conn, current_principal(), brand_organization(conn, int(brand_id)),
                                          class_name="whatif-level")
    note.className += " mt-1"
    return [html.Div(["Data classification ", badge], className="small text-muted"), note]


def _score_panel(model: wi.WhatIf, values) -> html.Div:
    base = model.score(model.current_values())
    new = model.score(values)
    change = new - base
    parts = model.breakdown(values)
    changed = int((abs(values - model.current_values()) > 1e-12).sum())
    stretched = model.beyond_feasible(values)
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th("Section"), html.Th("Now", className="text-end"),
                             html.Th("What-if", className="text-end"), html.Th("Δ DC", className="text-end")])),
         html.Tbody([
             html.Tr([html.Td(r["section"]), html.Td(f"{r['score_now']:.1f}", className="text-end"),
                      html.Td(f"{r['score_new']:.1f}", className="text-end"),
                      html.Td(signed(r["contribution"], 2), className="text-end " + (
                          "text-success" if r["contribution"] > 1e-9 else "text-danger"
                          if r["contribution"] < -1e-9 else ""))])
             for r in parts.to_dict("records")
         ])],
        size="sm", className="mb-0 whatif-breakdown", borderless=True,
    )
    tone = "success" if change > 1e-9 else "danger" if change < -1e-9 else "secondary"
    card = kpi_card("What-if DC score", f"{new:.1f}",
                    f"{signed(change, 2)} vs current {base:.1f} · {changed} metric{'s' if changed != 1 else ''} moved",
                    tone)
    note = None
    if stretched:
        names = ", ".join(f"{model.metrics.at[i, 'metric']} ({model.metrics.at[i, 'platform']})" for i in stretched)
        note = dbc.Alert([html.Strong("Stretch target: "), f"{names} set past the feasible best, further than this "
                          "brand has improved in any month (towards the best visible competitor)."],
                         color="warning", className="small py-2 mt-3 mb-0", id="whatif-stretch-note")
    return html.Div([card, note, dbc.Card(dbc.CardBody([
        html.Div(f"Per section ({model.period:%B %Y}); Δ DC is what each section adds to the change.",
                 className="small text-muted mb-1"), table]), className="shadow-sm mt-3")])


@protected_callback(
    Output("whatif-score", "children"),
    Input({"type": SLIDER, "metric": ALL}, "value"),
    State({"type": SLIDER, "metric": ALL}, "id"),
    State("whatif-brand", "value"),
    State("whatif-project", "value"),
    permission=RUN,
    objects=OBJECTS,
)
def live_score(values, ids, brand_id, project_id):
    """The DC score recomputed with the slider values (normalization across the whole project)."""
    if brand_id is None or project_id is None or not ids:
        raise PreventUpdate
    model = _load(brand_id, project_id)
    chosen = model.values_from({i["metric"]: v for i, v in zip(ids, values or [], strict=False)})
    return _score_panel(model, chosen)


def _plan_view(plan: dict) -> html.Div:
    if not plan["steps"]:
        reason = ("no metric can move: each is at its feasible best or has never improved"
                  if not plan.get("movable") else "no move fits the budget and improves the score")
        return dbc.Alert(f"Nothing to recommend: {reason}.", color="light", className="mb-0")
    rows = [html.Tr([html.Td(i + 1),
                     html.Td([html.Div(s["metric"]),
                              html.Div(f"{s.get('platform') or ''} · {s['section']}".strip(" ·"),
                                       className="small text-muted")]),
                     html.Td(f"{_fmt(s['current'])} → {_fmt(s['target'])}{' ' + s['unit'] if s['unit'] else ''}"),
                     html.Td(f"{s['effort']:.2f}", className="text-end"),
                     html.Td(signed(s["gain"], 2), className="text-end text-success"),
                     html.Td(f"{s['score_after']:.1f}", className="text-end")])
            for i, s in enumerate(plan["steps"])]
    return html.Div([
        html.Div(f"DC {plan['base_score']:.1f} → {plan['final_score']:.1f} ({signed(plan['gain'], 2)}), "
                 f"effort {plan['effort']:.2f}", className="fw-semibold mb-2"),
        html.Div(dbc.Table([html.Thead(html.Tr([html.Th("#"), html.Th("Metric"), html.Th("Move"),
                                                html.Th("Effort", className="text-end"),
                                                html.Th("Gain", className="text-end"),
                                                html.Th("DC after", className="text-end")])),
                            html.Tbody(rows)], size="sm", striped=True, className="mb-0 whatif-plan-table"),
                 className="table-responsive"),
    ])


@protected_callback(
    Output("whatif-plan", "children"),
    Output("whatif-plan-store", "data"),
    Input("whatif-recommend", "n_clicks"),
    State("whatif-k", "value"),
    State("whatif-budget", "value"),
    State("whatif-brand", "value"),
    State("whatif-project", "value"),
    permission=RUN,
    objects=OBJECTS,
    prevent_initial_call=True,
)
def run_recommender(_clicks, k, budget, brand_id, project_id):
    """The ranked plan: which metrics to move, to what, the effort and the gain each step adds."""
    if brand_id is None or project_id is None:
        raise PreventUpdate
    try:  # the ranges the API's recommendation jobs use (core.input_ranges)
        k, budget = RECOMMEND_K.read(k), EFFORT_BUDGET.read(budget)
    except RangeError as exc:
        return dbc.Alert(f"Cannot recommend: {exc}.", color="warning", className="mb-0"), None
    if k is None or budget is None:
        return dbc.Alert(f"Give k ({RECOMMEND_K.allowed()}) and an effort budget ({EFFORT_BUDGET.allowed()}).",
                         color="warning", className="mb-0"), None
    plan = wi.recommend_plan(_load(brand_id, project_id), budget, k)
    store = {"brand_id": int(brand_id), "project_id": int(project_id),
             "targets": {str(s["metric_id"]): s["target"] for s in plan["steps"]}}
    return _plan_view(plan), store


@protected_callback(
    Output("whatif-apply", "disabled"),
    Input("whatif-plan-store", "data"),
    permission=RUN,
)
def enable_apply(store):
    """Apply is possible once there is a plan with at least one step."""
    return not (store and store.get("targets"))
