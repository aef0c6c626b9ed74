"""The optimizer form's building blocks: its constraint grids, their rows, and the form as a job's inputs.

The page module keeps the layout and the callbacks; what the form holds (grid columns, a preview's
rows with a saved scenario's bounds laid over them, the browser's min/max hints) and how its values
become the raw `inputs` a budget run takes (validated by core.budget_inputs in the queue, not here)
live in one place, so the layout and the Run callback cannot describe the form differently.
"""

from __future__ import annotations

import math
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from core import input_ranges as ranges
from core.budget_inputs import ROAS_SCENARIOS
from core.formatting import Units
from dashboard.figures.optimizer import NUMBER

EDIT = {**NUMBER, "editable": True, "cellClass": "dc-editable"}
# An amount column's width: about 8.5 px a character of the grid's 14 px digits, plus the cell's padding.
NUMBER_MIN_WIDTH, CHAR_PX, CELL_PADDING_PX = 110, 8.5, 40

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
                 {"field": "lower", "headerName": "Min total", **EDIT},
                 {"field": "upper", "headerName": "Max total", **EDIT}]
CHANNEL_COLUMNS = [{"field": "channel", "headerName": "Channel", "minWidth": 120},
                   {"field": "current", "headerName": "Last 12 months", **NUMBER},
                   {"field": "lower", "headerName": "Min total", **EDIT},
                   {"field": "upper", "headerName": "Max total", **EDIT}]


def fit_numbers(columns: list[dict], rows: list[dict]) -> list[dict]:
    """The amount columns made wide enough for their widest amount ("277,475,220") with its padding: a
    phone squeezes columns to their minimum width, which cut the money off. Min and max get the width of
    the spend they bound."""
    amounts = [r[k] for r in rows for k in ("current", "lower", "upper", "min_spend")
               if isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool)]
    longest = max((len(f"{a:,.0f}") for a in amounts), default=0)
    width = max(NUMBER_MIN_WIDTH, math.ceil(CHAR_PX * longest + CELL_PADDING_PX))
    return [{**c, "minWidth": width} if c.get("valueFormatter") == NUMBER["valueFormatter"] else c for c in columns]


def grid(grid_id: str, columns: list[dict], rows: list[dict]) -> dag.AgGrid:
    """An editable constraint grid: one click edits a cell, leaving the cell keeps the edit."""
    return dag.AgGrid(
        id=grid_id, columnDefs=fit_numbers(columns, rows), rowData=rows, columnSize="responsiveSizeToFit",
        defaultColDef={"resizable": True, "minWidth": 90, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"domLayout": "autoHeight", "singleClickEdit": True, "stopEditingWhenCellsLoseFocus": True},
        className="ag-theme-quartz",
    )


def grid_rows(pv: dict, inputs: dict | None = None) -> tuple[list[dict], list[dict], list[dict]]:
    """The cell, brand-total and channel-total grids' rows: a preview's spend, with the bounds of
    `inputs` (a reopened scenario's or the last run's) laid over them."""
    inputs = inputs or {}
    return (_merge_rows(pv["cells"], inputs.get("cells"), ("brand_id", "channel")),
            _merge_rows(pv["brands"], inputs.get("brand_bounds"), ("brand_id",)),
            _merge_rows(pv["channels"], inputs.get("channel_bounds"), ("channel",)))


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


def limits(rng: ranges.NumberRange) -> dict[str, float]:
    """The browser's min/max hints from the range the server checks (core.input_ranges)."""
    return {"min": rng.lo, "max": rng.hi}


def field(label: str, control: Any, hint: str | None = None) -> html.Div:
    """A labelled form control with an optional hint under it."""
    return html.Div([dbc.Label(label, className="small fw-semibold mb-1"), control,
                     dbc.FormText(hint) if hint else None], className="mb-3")


def amount_field(field_id: str, value: float | None, units: Units, *, outcome: bool = False) -> dbc.InputGroup:
    """A money (or outcome) field as people read amounts: the currency beside it, thousands separated
    ("462,458,700"); "1.5M", "2 crore" or "1,000" typed in are read by core.budget_inputs."""
    sign = units.sign.strip() or units.code
    before = [dbc.InputGroupText(sign)] if sign and (units.revenue or not outcome) else []
    after = [dbc.InputGroupText(units.outcome)] if outcome and not units.revenue else []
    return dbc.InputGroup([*before, dbc.Input(id=field_id, type="text", inputMode="decimal", autoComplete="off",
                                              value=units.whole(value), placeholder="e.g. 1.5M or 1,500,000"),
                           *after])


HIDDEN = {"display": "none"}


def goal_visibility(scenario: str | None) -> tuple[dict, dict, dict]:
    """Styles of the budget, target-outcome and target-ROAS columns: only what the scenario type reads is shown
    (a target-ROAS plan finds its budget, so it asks for none)."""
    scenario = scenario or "max_outcome"
    return (HIDDEN if scenario in ROAS_SCENARIOS else {}, {} if scenario == "min_budget" else HIDDEN,
            {} if scenario in ROAS_SCENARIOS else HIDDEN)


def roas_field(field_id: str, value: float | None, units: Units) -> dbc.InputGroup:
    """A target ROAS as it reads: "₹ [1.50] per ₹1", or "[0.004] conversions per ₹1"."""
    sign = units.sign.strip() or units.code
    before = [dbc.InputGroupText(sign)] if sign and units.revenue else []
    per = f"per {units.money(1)}" if units.revenue else f"{units.outcome} per {units.money(1)}"
    return dbc.InputGroup([*before, dbc.Input(id=field_id, type="text", inputMode="decimal", autoComplete="off",
                                              value=value, placeholder="e.g. 1.5"), dbc.InputGroupText(per)])


def default_roas(pv: dict, units: Units) -> float | None:
    """The target-ROAS scenarios' starting target: break-even (₹1 per ₹1) for revenue; for a count, the current
    allocation's overall ROAS to three significant digits (no break-even exists for conversions)."""
    if units.revenue:
        return 1.0
    if pv.get("current_outcome") and pv.get("budget"):
        return float(f"{pv['current_outcome'] / pv['budget']:.3g}")
    return None


def goal_fields(inputs: dict, pv: dict, units: Units) -> dbc.Row:
    """Budget, target outcome and target ROAS: each shown only for the scenario types that read it."""
    budget, target, roas = goal_visibility(inputs.get("scenario"))
    return dbc.Row([
        dbc.Col(field("Budget, 12 months", amount_field("optimizer-budget", inputs.get("budget")
                                                        or round(pv["budget"]), units),
                      "Default: the last 12 months' actual spend. 1.5M, 2 crore or 1,500,000."),
                xs=12, sm=6, id="optimizer-budget-col", style=budget),
        dbc.Col(field(f"Target {units.outcome_name}, 12 months", amount_field(
            "optimizer-target", inputs.get("target") or default_target(pv), units, outcome=True),
            "For the smallest-budget scenario."), xs=12, sm=6, id="optimizer-target-col", style=target),
        dbc.Col(field("Target ROAS", roas_field("optimizer-target-roas", inputs.get("target_roas")
                                                or default_roas(pv, units), units),
                      f"{units.outcome_name.capitalize()} per {units.money(1)} of spend, as the curves model it "
                      "(1 is break-even for revenue). The budget is what the plan finds."),
                xs=12, id="optimizer-target-roas-col", style=roas),
    ], className="g-2")


def window_text(pv: dict) -> list:
    """Which 12 months of spend the defaults come from, and the preview's notes."""
    parts = [html.Div("Last 12 months of spend: " + "; ".join(pv["window"]))] if pv["window"] else []
    if pv["current_outcome"]:
        units = Units.of(pv.get("units"))
        parts.append(html.Div(f"Current allocation predicts {units.outcome_value(pv['current_outcome'])} of "
                              f"{units.outcome_name} a year for {units.money(pv['budget'])} spend."))
    parts += [html.Div(n) for n in pv["notes"]]
    return parts


def brand_options(cat: dict) -> list[dict]:
    """The brands dropdown: each brand the person may optimize, saying which have no fitted curves yet."""
    return [{"label": b["name"] + ("" if b["fitted"] else " (not fitted yet)"), "value": b["id"]}
            for b in cat["brands"]]


def risk_options(pv: dict) -> list[dict]:
    """The risk front switch: offered only when the curves carry their uncertainty (fitted with bootstrap)."""
    if pv.get("draws"):
        return [{"label": "Show the risk front: plans that trade expected outcome against how sure it is",
                 "value": "on"}]
    return [{"label": "Risk front: needs fitted curves (these carry no uncertainty)", "value": "on",
             "disabled": True}]


def default_target(pv: dict) -> float | None:
    """The smallest-budget scenario's default target: 5 % above what the current allocation predicts."""
    return round(pv["current_outcome"] * 1.05) if pv["current_outcome"] else None


def form_inputs(*, brand_ids: list | None, channels: list | None, source: str | None, scenario_type: str | None,
                budget: Any, target: Any, target_roas: Any = None, max_change: Any = None, cells: list | None,
                brand_bounds: list | None, channel_bounds: list | None, max_active: Any, unit: Any, generations: Any,
                frontier_points: Any, risk: list | None) -> dict[str, Any]:
    """The form's values, as the browser sent them (named as the Run callback's parameters), as the raw
    `inputs` of an optimization job.

    Nothing is parsed here: the queue validates these exactly as it validates the API's (friendly
    numbers such as "1,000", empty bounds), so the page and the API cannot disagree. A field the chosen
    scenario type hides (`goal_visibility`) is not sent: what a person cannot see cannot refuse the run.
    """
    hidden = dict(zip(("budget", "target", "target_roas"), goal_visibility(scenario_type), strict=True))
    budget, target, target_roas = (None if hidden[k] else v for k, v in
                                   (("budget", budget), ("target", target), ("target_roas", target_roas)))
    return {"brand_ids": brand_ids or [], "channels": channels or [], "curve_source": source,
            "scenario": scenario_type, "budget": budget, "target": target, "target_roas": target_roas,
            "max_change_pct": max_change,
            "cells": cells or [], "brand_bounds": brand_bounds or [], "channel_bounds": channel_bounds or [],
            "max_active_per_brand": max_active, "unit": unit, "generations": generations,
            "frontier_points": frontier_points, "risk_front": bool(risk)}
