"""The flighting solver is exact on concave instances: KKT conditions, an independent solver, invariances.

Instances come from benchmarks.flighting.instance (carry-over in from 26 weeks of history, blackouts,
caps, commitments and, when `totals`, quarterly caps and two channel ranges).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import lfilter

from benchmarks.flighting import instance, trust_constr
from core.flighting.kkt import kkt_residual
from core.flighting.model import WeeklyModel
from core.flighting.problem import FlightingProblem
from core.flighting.solve import solve
from core.formatting import Units
from core.optimize.curves import CurveParams
from core.optimize.fit_model import DECAY_MAX, Model
from core.optimize.progress import Cancelled

CASES = [(0, 4, 2, 1, False, False), (1, 13, 6, 1, True, True), (2, 26, 4, 3, True, False),
         (3, 52, 5, 2, False, True), (4, 13, 3, 4, True, True), (5, 52, 3, 3, True, True)]


@pytest.mark.parametrize(("seed", "weeks", "channels", "brands", "totals", "out"), CASES)
def test_random_concave_plans_meet_the_kkt_conditions(seed, weeks, channels, brands, totals, out):
    p = instance(seed, weeks, channels, brands, totals=totals, carryover_out=out)
    res = solve(p)
    assert res.status == "optimal"
    assert res.kkt.max_violation <= 1e-6, res.kkt.parts
    lo, hi = p.bounds()
    assert np.all(res.plan >= lo - 1e-9 * p.budget) and np.all(res.plan <= hi + 1e-9 * p.budget)
    assert abs(res.plan.sum() - p.budget) <= 1e-9 * p.budget


def test_the_kkt_check_fails_a_plan_that_is_not_optimal():
    p = instance(1, 13, 6, 1)
    res = solve(p)
    lo, hi, groups = p.validate()
    x = res.plan.copy()
    free = np.argwhere((x > lo + 0.1 * x.mean()) & (x < hi - 0.1 * x.mean()))
    (s0, t0), (s1, t1) = free[0], free[-1]
    step = 0.05 * min(x[s0, t0], x[s1, t1])
    x[s0, t0] += step
    x[s1, t1] -= step  # same budget, still within every bound: feasible but no longer optimal
    report = kkt_residual(p.model(), lo, hi, groups, x)
    assert report.parts["totals"] <= 1e-12
    assert report.max_violation > 1e-3
    assert p.model().outcome(x) < res.outcome


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_small_plans_agree_with_scipy_trust_constr(seed):
    p = instance(seed, 13, 3 + seed, 1, totals=seed % 2 == 0, carryover_out=seed < 2)
    ours = solve(p).outcome
    ref = trust_constr(p)
    assert abs(ours - ref) <= 1e-4 * abs(ref)
    assert ours >= ref * (1 - 1e-9)  # never worse than the independent solver


def _scaled(p: FlightingProblem, k: float = 1.0, m: float = 1.0) -> FlightingProblem:
    """Spend × k (budget, limits, history, K) and outcome × m (β)."""
    curves = [dataclasses.replace(c, beta=c.beta * m, half_saturation=c.half_saturation * k) for c in p.curves]
    times = lambda a: None if a is None else np.asarray(a) * k  # noqa: E731
    return dataclasses.replace(
        p, curves=curves, budget=p.budget * k, upper=times(p.upper), commitments=times(p.commitments),
        history=times(p.history),
        period_budgets={q: (a * k, b * k) for q, (a, b) in p.period_budgets.items()},
        channel_budgets={c: (a * k, b * k) for c, (a, b) in p.channel_budgets.items()})


@pytest.mark.parametrize("k", [1e-3, 7.0, 1e4])
def test_spend_times_k_scales_the_plan_by_k(k):
    p = instance(6, 26, 4, 2)
    base, scaled = solve(p), solve(_scaled(p, k=k))
    assert np.max(np.abs(scaled.plan / k - base.plan)) <= 1e-6 * base.plan.max()
    assert scaled.outcome == pytest.approx(base.outcome, rel=1e-9)


@pytest.mark.parametrize("m", [1e-4, 3.0, 1e5])
def test_outcome_times_m_leaves_the_plan(m):
    p = instance(7, 26, 4, 2)
    base, scaled = solve(p), solve(_scaled(p, m=m))
    assert np.max(np.abs(scaled.plan - base.plan)) <= 1e-6 * base.plan.max()
    assert scaled.outcome == pytest.approx(base.outcome * m, rel=1e-9)


def test_reordering_brands_and_channels_permutes_the_plan():
    p = instance(8, 13, 4, 3)
    order = np.random.default_rng(0).permutation(len(p.curves))
    q = dataclasses.replace(
        p, curves=[p.curves[i] for i in order], brands=[p.brands[i] for i in order],
        channels=[p.channels[i] for i in order], upper=np.asarray(p.upper)[order], blackout=p.blackout[order],
        commitments=p.commitments[order], history=p.history[order])
    base = solve(p).plan
    assert np.max(np.abs(solve(q).plan - base[order])) <= 1e-6 * base.max()


def test_the_weekly_model_is_the_fitted_model():
    """Adstock from the fit's burn-in start through history then plan, saturated as the fit does."""
    rng = np.random.default_rng(3)
    curve = CurveParams(beta=5e5, decay=0.6, half_saturation=3e4, shape=0.7)
    history, plan = rng.uniform(1e4, 5e4, 30), rng.uniform(0, 6e4, 13)
    spend = np.r_[history, plan]
    fit = Model(np.zeros(len(spend)), spend[:, None], np.zeros((len(spend), 0)), "W", 0, ["hill"], None)
    a = np.log(curve.decay / DECAY_MAX / (1 - curve.decay / DECAY_MAX))  # the fit's logit(θ / 0.9)
    sat = fit.channel_saturation(0, a, np.log(curve.half_saturation / fit.x_scale[0]), np.log(curve.shape))
    model = WeeklyModel([curve], 13, FlightingProblem([curve], ["b"], ["c"], 13, 1.0, history=history[None, :])
                        .model().carry_in)
    inside, _ = model.outcome_parts(plan[None, :])
    assert np.allclose(inside[0], curve.beta * sat[30:], rtol=1e-10)
    # and the carry-over out is the same recursion run past the horizon on zero spend
    long = WeeklyModel([curve], 13, model.carry_in, carryover_out=True)
    tail = lfilter([1 - curve.decay], [1, -curve.decay], np.r_[spend, np.zeros(600)],
                   zi=[curve.decay * history[:8].mean()])[0][43:]
    assert long.outcome_parts(plan[None, :])[1][0] == pytest.approx(curve.response(tail).sum(), rel=1e-9)


CONCAVE = [CurveParams(4e5, 0.6, 3e4, 0.8), CurveParams(2e5, 0.3, 2e4, 0.6), CurveParams(3e5, 0.7, 5e4, 1.0)]

@pytest.mark.parametrize("curves", [CONCAVE, [CurveParams(4e5, 0.6, 3e4, 2.5), CurveParams(2e5, 0.3, 2e4, 1.8)]],
                         ids=["concave", "s-shaped"])
def test_the_solve_reports_progress_and_stops_where_a_cancel_is_raised(curves):
    """A job's reporter raises Cancelled from progress once Cancel is pressed: the solve stops right there."""
    problem = FlightingProblem(curves, ["Acme"] * len(curves), ["TV", "Search", "Social"][: len(curves)], 13, 1e6,
                               units=Units("INR", "revenue"))
    seen: list[tuple[float, str]] = []
    solve(problem, progress=lambda f, m: seen.append((f, m)))
    assert len(seen) >= 5 and all(0 <= f <= 1 for f, _ in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)  # the bar never goes back

    def cancel_on_third(f: float, m: str, calls=[]) -> None:  # noqa: B006 - a counter kept across calls
        calls.append(m)
        if len(calls) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        solve(problem, progress=cancel_on_third)
