"""What a planner asks of a flighting plan: carry-over in and out, blackouts, bookings, minimums, refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.flighting import instance
from core.flighting.problem import FlightingProblem
from core.flighting.solve import solve
from core.formatting import Units
from core.optimize.curves import CurveParams
from core.optimize.problem import InfeasibleError

CURVES = [CurveParams(4e5, 0.6, 3e4, 0.8), CurveParams(2e5, 0.3, 2e4, 0.6), CurveParams(3e5, 0.7, 5e4, 1.0)]


def plain(weeks: int = 13, budget: float = 1.2e6, **kw) -> FlightingProblem:
    return FlightingProblem(CURVES, ["brand"] * 3, ["tv", "search", "social"], weeks, budget, **kw)


def test_a_large_history_raises_early_outcome_and_the_plan_spends_less_early():
    quiet = solve(plain())
    loud = solve(plain(history=np.full((3, 20), 2e5)))
    assert loud.status == quiet.status == "optimal"
    assert np.all(loud.weekly_outcome[:, 0] > quiet.weekly_outcome[:, 0])
    assert loud.plan[:, :3].sum() < quiet.plan[:, :3].sum()
    assert loud.plan[:, -3:].sum() > quiet.plan[:, -3:].sum()  # the money not needed early goes later


def test_spend_in_the_last_weeks_falls_when_carryover_past_the_end_does_not_count():
    counted = solve(plain(carryover_out=True))
    not_counted = solve(plain(carryover_out=False))
    assert counted.outcome_after > 0 and not_counted.outcome_after == 0
    assert not_counted.plan[:, -3:].sum() < counted.plan[:, -3:].sum()
    assert not_counted.plan[:, :3].sum() > counted.plan[:, :3].sum()
    # the slow channel (θ = 0.7) leans hardest on the last weeks' carry-over
    assert not_counted.plan[2, -1] < 0.5 * counted.plan[2, -1]


def test_blackout_weeks_get_zero_and_commitments_hold():
    blackout = np.zeros((3, 13), bool)
    blackout[0, 4:7] = blackout[1, :2] = True
    booked = np.zeros((3, 13))
    booked[2, 0], booked[1, 12] = 2e5, 9e4  # far above what the plan would put there
    res = solve(plain(blackout=blackout, commitments=booked))
    assert res.status == "optimal"
    assert np.all(res.plan[blackout] == 0.0)
    assert np.all(res.plan >= booked * (1 - 1e-12))
    assert res.plan[2, 0] == pytest.approx(2e5, rel=1e-9)  # a booking above the optimum stays a floor it sits on
    assert res.plan.sum() == pytest.approx(1.2e6, rel=1e-12)


def test_minimum_weekly_spend_when_on_is_respected():
    free = solve(plain(budget=3e5))
    floor = 0.9 * np.median(free.plan)  # the relaxed plan has weeks below it
    assert np.any((free.plan > 0) & (free.plan < floor))
    res = solve(plain(budget=3e5, min_when_on=floor))
    on = res.plan > 0
    assert np.all(res.plan[on] >= floor * (1 - 1e-9))
    assert res.status == "heuristic" and res.kkt.ok  # optimal for its on/off weeks, not proven over all of them
    assert res.plan.sum() == pytest.approx(3e5, rel=1e-9)
    assert res.outcome <= free.outcome


def test_a_minimum_the_optimum_already_keeps_leaves_it_optimal_with_no_dust():
    free = solve(plain(budget=3e5))
    floor = 0.5 * free.plan[free.plan > 1.0].min()  # below every week the plan spends in
    res = solve(plain(budget=3e5, min_when_on=floor))
    assert res.status == "optimal" and res.kkt.ok
    assert np.all((res.plan == 0) | (res.plan >= floor))
    assert res.plan.sum() == pytest.approx(3e5, rel=1e-12)


def test_period_and_channel_budgets_hold():
    weeks = 13
    periods = ["M1"] * 4 + ["M2"] * 4 + ["M3"] * 5
    res = solve(plain(periods=periods, period_budgets={"M1": (0, 2e5), "M3": (5e5, None)},
                      channel_budgets={"search": (3e5, 3e5)}))
    assert res.status == "optimal"
    assert res.plan[:, :4].sum() <= 2e5 * (1 + 1e-9)
    assert res.plan[:, 8:].sum() >= 5e5 * (1 - 1e-9)
    assert res.plan[1].sum() == pytest.approx(3e5, rel=1e-9)
    assert res.prices["period M1"] > 0 and res.prices["period M3"] < 0  # binding cap and binding minimum
    assert weeks == res.plan.shape[1]


def test_s_shaped_curves_get_a_heuristic_plan_below_the_envelope_bound():
    p = instance(3, 13, 4, 1, totals=False)
    p = dataclasses.replace(p, curves=[dataclasses.replace(c, shape=2.5) for c in p.curves])
    res = solve(p)
    assert res.status == "heuristic" and "optimal" not in res.notes[0].split("heuristic")[0]
    assert res.outcome <= res.outcome_bound * (1 + 1e-9)
    assert res.plan.sum() == pytest.approx(p.budget, rel=1e-9)
    assert res.outcome >= p.model().outcome(np.full_like(res.plan, p.budget / res.plan.size) * (p.bounds()[1] > 0))


@pytest.mark.parametrize(("change", "words"), [
    ({"budget": 1e5, "commitments": np.full((3, 13), 5e3)}, "below the €195 K already booked"),
    ({"budget": -5.0}, "must be a positive amount"),
    ({"upper": np.full((3, 13), 1e4)}, "more than the weekly maximums and blackout weeks allow (€390 K)"),
    ({"commitments": np.eye(3, 13) * 1e4, "blackout": np.eye(3, 13, dtype=bool)}, "booked in week 1, a blackout"),
    ({"lower": np.full((3, 13), 2e4), "upper": np.full((3, 13), 1e4)}, "above the weekly maximum"),
    ({"periods": ["A"] * 6 + ["B"] * 7, "period_budgets": {"A": (0, 1e5), "B": (0, 1e5)}}, "cannot all be met"),
    ({"channel_budgets": {"radio": (0, 1e5)}}, "names 'radio', which is not in the plan"),
    ({"upper": np.ones((2, 13))}, "one row per brand and channel"),
])
def test_infeasible_inputs_are_refused_with_a_reason(change, words):
    with pytest.raises(InfeasibleError) as err:
        solve(plain(units=Units("EUR"), **change))
    assert words in err.value.reason
