"""What the allocator says about its answers: one-sided marginal ROI at the ends of the budget range,
status words on every surface, no numpy warnings on ordinary instances, families carried into a run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from core.budget import _curve_points, result_tables
from core.budget_cells import Cell, _cell, build_problem
from core.budget_inputs import BudgetInputs
from core.optimize.allocate import budget_frontier, maximize_outcome, minimize_budget
from core.optimize.curves import CurveArrays, CurveParams
from core.optimize.problem import AllocationProblem
from core.optimize.results import describe_status, status_words
from dashboard.figures.optimizer import frontier_figure, results_view
from tests.unit.optimize.helpers import random_problem


def best(problem: AllocationProblem, budget: float) -> float:
    return maximize_outcome(problem, budget).outcome


def test_marginal_roi_is_unbounded_at_the_smallest_budget_when_a_cell_is_steep_at_zero() -> None:
    problem = random_problem(5, 10, upper=5.0)  # Hill shapes below 1: infinite slope at no spend
    fr = budget_frontier(problem, [0.0, 1.0, 50.0])
    assert np.isposinf(fr.marginal_roi[0]) and np.all(np.isfinite(fr.marginal_roi[1:]))
    out = fr.to_dict()
    assert out["marginal_roi"][0] is None and out["marginal_roi_unbounded"] == [True, False, False]
    # The outcome's slope really grows without bound as the budget shrinks to the minimum.
    slopes = [(best(problem, h) - 0.0) / h for h in (1e-2, 1e-4, 1e-6)]
    assert slopes[0] < slopes[1] < slopes[2] and slopes[2] > 100 * fr.marginal_roi[1]


@pytest.mark.parametrize("brand_bounds", [{}, {"b0": (4.0, 6.0)}])
def test_marginal_roi_at_the_ends_is_the_one_sided_slope_of_the_best_outcome(brand_bounds: dict) -> None:
    problem = random_problem(5, 10, upper=5.0, lower=0.5, brand_bounds=brand_bounds)
    b_min, b_max = problem.total_range()
    fr = budget_frontier(problem, [b_min, b_max])
    h = 1e-6 * b_min
    right = (best(problem, b_min + h) - fr.outcomes[0]) / h
    left = (fr.outcomes[1] - best(problem, b_max - h)) / h
    assert fr.marginal_roi[0] == pytest.approx(right, rel=1e-4)
    assert fr.marginal_roi[1] == pytest.approx(left, rel=1e-4)
    if not brand_bounds:  # no totals: the best slope of a cell at its lower bound, the worst at its upper
        assert fr.marginal_roi[0] == pytest.approx(problem.curves.marginal(np.full(10, 0.5)).max(), rel=1e-12)
        assert fr.marginal_roi[1] == pytest.approx(problem.curves.marginal(np.full(10, 5.0)).min(), rel=1e-12)


def test_minimize_budget_still_climbs_from_an_unbounded_start() -> None:
    problem = random_problem(4, 20, upper=6.0)
    target = best(problem, 30.0)
    assert minimize_budget(problem, target).budget == pytest.approx(30.0, rel=1e-7)


def test_ordinary_instances_raise_no_numpy_warnings() -> None:
    """Instances that warned before (the first two), S-curves near a jump, brand totals."""
    shape_one = CurveArrays([0.01301575065247661, 0.01060689782747877, 0.015934927650253998, 0.023449823888496597,
                             0.02661326845961943],
                            [0.003531004870940304, 0.0041430153969750855, 0.004880284160887047,
                             0.0036388267381247596, 0.0013385305053348479], 1.0)
    mixed = CurveArrays([20.048774865571833, 28.243949543039555, 27.939267788458835, 11.838444959750642,
                         29.699247691713516],
                        [1.7506997609380752, 4.293008072144126, 1.6290379483361783, 2.620394611444638,
                         1.2938932472291103],
                        [2.6309012211148453, 2.5548749845389582, 0.7634521762110623, 1.7704768390484147,
                         1.0711678919823968])
    cells = (["a"] * 5, ["v", "w", "x", "y", "z"])
    cases = [
        (AllocationProblem(shape_one, *cells, upper=0.006), 0.001),  # dx/d ln λ divided by a slope rounded to 0
        (AllocationProblem(mixed, *cells, upper=6.0), 1.0),  # the root's Newton step overflowed
        (random_problem(5, 12, shape=(0.4, 3.0), upper=6.0), 7.0),
        (random_problem(2, 24, upper=8.0, brand_bounds={"b0": (0.0, 6.0), "b1": (20.0, 40.0)}), 50.0),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for problem, budget in cases:
            res = maximize_outcome(problem, budget, allow_envelope=True)
            assert res.allocation.sum() == pytest.approx(budget, rel=1e-9)
        lo, hi = cases[0][0].total_range()
        budget_frontier(cases[0][0], np.linspace(lo, hi, 7))


def test_status_words_never_call_an_envelope_solution_optimal() -> None:
    assert "upper bound" in status_words("envelope_bound", "exact-lagrange-envelope", 98.0, 100.0)
    assert "2 %" in status_words("envelope_bound", "exact-lagrange-envelope", 98.0, 100.0)
    legacy = describe_status({"status": "optimal", "method": "exact-nested-brand-envelope", "outcome": 1.0})
    assert "not proven optimal" in legacy and not legacy.startswith("optimal")
    assert status_words("optimal", "exact-lagrange").startswith("optimal")
    assert "not proven optimal" in status_words("feasible", "genetic")


def test_envelope_result_is_worded_on_the_page_and_in_the_export() -> None:
    problem = random_problem(5, 10, shape=(1.3, 3.0), upper=5.0, current=np.full(10, 1.2))
    res = maximize_outcome(problem, 12.0, allow_envelope=True)
    assert res.status == "envelope_bound" and res.outcome < res.outcome_bound
    d = res.to_dict()
    assert d["outcome_bound"] == pytest.approx(res.outcome_bound) and "upper bound" in d["status_label"]
    summary = {**d, "scenario_label": "Best outcome", "curve_source_label": "fitted",
               "frontier": {"budgets": [6.0, 12.0], "outcomes": [1.0, 2.0], "marginal_roi": [None, 0.5],
                            "marginal_roi_unbounded": [True, False]}}
    tables = result_tables(summary)
    status_row = tables["Summary"].set_index("item").loc["status", "value"]
    assert "upper bound" in status_row and "optimal:" not in status_row
    assert list(tables["Frontier"]["marginal_roi"]) == ["unbounded", 0.5]
    view = str(results_view({**summary, "budget": 12.0, "roi": 1.0, "cells": d["cells"],
                             "curves": [{**c, "spend": [0.0, 10.0], "outcome": [0.0, 1.0]} for c in d["cells"]]},
                            can_save=False, can_export=False, default_name="x"))
    assert "upper bound" in view and "· envelope_bound" not in view
    fig = frontier_figure(summary)
    assert any("unbounded" in a["text"] for a in fig["layout"]["annotations"])


def test_a_run_keeps_each_cells_family_in_annual_money() -> None:
    weekly = CurveParams(beta=100.0, decay=0.3, half_saturation=50.0, shape=3.0, family="logistic")
    annual = CurveParams(beta=5200.0, decay=0.3, half_saturation=2600.0, shape=3.0, family="logistic")
    draws = np.array([[5200.0, 0.3, 2600.0, 3.0], [5000.0, 0.3, 2500.0, 2.5]])
    cells = [Cell(1, "A", "TV", 3000.0, annual, draws, None),
             Cell(1, "A", "Search", 1000.0, CurveParams(4000.0, 0.1, 900.0, 0.8), draws, None)]
    stored = _cell(1, "A", "TV", 3000.0, (weekly, {"bootstrap_draws": [[100.0, 0.3, 50.0, 3.0]]}), 52)
    assert stored.params == annual and stored.draws.tolist() == [draws[0].tolist()]  # weekly → annual, family kept
    problem = build_problem(cells, BudgetInputs.read({"brand_ids": [1], "channels": ["TV", "Search"]}))
    assert problem.curves.families() == ["logistic", "hill"] and problem.draws.families() == ["logistic", "hill"]
    drawn = _curve_points(cells, np.array([2600.0, 500.0]))[0]  # the response-curve chart draws the logistic
    assert drawn["family"] == "logistic"
    np.testing.assert_allclose(drawn["outcome"], annual.response(np.array(drawn["spend"])), rtol=1e-12)
    # Annual scaling P·β·L(A/P; K, n) = P·β·L(A; P·K, n) holds for the logistic too.
    assert float(problem.curves.response(np.array([2600.0, 0.0]))[0]) == pytest.approx(
        52 * float(weekly.response(50.0)), rel=1e-12)
