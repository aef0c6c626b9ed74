"""The optimizer's result view, charts and tables: pure builders from a finished run's result dict.

Moved out of the page verbatim so the page module keeps its layout and callbacks; a result dict (as
a job stores it) and what the person may do with it (save, export) is all they read. Money reads in
the currency the run kept (`result["units"]`, core.formatting.Units); labels are the glossary's terms.
"""

from __future__ import annotations

import time
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from core.budget_inputs import ROAS_SCENARIOS
from core.formatting import Units
from core.optimize.results import describe_status
from dashboard.components import MUTED, PALETTE, chart_layout, empty_state, header_tip, kpi_card, term, wrap
from dashboard.figures.common import figure
from dashboard.plan_explanation import explanation_panel

LABEL_WIDTH = 18  # characters on a line of a cell's label: the bars keep most of a phone's width
# Whole numbers with thousands separators, right-aligned: the grids' money and spend columns.
NUMBER = {"type": "rightAligned", "cellDataType": "number",
          "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.0f')(params.value)"}}


def _labels(result: dict) -> list[str]:
    """Each cell's category label: the channel, under its brand when the run has several; wrapped, never
    rotated, never cut."""
    one_brand = len({c["brand"] for c in result["cells"]}) == 1
    return [wrap(c["channel"], LABEL_WIDTH) if one_brand
            else f"{wrap(c['brand'], LABEL_WIDTH)}<br>{wrap(c['channel'], LABEL_WIDTH)}" for c in result["cells"]]


def cell_bars(labels: list[str], series: list[dict], xaxis: dict) -> dict:
    """Grouped horizontal bars, one group per cell: the labels read level on the left at any width (rotated
    labels under vertical bars ran into the legend), the legend sits above the plot, the first cell on top."""
    group = sum(max(14 * len(series), 13 * (1 + label.count("<br>"))) + 10 for label in labels)
    data = [{"type": "bar", "orientation": "h", "y": labels, **s} for s in series]
    return figure(data, chart_layout(
        height=100 + group, barmode="group", hovermode="y",
        margin={"l": 10, "r": 10, "t": 52, "b": 40}, xaxis={**xaxis, "automargin": True},  # legend under the toolbar
        yaxis={"automargin": True, "autorange": "reversed", "tickfont": {"size": 11}},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"}))


def allocation_tab(result: dict) -> html.Div:
    """Current against optimized spend per cell, as grouped bars and as a sortable table."""
    labels, units = _labels(result), Units.of(result.get("units"))
    money = {**units.grid_money(compact=True), "minWidth": 110}  # "₹23.3 M": the currency, whole on a phone
    fig = cell_bars(labels, [
        {"name": "Current (last 12 months)", "x": [c["current"] for c in result["cells"]], "marker": {"color": MUTED},
         "hovertemplate": f"%{{y}}: {units.hover_money('x')}<extra>current</extra>"},
        {"name": "Optimized", "x": [c["optimal"] for c in result["cells"]], "marker": {"color": PALETTE[0]},
         "hovertemplate": f"%{{y}}: {units.hover_money('x')}<extra>optimized</extra>"},
    ], units.axis_money("spend, 12 months"))
    columns = [
        {"field": "brand", "headerName": "Brand", "minWidth": 110},
        {"field": "channel", "headerName": "Channel", "minWidth": 110},
        {"field": "current", "headerName": "Current", **money, **header_tip("spend")},
        {"field": "optimal", "headerName": "Optimized", **money},
        {"field": "change", "headerName": "Change", **money,
         "cellClassRules": {"text-success": "params.value > 0", "text-danger": "params.value < 0"}},
        {"field": "change_pct", "headerName": "Change %", "type": "rightAligned",
         "valueFormatter": {"function": "params.value == null ? 'new' : d3.format('+.1f')(params.value) + ' %'"}},
        {"field": "marginal_roi", "headerName": "Marginal ROAS", **units.grid_roas(), **header_tip("marginal_roas")},
    ]
    rows = [{**c, "channel": c["channel"] + (" ⚠" if c.get("extrapolated") else "")} for c in result["cells"]]
    return html.Div([dcc.Graph(figure=fig, id="optimizer-allocation-graph", config={"displaylogo": False}),
                     dag.AgGrid(id="optimizer-allocation-table", columnDefs=columns, rowData=rows,
                                columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                                defaultColDef={"sortable": True, "resizable": True, "minWidth": 90,
                                               "wrapHeaderText": True, "autoHeaderHeight": True},
                                dashGridOptions={"domLayout": "autoHeight"})])


def _stacked_rows(n: int, spacing: float) -> list[tuple[float, float]]:
    """(bottom, top) of n rows stacked top to bottom on the paper, as make_subplots lays them out."""
    height = (1 - spacing * (n - 1)) / n
    return [(1 - i * (height + spacing) - height, 1 - i * (height + spacing)) for i in range(n)]


def curves_figure(result: dict) -> dict:
    """One panel per brand (at most six): each channel's response curve, its current and optimal spend."""
    units = Units.of(result.get("units"))
    brands = list(dict.fromkeys(c["brand"] for c in result["curves"]))[:6]
    rows = _stacked_rows(max(len(brands), 1), 0.12 / max(len(brands), 1))
    channels = list(dict.fromkeys(c["channel"] for c in result["curves"]))
    color = {ch: PALETTE[i % len(PALETTE)] for i, ch in enumerate(channels)}
    cells = {(c["brand"], c["channel"]): c for c in result["cells"]}
    data: list[dict] = []
    for curve in result["curves"]:
        if curve["brand"] not in brands:
            continue
        row = brands.index(curve["brand"]) + 1
        axes = {"xaxis": f"x{row if row > 1 else ''}", "yaxis": f"y{row if row > 1 else ''}"}
        ch = curve["channel"]
        data.append({"type": "scatter", "x": curve["spend"], "y": curve["outcome"], "mode": "lines", "name": ch,
                     "legendgroup": ch, "showlegend": row == 1, "line": {"color": color[ch], "width": 2}, **axes})
        cell = cells.get((curve["brand"], ch))
        if cell:
            for key, symbol, name in (("current", "circle-open", "current"), ("optimal", "star", "optimal")):
                x = cell[key]
                data.append({"type": "scatter", "x": [x], "y": [_interp(curve["spend"], curve["outcome"], x)],
                             "mode": "markers", "legendgroup": ch, "showlegend": False, "name": f"{ch} {name}",
                             "marker": {"color": color[ch], "size": 11, "symbol": symbol, "line": {"width": 2}},
                             "hovertemplate": f"{ch} {name}: {units.hover_money('x')} → "
                                              f"{units.hover_money() if units.revenue else '%{y:,.0f}'}<extra></extra>",
                             **axes})
    height = 120 + 300 * len(brands)
    # The legend sits above the first panel's title (about 30 px above the plotting area).
    layout = chart_layout(height=height, hovermode="closest",
                          legend={"orientation": "h", "y": 1 + 30 / (height - 120), "yanchor": "bottom", "x": 0},
                          margin={"l": 50, "r": 10, "t": 80, "b": 40})
    annotations = []
    for i, (brand, (bottom, top)) in enumerate(zip(brands, rows, strict=False), start=1):
        suffix = str(i) if i > 1 else ""
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0], "tickprefix": units.sign.strip()}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [bottom, top],
                                    **units.axis_outcome(units.outcome_name)}
        annotations.append({"text": brand, "x": 0.5, "xref": "paper", "xanchor": "center", "y": top,
                            "yref": "paper", "yanchor": "bottom", "showarrow": False, "font": {"size": 16}})
    if brands:
        layout[f"xaxis{len(brands) if len(brands) > 1 else ''}"]["title"] = {"text": units.label("spend, 12 months")}
    annotations.append({"text": "○ current  ★ optimal", "xref": "paper", "yref": "paper", "x": 1, "y": 1.0,
                        "yanchor": "bottom", "xanchor": "right", "showarrow": False,
                        "font": {"size": 11, "color": MUTED}})
    layout["annotations"] = annotations
    return figure(data, layout)


def _interp(xs: list[float], ys: list[float], x: float) -> float:
    return float(np.interp(x, xs, ys))


def mroi_figure(result: dict) -> dict:
    """Marginal ROAS per cell at current and optimized spend: at the optimum they should level out."""
    labels, units = _labels(result), Units.of(result.get("units"))
    return cell_bars(labels, [
        {"name": "at current spend", "x": [c.get("current_marginal_roi") for c in result["cells"]],
         "marker": {"color": MUTED}},
        {"name": "at optimized spend", "x": [c["marginal_roi"] for c in result["cells"]],
         "marker": {"color": PALETTE[1]}},
    ], {"title": {"text": f"marginal ROAS: {units.outcome_name} per {units.sign}1 more spend"},
        "tickprefix": units.sign.strip() if units.revenue else ""})


def frontier_figure(result: dict) -> dict:
    """Best outcome per budget (left axis) and its marginal ROAS (right axis), with this plan and today's.

    Where the marginal ROAS is unbounded (the smallest budget, a channel without spend infinitely steep at
    zero) the line has a gap and the chart says so in words.
    """
    front, units = result.get("frontier") or {}, Units.of(result.get("units"))
    layout = chart_layout(height=360, hovermode="x unified",
                          xaxis={**units.axis_money("budget, 12 months"), "domain": [0.0, 0.94], "anchor": "y"},
                          yaxis={**units.axis_outcome(f"{units.outcome_name}, 12 months"), "anchor": "x"},
                          yaxis2={"title": {"text": "marginal ROAS"}, "anchor": "x", "overlaying": "y", "side": "right",
                                  "showgrid": False})
    unbounded = [b for b, u in zip(front.get("budgets") or [], front.get("marginal_roi_unbounded") or [], strict=False)
                 if u]
    if unbounded:
        layout["annotations"] = [{"text": "marginal ROAS unbounded at this budget", "x": unbounded[0], "xref": "x",
                                  "y": 1.0, "yref": "paper", "yanchor": "bottom", "showarrow": False,
                                  "font": {"size": 11, "color": PALETTE[3]}}]
    return figure([
        {"type": "scatter", "x": front.get("budgets"), "y": front.get("outcomes"), "mode": "lines+markers",
         "name": "best outcome", "line": {"color": PALETTE[0], "width": 3}},
        {"type": "scatter", "x": front.get("budgets"), "y": front.get("marginal_roi"), "mode": "lines",
         "name": "marginal ROAS", "line": {"color": PALETTE[3], "dash": "dot"}, "yaxis": "y2"},
        {"type": "scatter", "x": [result.get("budget")], "y": [result.get("outcome")], "mode": "markers",
         "name": "this plan", "marker": {"size": 14, "symbol": "star", "color": PALETTE[1]}},
        {"type": "scatter", "x": [result.get("current_budget")], "y": [result.get("current_outcome")],
         "mode": "markers", "name": "current allocation", "marker": {"size": 12, "color": MUTED}},
    ], layout)


def binding_tab(result: dict) -> html.Div:
    """The constraints the optimum presses against, or a note that none binds."""
    rows = result.get("binding") or []
    if not rows:
        return empty_state("No constraint binds: the optimum lies inside every bound.")
    return html.Div([
        html.P("Constraints the optimum presses against: loosening one of these is what could raise the outcome.",
               className="small text-muted mt-2"),
        dag.AgGrid(id="optimizer-binding-table", rowData=rows, columnSize="responsiveSizeToFit",
                   className="ag-theme-quartz", dashGridOptions={"domLayout": "autoHeight"},
                   columnDefs=[{"field": "kind", "headerName": "Kind"}, {"field": "name", "headerName": "Name",
                                                                         "minWidth": 160},
                               {"field": "side", "headerName": "Side"},
                               {"field": "value", "headerName": "Value", "minWidth": 150,
                                **Units.of(result.get("units")).grid_money()}]),
    ])


def risk_tab(result: dict) -> Any:
    """Expected outcome against its spread across bootstrap draws, or why there is no risk front."""
    risk, units = result.get("risk_front"), Units.of(result.get("units"))
    if not risk or not risk.get("points"):
        return empty_state("No risk front for this run.", "It needs fitted curves with bootstrap draws and no brand or "
                           "channel totals; tick the risk front option.")
    pts = risk["points"]
    fig = figure([{
        "type": "scatter", "x": [p["sd"] for p in pts], "y": [p["mean"] for p in pts], "mode": "lines+markers",
        "name": "Pareto front",
        "error_y": {"type": "data", "symmetric": False, "array": [p["p95"] - p["mean"] for p in pts],
                    "arrayminus": [p["mean"] - p["p5"] for p in pts], "color": MUTED, "thickness": 1},
        "marker": {"color": PALETTE[4], "size": 8},
        "hovertemplate": "sd %{x:,.0f}<br>expected %{y:,.0f}<extra></extra>"}],
        chart_layout(height=360, hovermode="closest",
                     xaxis=units.axis_outcome(f"spread of {units.outcome_name} (sd over {risk['n_draws']} draws)"),
                     yaxis=units.axis_outcome(f"expected {units.outcome_name}, 12 months")))
    return html.Div([html.P("Each point is an allocation of the same budget: up and left is better. Bars: 5–95 % "
                            "of the outcome across the bootstrap draws.", className="small text-muted mt-2"),
                     dcc.Graph(figure=fig, config={"displaylogo": False})])


def _span(pair: list[float] | None, result: dict, units: Units) -> str:
    """A KPI's range from the curves' uncertainty, or why there is none, in a marketer's words."""
    if pair:
        return f"likely {units.outcome_value(pair[0])} to {units.outcome_value(pair[1])} (90 % interval)"
    if result.get("curve_source") == "truth":
        return "exact demo curves: no uncertainty to show"
    return "no range: these curves were fitted without their uncertainty"


def default_name(result: dict) -> str:
    """The save box's suggested scenario name: up to three brands, the budget and the time."""
    brands = sorted({c["brand"] for c in result.get("cells") or []})
    label = ", ".join(brands[:3]) + (f" +{len(brands) - 3}" if len(brands) > 3 else "")
    budget = Units.of(result.get("units")).money(result.get("budget"))
    return f"{label} · {budget} · {time.strftime('%Y-%m-%d %H:%M')}"


def _stop_return(result: dict) -> float | None:
    """The marginal ROAS the plan's free cells (on, inside their limits) share: their median."""
    tol = 1e-6 * max(result.get("budget") or 0.0, 1.0)
    free = [c["marginal_roi"] for c in result.get("cells") or [] if c.get("marginal_roi") is not None
            and c["optimal"] > max(c.get("lower") or 0.0, 0.0) + tol
            and (c.get("upper") is None or c["optimal"] < c["upper"] - tol)]
    return float(np.median(free)) if free else None


def budget_found(result: dict) -> Any:
    """What a target-ROAS plan found, in a sentence: "Budget found: ₹412.3 M — spend stops where each extra ₹1
    returns ₹1.50" (None for the scenarios that are given their budget or target outcome)."""
    target = result.get("target_roas")
    if result.get("scenario") not in ROAS_SCENARIOS or target is None:
        return None
    units = Units.of(result.get("units"))
    amount, per = units.roas(target).rsplit(" per ", 1)
    found = f"Budget found: {units.money(result.get('budget'), 4)} — "
    stop = _stop_return(result)
    if result["scenario"] == "marginal_roas" and stop is not None and units.roas(stop) != units.roas(target):
        reached, _ = units.roas(stop).rsplit(" per ", 1)  # a heuristic plan on S-curves stopped near the target
        text = f"spend stops where each extra {per} returns about {reached} (the target was {amount})"
    elif result["scenario"] == "marginal_roas":
        text = f"spend stops where each extra {per} returns {amount}"
    else:
        text = (f"the largest budget whose plan returns at least {amount} per {per} overall "
                f"(it returns {units.roas(result.get('roi'))})")
    note = result.get("target_note")  # the plan stopped at the most the limits allow: which to raise
    return html.Div([html.P(found + text, id="optimizer-budget-found", className="fw-semibold mb-1"),
                     html.P(note, id="optimizer-target-note", className="small text-muted mb-0") if note else None],
                    className="mb-3")


def results_view(result: dict, *, can_save: bool, can_export: bool, default_name: str, badge: Any = None) -> html.Div:
    """KPIs, the charts in tabs, notes, and save / export controls; `badge` (the plan's classification,
    dashboard.classification_view) sits in the charts' card header."""
    uplift_pct, units = result.get("uplift_pct"), Units.of(result.get("units"))
    tone = "success" if (result.get("uplift") or 0) >= 0 else "danger"
    kpis = [
        kpi_card(term("predicted_outcome", f"Predicted {units.outcome_name}, 12 months"),
                 units.outcome_value(result.get("outcome")), _span(result.get("outcome_interval"), result, units)),
        kpi_card(term("uplift", "Uplift vs current allocation"), units.outcome_change(result.get("uplift"))
                 + (f" ({uplift_pct:+.1f} %)".replace("-", "−") if uplift_pct is not None else ""),
                 _span(result.get("uplift_interval"), result, units), tone),
        kpi_card(term("budget", "Budget, 12 months"), units.money(result.get("budget")),
                 f"current {units.money(result.get('current_budget'))}"),
        kpi_card(term("roas", "ROAS of the plan"), units.roas(result.get("roi")), describe_status(result)),
    ]
    tabs = dbc.Tabs([
        dbc.Tab(allocation_tab(result), label="Allocation", tab_id="allocation"),
        dbc.Tab(dcc.Graph(figure=curves_figure(result), id="optimizer-curves-graph",
                          config={"displaylogo": False, "responsive": True}), label="Response curves",
                tab_id="curves"),
        dbc.Tab(dcc.Graph(figure=mroi_figure(result), config={"displaylogo": False}), label="Marginal ROAS",
                tab_id="mroi"),
        dbc.Tab(dcc.Graph(figure=frontier_figure(result), config={"displaylogo": False}), label="Budget frontier",
                tab_id="frontier"),
        dbc.Tab(binding_tab(result), label="Binding constraints", tab_id="binding"),
        *([dbc.Tab(risk_tab(result), label="Risk front", tab_id="risk")] if _has_risk(result) else []),
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
    title = f"{result.get('scenario_label')} · {result.get('curve_source_label')}"
    return html.Div([
        budget_found(result),
        dbc.Row([dbc.Col(c, xs=12, sm=6, xl=3) for c in kpis], className="g-3 mb-3", id="optimizer-kpis"),
        explanation_panel(result, badge),
        dbc.Card([dbc.CardHeader(html.Div([html.Span(title, className="me-2"), badge],
                                          className="d-flex flex-wrap align-items-center")),
                  dbc.CardBody(tabs)], className="shadow-sm mb-3"),
        dbc.Card(dbc.CardBody([*controls, html.Div(id="optimizer-save-message", className="mt-2")]),
                 className="shadow-sm mb-3") if controls else html.Div(id="optimizer-save-message"),
        html.Ul([html.Li(n) for n in result.get("notes") or []], className="small text-muted",
                id="optimizer-notes"),
        _method_notes(result),
    ], id="optimizer-result-view")


def _has_risk(result: dict) -> bool:
    return bool((result.get("risk_front") or {}).get("points"))


def _method_notes(result: dict) -> Any:
    """How the engine reached the plan, for an analyst who asks; folded away (results saved before the split
    keep every note under `notes`)."""
    notes = result.get("method_notes") or []
    if not notes:
        return None
    return html.Details([html.Summary("How this plan was computed", className="small text-muted"),
                         html.Ul([html.Li(n) for n in notes], className="small text-muted")],
                        id="optimizer-method-notes")
