"""Target-efficiency plans (issue 16 item 12): spend until the marginal ROAS falls to T, and the largest budget
whose overall ROAS stays ≥ T, checked against their optimality conditions rather than against the code."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from core.formatting import Units
from core.optimize.allocate import maximize_outcome
from core.optimize.curves import CurveArrays
from core.optimize.efficiency import TargetRoasError, exact_plan, first_unit_return, free_marginal, heuristic_plan
from core.optimize.problem import AllocationProblem
from core.plan_limits import PlanError, roas_note, roas_refusal
from tests.unit.optimize.helpers import random_problem

REL = 1e-6


def _kkt(problem: AllocationProblem, x: np.ndarray, target: float) -> None:
    """Every cell strictly inside its bounds returns T on its last unit; a cell at its floor returns ≤ T there,
    a cell at its cap ≥ T (no brand or channel total in these problems)."""
    lo, hi = problem.cell_bounds()
    m = problem.curves.marginal(x)
    eps = 1e-9 * max(float(x.sum()), 1.0)
    inside = (x > lo + eps) & (x < hi - eps)
    assert inside.any()
    np.testing.assert_allclose(m[inside], target, rtol=REL)
    assert np.all(m[x <= lo + eps] <= target * (1 + REL))
    assert np.all(m[x >= hi - eps] >= target * (1 - REL))


def _roas(problem: AllocationProblem, budget: float) -> float:
    return maximize_outcome(problem, budget).outcome / budget


@pytest.mark.parametrize("seed", range(6))
def test_marginal_plan_meets_the_kkt_conditions_with_bounds_and_the_change_cap(seed):
    rng = np.random.default_rng(seed)
    current = rng.uniform(0.5, 6, 12)
    problem = random_problem(seed, n=12, current=current, max_change=0.5,
                             upper=np.where(rng.random(12) < 0.3, current * rng.uniform(0.6, 1.2, 12), np.inf))
    target = float(np.median(problem.curves.marginal(problem.current)))
    plan = exact_plan(problem, "marginal_roas", target)
    assert plan.status == "optimal"
    _kkt(problem, plan.allocation, target)
    assert plan.budget == pytest.approx(plan.allocation.sum(), rel=1e-9)


def _reference(problem: AllocationProblem, target: float, x0: np.ndarray) -> float:
    """max Σf(x) − T·Σx under the bounds and totals by SLSQP (a reference, not the method)."""
    lo, hi = problem.cell_bounds()
    a_ub, b_ub = problem.group_rows()
    cons = [{"type": "ineq", "fun": lambda x: b_ub - a_ub @ x, "jac": lambda x: -a_ub}] if len(b_ub) else []
    res = minimize(lambda x: -(problem.curves.response(x).sum() - target * x.sum()), x0,
                   jac=lambda x: -(problem.curves.marginal(x) - target), method="SLSQP", constraints=cons,
                   bounds=list(zip(np.maximum(lo, 1e-9), np.where(np.isfinite(hi), hi, None), strict=True)),
                   options={"maxiter": 2000, "ftol": 1e-15})
    x = np.clip(res.x, lo, hi)
    return float(problem.curves.response(x).sum() - target * x.sum())


@pytest.mark.parametrize("totals", ["brand", "channel", "both"])
def test_marginal_plan_with_totals_is_the_best_net_outcome(totals):
    """With brand or channel totals a held group has its own multiplier: the plan maximizes Σf − T·Σx,
    no worse than a reference solver on the same objective (a binding total really binds)."""
    problem = random_problem(3, n=12)
    target = 0.6
    free = exact_plan(problem, "marginal_roas", target)
    spend = {"brand": np.bincount(problem.brand_index, free.allocation),
             "channel": np.bincount(problem.channel_index, free.allocation)}
    bounds = {}
    for kind in (["brand", "channel"] if totals == "both" else [totals]):
        names = problem.brand_names if kind == "brand" else problem.channel_names
        bounds[kind] = {str(names[0]): (0.0, 0.5 * spend[kind][0])}  # the first group held at half its spend
    held = random_problem(3, n=12, brand_bounds=bounds.get("brand", {}), channel_bounds=bounds.get("channel", {}))
    plan = exact_plan(held, "marginal_roas", target)
    net = held.curves.response(plan.allocation).sum() - target * plan.allocation.sum()
    assert net >= _reference(held, target, plan.allocation * 0.9) - 1e-7 * abs(net)
    assert plan.budget < free.budget
    if totals != "both":  # one kind of total: the free groups keep the common marginal T exactly
        idx = held.brand_index if totals == "brand" else held.channel_index
        others = idx != 0
        np.testing.assert_allclose(held.curves.marginal(plan.allocation)[others], target, rtol=REL)


@pytest.mark.parametrize("seed", range(6))
def test_overall_plan_is_the_largest_budget_meeting_the_target(seed):
    rng = np.random.default_rng(seed)
    problem = random_problem(seed, n=10, current=rng.uniform(0.5, 6, 10), max_change=0.6)
    lo_b, hi_b = problem.total_range()
    target = _roas(problem, 0.5 * (lo_b + hi_b)) * 1.02  # reached inside the allowed range
    plan = exact_plan(problem, "overall_roas", target)
    assert plan.status == "optimal"
    assert plan.outcome / plan.budget >= target
    more = plan.budget * (1 + 1e-4)
    assert plan.budget >= hi_b * (1 - 1e-12) or _roas(problem, min(more, hi_b)) < target
    assert plan.budget <= hi_b


def test_overall_plan_without_limits_meets_the_target_and_no_more():
    problem = random_problem(11, n=8, shape=(0.5, 1.0))
    for target in (0.3, 1.0, 2.5):
        plan = exact_plan(problem, "overall_roas", target)
        assert plan.outcome / plan.budget >= target
        assert _roas(problem, plan.budget * (1 + 1e-4)) < target
        assert plan.outcome / plan.budget == pytest.approx(target, rel=1e-6)


def test_a_plan_scales_with_its_units():
    """Spend × k and outcome × m with T × m/k: the same plan, its spend × k (currency and outcome units
    cannot change which cells are worth the money)."""
    base = random_problem(5, n=9, current=np.linspace(1, 5, 9), max_change=0.4, upper=np.full(9, 5.0))
    k, m = 1000.0, 7.5
    c = base.curves
    scaled = AllocationProblem(CurveArrays(c.beta * m, c.half_saturation * k, c.shape), base.brands, base.channels,
                               current=base.current * k, max_change=0.4, upper=base.upper * k)
    for scenario, target in (("marginal_roas", 0.8), ("overall_roas", 0.6)):
        one, other = exact_plan(base, scenario, target), exact_plan(scaled, scenario, target * m / k)
        np.testing.assert_allclose(other.allocation, one.allocation * k, rtol=1e-7)
        assert other.budget == pytest.approx(one.budget * k, rel=1e-7)
        assert other.outcome == pytest.approx(one.outcome * m, rel=1e-7)


def _linear_start_problem(**kw) -> AllocationProblem:
    """Hill n = 1: each channel returns β/K on its first unit (a finite best first-unit return)."""
    curves = CurveArrays(np.array([310.0, 200.0, 90.0]), np.array([100.0, 100.0, 100.0]), np.ones(3))
    return AllocationProblem(curves, ["Acme"] * 3, ["TV", "Search", "Meta"], **kw)


def test_a_target_above_every_first_unit_return_is_refused_in_the_currency():
    problem = _linear_start_problem()
    assert first_unit_return(problem) == (pytest.approx(3.1), 0)
    for scenario in ("marginal_roas", "overall_roas"):
        with pytest.raises(TargetRoasError) as caught:
            exact_plan(problem, scenario, 4.0)
        message = str(roas_refusal(problem, caught.value, Units("INR")))
        assert message == ("No channel returns ₹4.00 per ₹1 even on its first ₹1 of spend; the best is ₹3.10 per ₹1 "
                           "(Acme / TV). Lower the target.")


def test_a_target_the_floors_rule_out_names_them():
    problem = _linear_start_problem(current=np.array([400.0, 400.0, 400.0]), max_change=0.3)
    with pytest.raises(TargetRoasError) as caught:
        exact_plan(problem, "marginal_roas", 1.0)
    message = str(roas_refusal(problem, caught.value, Units("INR")))
    assert message.startswith("With at most −30 % per channel, no channel returns ₹1.00 per ₹1 on its next ₹1")
    assert "widen the cap" in message


def test_an_overall_target_the_forced_spend_cannot_meet_says_the_best():
    # A useless channel forced to spend: the overall ROAS peaks below the target although TV alone starts above it.
    curves = CurveArrays(np.array([310.0, 1.0]), np.array([100.0, 100.0]), np.ones(2))
    problem = AllocationProblem(curves, ["Acme"] * 2, ["TV", "Print"], lower=np.array([0.0, 500.0]))
    with pytest.raises(TargetRoasError) as caught:
        exact_plan(problem, "overall_roas", 0.5)
    message = str(roas_refusal(problem, caught.value, Units("INR")))
    assert message.startswith("The best overall ROAS the limits allow is ₹0.")
    assert "lower the target or lower a minimum" in message
    assert caught.value.best < 0.5


def test_a_low_target_stops_at_the_limits_and_says_so():
    problem = _linear_start_problem(current=np.array([100.0, 100.0, 100.0]), max_change=0.3)
    plan = exact_plan(problem, "marginal_roas", 0.1)
    assert plan.budget == pytest.approx(390.0)
    assert np.all(problem.curves.marginal(plan.allocation) >= 0.1)
    note = roas_note(problem, "marginal_roas", 0.1, plan.budget, plan.outcome, Units("INR"))
    assert note == ("Every channel reaches its limit (at most +30 % per channel) before its return falls to "
                    "₹0.10 per ₹1: the plan is the most the limits allow, ₹390; raise the cap to spend more.")
    overall = exact_plan(problem, "overall_roas", 0.2)
    assert overall.budget == pytest.approx(390.0)
    assert roas_note(problem, "overall_roas", 0.2, overall.budget, overall.outcome, Units("INR")).startswith(
        "Even the most the limits allow, ₹390, returns ₹0.87 per ₹1, above the target of ₹0.20 per ₹1: the plan is the "
        "most the limits allow; raise the cap to spend more.")
    assert roas_note(problem, "marginal_roas", 2.0, 300.0, 1.0, Units("INR")) is None


def test_a_target_with_no_stopping_point_is_refused():
    problem = random_problem(2, n=4, shape=(0.3, 0.4))  # returns fall slowly: 1e-25 per unit only past 1e15
    with pytest.raises(TargetRoasError) as caught:
        exact_plan(problem, "marginal_roas", 1e-25)
    assert "no budget to stop at" in str(roas_refusal(problem, caught.value, Units("INR")))


def test_s_shaped_curves_go_through_the_engine_and_are_never_called_optimal():
    problem = random_problem(4, n=6, shape=(1.5, 2.5))
    calls = []

    def plan_at(budget: float, effort: str):
        calls.append(effort)
        return maximize_outcome(problem, budget, allow_envelope=True)

    for scenario in ("marginal_roas", "overall_roas"):
        plan = heuristic_plan(problem, scenario, 0.4, plan_at)
        assert plan.status != "optimal"
        assert plan.outcome / plan.budget >= 0.4 * (1 - 1e-9)
        assert any("heuristic" in n for n in plan.notes)
        if scenario == "marginal_roas":  # settled on the engine's own plans: their free cells return the target
            assert abs(free_marginal(problem, plan.allocation) / 0.4 - 1) <= 0.005
    assert calls.count("final") == 2 and calls.count("quick") > 3


def test_refused_before_any_engine_runs_when_no_channel_can_return_the_target():
    problem = random_problem(4, n=6, shape=(1.5, 2.5))
    best, _ = first_unit_return(problem)
    with pytest.raises(TargetRoasError):
        heuristic_plan(problem, "overall_roas", best * 1.01, lambda b, effort: pytest.fail("the engine ran"))
    with pytest.raises(PlanError):
        raise roas_refusal(problem, TargetRoasError("high", best * 1.01, best, cell="b0 / c0"))
