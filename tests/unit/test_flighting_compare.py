"""What the flighting page compares a plan with (core.flighting.compare), checked against the plan itself.

The flat plan keeps each channel's total and the weekly limits; the optimal plan is never below it; the
budget's marginal read off an optimal plan is its exact shadow price (kkt.py); last year's pattern spends
the budget in the history's shape a year back; history alone brings a positive, fading outcome.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.flighting import instance
from core.flighting.compare import YEAR, comparisons, flat, last_year_plan, last_year_window
from core.flighting.solve import solve


@pytest.mark.parametrize(("seed", "weeks", "out"), [(0, 13, True), (1, 26, False), (2, 13, False)])
def test_the_flat_plan_keeps_totals_and_limits_and_the_plan_beats_it(seed, weeks, out):
    p = instance(seed, weeks, 4, 2, carryover_out=out)
    res = solve(p)
    assert res.status == "optimal"
    x = flat(p, res.plan)
    lo, hi = p.bounds()
    assert np.allclose(x.sum(axis=1), res.plan.sum(axis=1), rtol=1e-9)
    assert np.all(x >= lo - 1e-9 * p.budget) and np.all(x <= hi + 1e-9 * p.budget)
    free = (x > lo + 1e-6) & (x < hi - 1e-6)
    for s in range(x.shape[0]):  # weeks not held by a limit all get the same spend
        if free[s].sum() > 1:
            assert np.ptp(x[s, free[s]]) <= 1e-6 * x[s].max()
    compare = comparisons(p, res.plan)
    assert abs(compare["plan"]["outcome"] - res.outcome) <= 1e-9 * res.outcome
    assert compare["plan"]["outcome"] >= compare["flat"]["outcome"] * (1 - 1e-12)
    assert compare["plan"]["outcome"] >= compare["last_year"]["outcome"] * (1 - 1e-12) or \
        not np.all(last_year_plan(p.history, weeks, p.budget) <= hi)  # last year's pattern may break a limit


def test_the_budget_marginal_of_an_optimal_plan_is_its_shadow_price():
    p = instance(1, 13, 6, 1)
    res = solve(p)
    compare = comparisons(p, res.plan)
    price = res.prices["total budget"]
    assert abs(compare["budget_marginal"] - price) <= 1e-5 * abs(price)
    bigger = solve(dataclasses.replace(p, budget=p.budget * 1.001))  # and it prices a small step of budget
    assert abs((bigger.outcome - res.outcome) / (p.budget * 0.001) - price) <= 1e-2 * abs(price)


def test_last_years_pattern_is_the_same_weeks_a_year_back_scaled_to_the_budget():
    history = np.arange(2 * 60, dtype=float).reshape(2, 60)
    window = last_year_window(history, 13)
    assert np.array_equal(window, history[:, 60 - YEAR: 60 - YEAR + 13])
    plan = last_year_plan(history, 13, 1000.0)
    assert abs(plan.sum() - 1000.0) <= 1e-9 and np.allclose(plan / plan.sum(), window / window.sum())
    short = np.ones((2, 20))
    assert last_year_window(short, 13).shape == (2, 13)  # shorter than a year: the latest weeks
    assert np.allclose(last_year_plan(np.zeros((2, 0)), 4, 80.0), 10.0)  # no history: even


def test_history_alone_brings_a_fading_outcome():
    p = instance(2, 26, 3, 1)
    carry = comparisons(p, solve(p).plan)["carryover"]["weekly"]
    assert carry[0] > 0 and carry[-1] < carry[0]
    assert np.all(np.diff(carry) <= 1e-12 * carry[0])  # adstock only decays with no new spend
