"""The risk front: non-dominated, feasible, anchored at the expected-outcome optimum, near an ε-constraint oracle."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from scipy.optimize import minimize

from core.optimize.curves import CurveArrays
from core.optimize.problem import AllocationProblem
from core.optimize.progress import Cancelled
from core.optimize.risk import NoDrawsError, RiskFrontResult, non_dominated, risk_front

BUDGET = 20.0


def uncertain_problem(seed: int, n: int = 8, draws: int = 60, shape: tuple[float, float] = (0.5, 1.0),
                      **kw) -> AllocationProblem:
    """Point curves plus lognormal draws around them; channels differ in how well they are measured."""
    rng = np.random.default_rng(seed)
    beta, k, n_shape = rng.uniform(1, 10, n), rng.uniform(1, 5, n), rng.uniform(*shape, n)
    spread = rng.uniform(0.02, 0.4, n)
    cloud = CurveArrays(beta * np.exp(rng.normal(0, spread, (draws, n))),
                        k * np.exp(rng.normal(0, spread / 2, (draws, n))), np.broadcast_to(n_shape, (draws, n)))
    return AllocationProblem(CurveArrays(beta, k, n_shape), [f"b{i % 2}" for i in range(n)],
                             [f"c{i}" for i in range(n)], draws=cloud, **kw)


def stats(draws: CurveArrays, x: np.ndarray) -> tuple[float, float]:
    totals = draws.response(x[None, :]).sum(axis=1)
    return float(totals.mean()), float(totals.std())


def oracle(problem: AllocationProblem, budget: float, objective: str, mean_floor: float = 0.0) -> float:
    """Multi-start SLSQP with numeric gradients: max mean, or min sd subject to mean ≥ mean_floor."""
    lo, hi = problem.cell_bounds()
    hi = np.minimum(hi, budget)
    rng = np.random.default_rng(123)
    starts = [np.full(problem.n, budget / problem.n)] + [rng.dirichlet(np.ones(problem.n)) * budget for _ in range(6)]
    cons = [{"type": "eq", "fun": lambda x: x.sum() - budget}]
    if objective == "sd":
        cons.append({"type": "ineq", "fun": lambda x: stats(problem.draws, x)[0] - mean_floor})
    best = None
    for x0 in starts:
        res = minimize(lambda x: -stats(problem.draws, x)[0] if objective == "mean" else stats(problem.draws, x)[1],
                       np.clip(x0, lo, hi), method="SLSQP", bounds=list(zip(np.maximum(lo, 1e-9), hi, strict=True)),
                       constraints=cons, options={"maxiter": 1000, "ftol": 1e-13})
        x = np.clip(res.x, lo, hi)
        mean, sd = stats(problem.draws, x)
        if abs(x.sum() - budget) > 1e-6 or (objective == "sd" and mean < mean_floor * (1 - 1e-7)):
            continue
        value = mean if objective == "mean" else sd
        if best is None or (value > best if objective == "mean" else value < best):
            best = value
    assert best is not None
    return best


@pytest.fixture(scope="module")
def concave_front() -> tuple[AllocationProblem, RiskFrontResult]:
    problem = uncertain_problem(0, upper=8.0)
    return problem, risk_front(problem, BUDGET, seed=1, pop_size=40, n_gen=40)


def test_front_is_non_dominated_feasible_and_monotone(concave_front) -> None:
    problem, front = concave_front
    assert len(front) >= 10
    mean, sd = front.mean, front.sd
    # nobody on the front is beaten on both objectives by anybody else on it
    beats = (mean[:, None] >= mean[None, :]) & (sd[:, None] <= sd[None, :]) & ~np.eye(len(front), dtype=bool)
    assert not beats.any()
    assert np.all(np.diff(mean) < 0) and np.all(np.diff(sd) < 0)  # less expected outcome buys strictly less risk
    np.testing.assert_allclose(front.allocations.sum(axis=1), BUDGET, rtol=1e-9)
    assert np.all(front.allocations >= -1e-12) and np.all(front.allocations <= 8.0 + 1e-9)
    assert np.all(front.p5 < front.mean) and np.all(front.mean < front.p95)
    for i in (0, len(front) // 2, len(front) - 1):  # reported statistics are those of the reported allocation
        assert (front.mean[i], front.sd[i]) == pytest.approx(stats(problem.draws, front.allocations[i]), rel=1e-12)


def test_front_contains_the_expected_outcome_optimum(concave_front) -> None:
    problem, front = concave_front
    best = oracle(problem, BUDGET, "mean")
    assert front.mean[0] >= best * (1 - 0.005)
    assert front.mean[0] <= best * (1 + 1e-6)  # and nothing above what is reachable


def test_front_is_close_to_the_epsilon_constraint_oracle(concave_front) -> None:
    """At a given mean, the front's sd is within 0.1 % of the least sd multi-start SLSQP finds."""
    problem, front = concave_front
    for i in np.unique(np.quantile(np.arange(len(front)), [0.2, 0.5, 0.8]).astype(int)):
        least = oracle(problem, BUDGET, "sd", mean_floor=float(front.mean[i]))
        assert front.sd[i] <= least * 1.001, (i, front.sd[i], least)


def test_front_is_deterministic_for_a_seed() -> None:
    problem = uncertain_problem(3, upper=8.0)
    a = risk_front(problem, BUDGET, seed=7, pop_size=20, n_gen=10)
    b = risk_front(problem, BUDGET, seed=7, pop_size=20, n_gen=10)
    np.testing.assert_array_equal(a.allocations, b.allocations)
    np.testing.assert_array_equal(a.sd, b.sd)


def test_hard_constraints_hold_on_every_point_with_s_curves() -> None:
    problem = uncertain_problem(4, n=10, shape=(1.2, 2.5), min_spend=1.0, max_active_per_brand=3, upper=10.0)
    front = risk_front(problem, BUDGET, seed=2, pop_size=30, n_gen=25)
    x = front.allocations
    assert len(front) >= 3
    np.testing.assert_allclose(x.sum(axis=1), BUDGET, rtol=1e-9)
    assert np.all((x == 0) | (x >= 1.0 - 1e-9))
    for b in range(2):
        assert np.all(np.count_nonzero(x[:, problem.brand_index == b], axis=1) <= 3)
    assert np.all(np.diff(front.mean) < 0) and np.all(np.diff(front.sd) < 0)


def test_to_dict_is_json_and_describes_each_point(concave_front) -> None:
    _, front = concave_front
    d = json.loads(json.dumps(front.to_dict()))
    assert len(d["points"]) == len(front) and len(d["cells"]) == 8
    top = d["points"][0]
    assert set(top) == {"mean", "sd", "p5", "p95", "point_outcome", "allocation"}
    assert sum(top["allocation"]) == pytest.approx(BUDGET)


def test_needs_draws_and_honours_cancellation() -> None:
    problem = uncertain_problem(5)
    no_draws = AllocationProblem(problem.curves, problem.brands, problem.channels)
    with pytest.raises(NoDrawsError, match="bootstrap draws"):
        risk_front(no_draws, BUDGET)
    stop = threading.Event()
    seen: list[str] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("generation 3"):
            stop.set()

    with pytest.raises(Cancelled):
        risk_front(problem, BUDGET, pop_size=20, n_gen=50, progress=progress, cancel=stop)
    assert not any(m.startswith("generation 5") for m in seen)


def test_non_dominated_filter() -> None:
    mean = np.array([10.0, 9.0, 9.0, 8.0, 7.0, 10.0 - 1e-12])
    sd = np.array([3.0, 2.0, 2.5, 2.5, 1.0, 2.9])
    # 2 and 3 are dominated by 1; 0 and 5 are the same mean: the smaller sd stays
    assert non_dominated(mean, sd).tolist() == [5, 1, 4]
