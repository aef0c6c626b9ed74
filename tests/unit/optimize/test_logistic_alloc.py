"""Logistic cells in the exact allocator, checked against independent oracles.

The oracles never use CurveArrays' own logistic code: the curve comes from the shared `curves.logistic`
(CurveParams), its slope from `slope` below (scalar math, the sigmoid's derivative as e^−|u|/(1 + e^−|u|)²,
exact far out on the flat top where 1 − σ(u) cancels), the tangent point from scipy's scalar
maximization of the average return L(x)/x (the ray from the origin touches the curve where the
average return peaks), the allocations from scipy SLSQP, and the upper bound from multi-start SLSQP.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from core.optimize.allocate import maximize_outcome
from core.optimize.curves import CurveArrays, CurveParams
from core.optimize.problem import AllocationProblem
from tests.unit.optimize.helpers import slsqp
from tests.unit.optimize.test_allocate import assert_kkt

SHAPES = [0.05, 0.3, 1.0, 2.0, 4.0, 10.0, 40.0]


def _params(beta: float, k: float, n: float) -> CurveParams:
    return CurveParams(beta=beta, decay=0.0, half_saturation=k, shape=n, family="logistic")


def slope(p: CurveParams, x: float) -> float:
    """β·L'(x) in plain floats: (n/K)·σ'(u)/σ(n) with σ'(u) = e^−|u|/(1 + e^−|u|)² and 1/σ(n) = 1 + e^−n."""
    u = p.shape * (x / p.half_saturation - 1.0)
    t = math.exp(-abs(u))
    return p.beta * p.shape / p.half_saturation * t / (1.0 + t) ** 2 * (1.0 + math.exp(-p.shape))


def logistic_cells(shapes: list[float], seed: int = 0) -> tuple[CurveArrays, list[CurveParams]]:
    rng = np.random.default_rng(seed)
    params = [_params(float(rng.uniform(1, 10)), float(rng.uniform(1, 5)), n) for n in shapes]
    return CurveArrays.from_params(params), params


def mixed_problem(seed: int, n: int = 18, **kw) -> AllocationProblem:
    """A third concave Hill (n ≤ 1), a third S-shaped Hill (n in 1.3–3), a third logistic (n in 0.5–8)."""
    rng = np.random.default_rng(seed)
    third = n // 3
    shape = np.r_[rng.uniform(0.4, 1.0, third), rng.uniform(1.3, 3.0, third), rng.uniform(0.5, 8.0, n - 2 * third)]
    logistic = np.r_[np.zeros(2 * third, bool), np.ones(n - 2 * third, bool)]
    curves = CurveArrays(rng.uniform(1, 10, n), rng.uniform(1, 5, n), shape, logistic)
    return AllocationProblem(curves, [f"b{i % 3}" for i in range(n)], [f"c{i % 4}" for i in range(n)], **kw)


def test_logistic_cells_answer_like_the_shared_curve() -> None:
    curves, params = logistic_cells(SHAPES)
    x = np.linspace(0.0, 30.0, 301)[:, None]
    np.testing.assert_allclose(curves.response(x), np.column_stack([p.response(x[:, 0]) for p in params]),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(curves.marginal(x), [[slope(p, v) for p in params] for v in x[:, 0]],
                               rtol=1e-12, atol=1e-300)
    assert not curves.concave().any() and curves.families() == ["logistic"] * len(SHAPES)


def test_tangent_point_is_where_the_ray_touches() -> None:
    curves, params = logistic_cells(SHAPES)
    xs = curves.tangent_point()
    for i, p in enumerate(params):
        avg = float(p.response(xs[i])) / xs[i]
        assert avg == pytest.approx(slope(p, xs[i]), rel=1e-9)  # L(x*)/x* = L'(x*)
        assert avg == pytest.approx(float(curves.marginal_cap()[i]), rel=1e-9)
        k = p.half_saturation
        peak = minimize_scalar(lambda v, p=p: -float(p.response(v)) / v, bounds=(1e-6 * k, 20 * k),
                               method="bounded", options={"xatol": 1e-10 * k})
        assert xs[i] == pytest.approx(peak.x, rel=1e-4)  # the flat top of L(x)/x: only ~√ε in x
        assert xs[i] > k  # beyond the inflection, on the concave part


@pytest.mark.parametrize("lam_scale", [1e-250, 1e-30, 1e-6, 0.01, 0.3, 0.99])
def test_inverse_marginal_round_trips(lam_scale: float) -> None:
    curves, params = logistic_cells(SHAPES, seed=3)
    cap = curves.marginal_cap()
    lam = cap * lam_scale
    x, dx = curves.inverse_marginal(np.log(lam))
    got = np.array([slope(p, x[i]) for i, p in enumerate(params)])
    np.testing.assert_allclose(got, lam, rtol=1e-9)
    assert np.all(x >= curves.tangent_point() * (1 - 1e-12))
    h = 1e-6
    x2, _ = curves.inverse_marginal(np.log(lam) + h)
    np.testing.assert_allclose((x2 - x) / h, dx, rtol=1e-4)  # dx/d ln λ against a finite difference
    above, dz = curves.inverse_marginal(np.log(cap * 1.0001))
    assert np.all(above == 0) and np.all(dz == 0)  # above the cap: on the envelope's ray, no spend


def test_mixed_families_carry_through_subsets_and_dicts() -> None:
    problem = mixed_problem(0)
    c = problem.curves
    sub = c.subset(np.arange(c.size) % 2 == 0)
    np.testing.assert_array_equal(sub.logistic, c.logistic[::2])
    assert c.to_dict()["family"] == c.families() and c.families().count("logistic") == 6
    draws = CurveArrays(np.tile(c.beta, (5, 1)), c.half_saturation, c.shape, c.logistic)
    np.testing.assert_allclose(draws.response(np.full((1, c.size), 2.0))[0], c.response(np.full(c.size, 2.0)))


@pytest.mark.parametrize("seed", range(4))
def test_mixed_portfolio_above_the_tangent_points_is_exact(seed: int) -> None:
    """S-shaped cells held at or above their tangent points are concave there: exact, KKT, at least SLSQP."""
    base = mixed_problem(seed)
    floor = np.where(base.curves.concave(), 0.0, base.curves.tangent_point())
    problem = mixed_problem(seed, lower=floor, upper=floor + 6.0)
    budget = float(floor.sum() + 25.0)
    res = maximize_outcome(problem, budget, allow_envelope=True)
    lo, hi = problem.cell_bounds()
    assert res.status == "optimal" and res.outcome_bound == pytest.approx(res.outcome, rel=1e-12)
    assert res.allocation.sum() == pytest.approx(budget, rel=1e-10)
    assert_kkt(res.allocation, res.marginal_roi, lo, hi, res.multiplier)
    ref = problem.curves.response(slsqp(problem, budget)).sum()
    assert res.outcome >= ref - 1e-9 * abs(ref)


def _multistart_slsqp(problem: AllocationProblem, budget: float, starts: int, seed: int) -> float:
    """Best real outcome scipy SLSQP finds from an even split and random starts (a lower bound on the optimum)."""
    c, n = problem.curves, problem.n
    rng = np.random.default_rng(seed)
    best = -np.inf
    for x0 in [np.full(n, budget / n)] + [rng.dirichlet(np.ones(n)) * budget for _ in range(starts)]:
        res = minimize(lambda x: -c.response(x).sum(), x0, jac=lambda x: -c.marginal(x),
                       bounds=[(1e-9, budget)] * n, method="SLSQP", options={"maxiter": 500, "ftol": 1e-14},
                       constraints=[{"type": "eq", "fun": lambda x: np.array([x.sum() - budget]),
                                     "jac": lambda x: np.ones((1, n))}])
        x = np.clip(res.x, 0.0, None)
        x *= budget / x.sum()
        best = max(best, float(c.response(x).sum()))
    return best


@pytest.mark.parametrize(("seed", "budget"), [(0, 8.0), (1, 15.0), (2, 30.0), (3, 60.0)])
def test_envelope_solution_is_a_labelled_bound_on_mixed_portfolios(seed: int, budget: float) -> None:
    problem = mixed_problem(seed)
    c = problem.curves
    res = maximize_outcome(problem, budget, allow_envelope=True)
    x = res.allocation
    assert x.sum() == pytest.approx(budget, rel=1e-10) and np.all(x >= 0)
    assert res.outcome == pytest.approx(float(c.response(x).sum()))
    # The bound is the envelope's value at x, and no allocation SLSQP finds on the real curves beats it.
    assert res.outcome_bound == pytest.approx(float(c.envelope_response(x).sum()), rel=1e-12)
    assert _multistart_slsqp(problem, budget, 6, seed) <= res.outcome_bound * (1 + 1e-9)
    # The envelope's own optimum, by SLSQP on the (concave) envelope from our point and from an even split.
    def env_slope(v: np.ndarray) -> np.ndarray:
        return -np.where(~c.concave() & (v < c.tangent_point()), c.marginal_cap(), c.marginal(np.maximum(v, 1e-12)))

    env = [minimize(lambda v: -c.envelope_response(v).sum(), x0, jac=env_slope, method="SLSQP",
                    bounds=[(0, budget)] * c.size,
                    constraints=[{"type": "eq", "fun": lambda v: np.array([v.sum() - budget])}],
                    options={"maxiter": 500, "ftol": 1e-14}).fun for x0 in (x, np.full(c.size, budget / c.size))]
    assert res.outcome_bound >= -min(env) * (1 - 1e-7)
    if res.outcome < res.outcome_bound * (1 - 1e-12):
        assert res.status == "envelope_bound" and "upper bound" in res.to_dict()["status_label"]
    else:
        assert res.status == "optimal"
    # KKT on the envelope: cells with spend beyond the tangent point share λ, the rest want no more than λ.
    beyond = x > c.tangent_point() * (1 + 1e-9)
    np.testing.assert_allclose(c.marginal(x)[beyond], res.multiplier, rtol=1e-6)
    zero = x <= 1e-12
    assert np.all(np.where(c.concave(), c.marginal(x), c.marginal_cap())[zero] <= res.multiplier * (1 + 1e-6))


def test_a_logistic_only_portfolio_with_room_for_all_is_optimal() -> None:
    curves, _ = logistic_cells([1.0, 3.0, 8.0], seed=5)
    problem = AllocationProblem(curves, ["a"] * 3, ["x", "y", "z"])
    budget = float(curves.tangent_point().sum() * 3.0)
    res = maximize_outcome(problem, budget, allow_envelope=True)
    assert np.all(res.allocation > curves.tangent_point())
    assert res.status == "optimal" and res.outcome == pytest.approx(res.outcome_bound, rel=1e-12)
    assert res.outcome >= _multistart_slsqp(problem, budget, 4, 5) * (1 - 1e-9)


def test_genetic_search_and_risk_front_take_logistic_cells() -> None:
    """The hard-case engines read the family too: the GA lands between the envelope heuristic and its bound."""
    from core.optimize.genetic import optimize_hard
    from core.optimize.risk import risk_front

    problem = mixed_problem(0, 12)
    c = problem.curves
    env = maximize_outcome(problem, 10.0, allow_envelope=True)
    ga = optimize_hard(problem, 10.0, seed=0, pop_size=20, n_gen=15)
    assert ga.allocation.sum() == pytest.approx(10.0, rel=1e-9)
    assert env.outcome * (1 - 1e-9) <= ga.outcome <= env.outcome_bound * (1 + 1e-9)
    rng = np.random.default_rng(1)
    draws = CurveArrays(c.beta * rng.lognormal(0, 0.1, (30, c.size)), c.half_saturation, c.shape, c.logistic)
    problem.draws = draws
    front = risk_front(problem, 10.0, seed=0, pop_size=16, n_gen=5, n_anchors=2)
    assert len(front) >= 1 and np.all(front.point_outcome <= env.outcome_bound * (1 + 1e-9))  # no plan beats the bound
    np.testing.assert_allclose(front.allocations.sum(axis=1), 10.0, rtol=1e-9)
