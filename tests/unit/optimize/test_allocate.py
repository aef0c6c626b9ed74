"""The exact allocator: KKT conditions, agreement with SLSQP, scenarios and infeasible inputs."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.allocate import budget_frontier, maximize_outcome, minimize_budget
from core.optimize.curves import CurveArrays
from core.optimize.problem import AllocationProblem, InfeasibleError
from tests.unit.optimize.helpers import random_problem, slsqp

REL = 1e-6


def assert_kkt(x: np.ndarray, marginal: np.ndarray, lo: np.ndarray, hi: np.ndarray, lam: float) -> None:
    """Interior cells share λ; cells at a lower bound want less (f' ≤ λ), at an upper bound more (f' ≥ λ)."""
    eps = 1e-9 * max(x.sum(), 1.0)
    at_lo, at_hi = x <= lo + eps, x >= hi - eps
    interior = ~at_lo & ~at_hi
    assert interior.any()
    np.testing.assert_allclose(marginal[interior], lam, rtol=REL)
    assert np.all(marginal[at_lo & ~at_hi] <= lam * (1 + REL))
    assert np.all(marginal[at_hi & ~at_lo] >= lam * (1 - REL))


@pytest.mark.parametrize("seed", range(6))
def test_exact_meets_kkt_and_matches_or_beats_slsqp(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 30
    current = rng.uniform(0.5, 4, n)
    locked = np.zeros(n, bool)
    locked[rng.choice(n, 3, replace=False)] = True
    problem = random_problem(
        seed, n, current=current, lower=rng.uniform(0, 0.5, n), upper=rng.uniform(2, 6, n),
        locked=locked, max_change=0.8,
    )
    budget = float(current.sum() * rng.uniform(0.8, 1.2))
    res = maximize_outcome(problem, budget)
    lo, hi = problem.cell_bounds()
    x = res.allocation
    assert x.sum() == pytest.approx(budget, rel=1e-10)
    assert np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
    assert_kkt(x, res.marginal_roi, lo, hi, res.multiplier)
    np.testing.assert_array_equal(x[locked], current[locked])
    ref = problem.curves.response(slsqp(problem, budget)).sum()
    assert res.outcome >= ref - 1e-9 * abs(ref)
    assert res.current_outcome == pytest.approx(problem.curves.response(current).sum())
    assert {"kind": "budget", "name": "total", "side": "equal", "value": budget} in res.binding


@pytest.mark.parametrize("seed", range(4))
def test_brand_totals_nest_the_multiplier(seed: int) -> None:
    problem = random_problem(seed, 24, upper=8.0, brand_bounds={"b0": (0.0, 6.0), "b1": (20.0, 40.0)})
    budget = 50.0
    res = maximize_outcome(problem, budget)
    x, m = res.allocation, res.marginal_roi
    totals = np.bincount(problem.brand_index, x)
    assert totals.sum() == pytest.approx(budget, rel=1e-10)
    assert totals[0] <= 6.0 + 1e-9 and 20.0 - 1e-9 <= totals[1] <= 40.0 + 1e-9
    lo, hi = problem.cell_bounds()
    for b in range(len(totals)):
        cells = problem.brand_index == b
        lam_b = np.median(m[cells & (x > 1e-9) & (x < hi - 1e-9)])
        assert_kkt(x[cells], m[cells], lo[cells], hi[cells], lam_b)
        if b == 0 and totals[0] >= 6.0 - 1e-9:  # capped brand would take more at λ
            assert lam_b >= res.multiplier * (1 - REL)
        elif b >= 2:  # unconstrained brands sit at the global λ
            assert lam_b == pytest.approx(res.multiplier, rel=REL)
    ref = problem.curves.response(slsqp(problem, budget)).sum()
    assert res.outcome >= ref - 1e-9 * abs(ref)


def test_brand_and_channel_totals_together_match_slsqp() -> None:
    problem = random_problem(
        7, 24, upper=8.0, brand_bounds={"b0": (0.0, 6.0)}, channel_bounds={"c1": (0.0, 10.0), "c2": (18.0, 30.0)}
    )
    budget = 50.0
    res = maximize_outcome(problem, budget)
    x = res.allocation
    ch = np.bincount(problem.channel_index, x)
    assert ch[1] <= 10.0 + 1e-6 and ch[2] >= 18.0 - 1e-6
    assert np.bincount(problem.brand_index, x)[0] <= 6.0 + 1e-6
    assert x.sum() == pytest.approx(budget, rel=1e-8)
    ref = problem.curves.response(slsqp(problem, budget)).sum()
    assert res.outcome >= ref - 1e-7 * abs(ref)
    assert any(b["kind"] == "channel" and b["name"] == "c1" for b in res.binding)


def test_large_instance_keeps_one_marginal_roi() -> None:
    problem = random_problem(3, 20_000, upper=np.random.default_rng(0).uniform(1, 6, 20_000))
    res = maximize_outcome(problem, 40_000.0)
    lo, hi = problem.cell_bounds()
    assert_kkt(res.allocation, res.marginal_roi, lo, hi, res.multiplier)
    assert res.allocation.sum() == pytest.approx(40_000.0, rel=1e-10)


def test_minimize_budget_reaches_target_with_least_spend() -> None:
    problem = random_problem(4, 20, upper=6.0)
    best_at_30 = maximize_outcome(problem, 30.0).outcome
    res = minimize_budget(problem, best_at_30)
    assert res.budget == pytest.approx(30.0, rel=1e-7)
    assert res.outcome == pytest.approx(best_at_30, rel=1e-9)
    assert maximize_outcome(problem, res.budget * 0.999).outcome < best_at_30


def test_frontier_is_concave_and_its_slope_is_the_multiplier() -> None:
    problem = random_problem(5, 40, upper=5.0)
    budgets = np.linspace(10, 150, 50)
    fr = budget_frontier(problem, budgets)
    assert np.all(np.diff(fr.outcomes) > 0)
    assert np.all(np.diff(fr.marginal_roi) < 0)
    slope = np.gradient(fr.outcomes, budgets)
    np.testing.assert_allclose(slope[1:-1], fr.marginal_roi[1:-1], rtol=2e-2)
    assert len(fr.to_dict()["budgets"]) == 50


def test_progress_and_cancellation() -> None:
    import threading

    from core.optimize.progress import Cancelled

    problem = random_problem(5, 10, upper=5.0)
    seen: list[float] = []
    budget_frontier(problem, [5.0, 10.0, 20.0], progress=lambda f, _m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        budget_frontier(problem, [5.0, 10.0], cancel=stop)


def test_bootstrap_draws_give_an_outcome_interval() -> None:
    rng = np.random.default_rng(0)
    base = random_problem(6, 12, upper=5.0)
    c = base.curves
    draws = CurveArrays(c.beta * rng.lognormal(0, 0.1, (200, 12)), c.half_saturation, c.shape)
    problem = random_problem(6, 12, upper=5.0, draws=draws, current=np.full(12, 2.0))
    res = maximize_outcome(problem, 24.0)
    lo, hi = res.outcome_interval
    assert lo < res.outcome < hi
    assert res.current_outcome_interval[0] < res.current_outcome_interval[1]
    d = res.to_dict()
    assert d["cells"][0]["current"] == 2.0 and "marginal_roi" in d["cells"][0]


@pytest.mark.parametrize(
    ("kwargs", "budget", "message"),
    [
        ({"upper": 2.0}, 100.0, "exceeds"),
        ({"lower": 1.0}, 5.0, "below"),
        ({"current": np.full(24, 3.0), "locked": np.ones(24, bool)}, 10.0, "below"),
        ({"upper": 1.0, "brand_bounds": {"b0": (7.0, 9.0)}}, 10.0, "brand b0"),
        ({"lower": 3.0, "upper": 2.0}, 10.0, "lower bound"),
    ],
)
def test_infeasible_inputs_say_why(kwargs: dict, budget: float, message: str) -> None:
    problem = random_problem(1, 24, **kwargs)
    with pytest.raises(InfeasibleError, match=message) as err:
        maximize_outcome(problem, budget)
    assert err.value.reason


def test_target_above_reachable_maximum_is_infeasible() -> None:
    problem = random_problem(2, 10, upper=3.0)
    ceiling = problem.curves.response(np.full(10, 3.0)).sum()
    with pytest.raises(InfeasibleError, match="reachable maximum"):
        minimize_budget(problem, ceiling * 1.01)


def test_s_curves_need_the_envelope_flag() -> None:
    problem = AllocationProblem(CurveArrays([5.0, 4.0], [2.0, 1.0], [2.5, 0.7]), ["a", "a"], ["x", "y"])
    with pytest.raises(ValueError, match="concave envelope"):
        maximize_outcome(problem, 3.0)
    res = maximize_outcome(problem, 3.0, allow_envelope=True)
    assert res.method.endswith("envelope") and res.allocation.sum() == pytest.approx(3.0)
