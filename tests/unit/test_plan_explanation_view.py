"""dashboard.plan_explanation: the panel lays out the run's summary, odds and one row per cell; a result
saved before runs carried an explanation shows no panel (and no error)."""

from __future__ import annotations

import json

import numpy as np
from dash.development.base_component import Component

from core.optimize.allocate import maximize_outcome
from core.optimize.curves import CurveArrays
from core.optimize.explain import explain_plan
from core.optimize.problem import AllocationProblem
from dashboard.plan_explanation import explanation_panel


def _text(component: Component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json(), ensure_ascii=False)


def _find(component, cid: str):
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        if isinstance(child, Component) and (found := _find(child, cid)) is not None:
            return found
    return None


def test_the_panel_shows_the_summary_the_odds_and_a_row_per_cell():
    curves = CurveArrays([10e6, 8e6, 6e6], [2e6, 2e6, 2e6], [0.8, 0.8, 0.8])
    problem = AllocationProblem(curves, ["Acme"] * 3, ["TV", "Search", "Radio"], current=np.full(3, 2e6),
                                upper=[2.2e6, np.inf, np.inf])
    result = maximize_outcome(problem, 6e6)
    stored = {"explanation": explain_plan(problem, result),
              "odds": {"probability": 0.7, "uplift_interval": [-1e6, 2.5e6], "level": 0.8, "draws": 10}}
    panel = explanation_panel(stored)
    assert _find(panel, "optimizer-why-summary").children == stored["explanation"]["summary"]
    assert "70 % of 10 draws" in _find(panel, "optimizer-odds").children
    body = _find(panel, "optimizer-why-table").children[1]
    assert len(body.children) == 3 and "TV" in _text(body.children[0]) and "at its cap" in _text(body.children[0])


def test_an_older_result_shows_no_panel():
    panel = explanation_panel({"cells": []})
    assert panel.id == "optimizer-why" and not panel.children
