"""core.plan_limits: every way the limits rule a budget out is said with the computed number and the change
to make, and a budget at the cap but for rounding is placed (issue 16 item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from core.formatting import Units
from core.optimize.curves import CurveArrays
from core.optimize.genetic import optimize_hard
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.plan_limits import PlanError, _apart, check_budget, check_target, engine_refusal

CURRENT = np.array([100e6, 200e6, 162.458_7e6])  # 462.4587 M, the issue's brand


def problem(brands=("A", "A", "A"), **kw) -> AllocationProblem:
    curves = CurveArrays(np.array([3e8, 5e8, 4e8]), np.array([1e8, 2e8, 1.5e8]), np.array([2.0, 1.5, 2.5]))
    return AllocationProblem(curves, list(brands), ["TV", "Search", "OOH"], current=CURRENT.copy(), **kw)


def refused(p: AllocationProblem, budget: float) -> str:
    with pytest.raises(PlanError) as err:
        check_budget(p, budget)
    assert "e+" not in str(err.value) and "e-" not in str(err.value)
    return str(err.value)


def test_the_issues_budget_above_the_caps_maximum() -> None:
    assert refused(problem(max_change=0.2), 600e6) == (
        "With at most +20 % per channel the most you can place is 555 M, less than the budget of 600 M; lower the "
        "budget or raise the cap."
    )
    several = problem(brands=("A", "B", "B"), max_change=0.2, upper=np.array([np.inf, 210e6, np.inf]))
    assert refused(several, 600e6) == (
        "With at most +20 % per brand and channel and the maximums you set the most you can place is 525 M, less "
        "than the budget of 600 M; lower the budget, raise the cap or raise a maximum."
    )


def test_a_budget_a_hair_from_the_cap_is_placed_at_it() -> None:
    p = problem(max_change=0.2)
    most = float(np.sum(CURRENT * 1.2))
    assert check_budget(p, most * (1 + 1e-10)) == pytest.approx(most, rel=1e-12)
    x = optimize_hard(p, check_budget(p, most), n_gen=5, pop_size=10, seed=0).allocation  # was "no cell left"
    assert x == pytest.approx(CURRENT * 1.2, rel=1e-9)


def test_digits_enough_to_tell_the_budget_from_the_limit() -> None:
    assert _apart(554.95e6, 555.0e6, Units().money) == ("554.95 M", "555 M")
    assert _apart(300e6, 600e6, Units().money) == ("300 M", "600 M")
    assert _apart(554.95e6, 555.0e6, Units("INR").money) == ("₹554.95 M", "₹555 M")


def test_the_refusal_speaks_the_organizations_currency() -> None:
    p = problem(max_change=0.2)
    with pytest.raises(PlanError, match=r"the most you can place is ₹.* less than the budget of ₹"):
        check_budget(p, float(np.sum(CURRENT)) * 2, Units("INR"))


@pytest.mark.parametrize(
    "kw, budget, words",
    [
        (
            {"max_change": 0.2},
            300e6,
            "With at most −20 % per channel the least you must place is 370 M, more than the "
            "budget of 300 M; raise the budget or widen the cap.",
        ),
        (
            {"locked": np.array([False, True, False])},
            150e6,
            "The locked channels alone spend 200 M, more than the budget "
            "of 150 M; raise the budget or unlock a channel.",
        ),
        (
            {"lower": np.array([0, 300e6, 0]), "max_change": 0.1},
            462e6,
            "A / Search: its minimum 300 M is more than the 220 M that at most +10 % allows; "
            "lower the minimum or raise the cap.",
        ),
        (
            {"upper": np.array([50e6, np.inf, np.inf]), "max_change": 0.1},
            462e6,
            "A / TV: its maximum 50 M is less than the 90 M that at most −10 % keeps; "
            "raise the maximum or raise the cap.",
        ),
        ({"lower": np.array([0, 10e6, 0]), "upper": np.array([np.inf, 20e6, np.inf])}, 462e6, None),
        (
            {"brand_bounds": {"A": (900e6, np.inf)}, "max_change": 0.2},
            462e6,
            "The brand total for A must be at least 900 M, but its cells may take at most 555 M",
        ),
        (
            {"channel_bounds": {"TV": (0, 10e6)}, "lower": np.array([50e6, 0, 0])},
            462e6,
            "The channel total for TV may be at most 10 M, but its cells need at least 50 M",
        ),
        (
            {"min_spend": np.array([0, 0, 300e6]), "upper": np.array([np.inf, np.inf, 100e6])},
            100e6,
            "A / OOH: its minimum when on, 300 M, is more than the 100 M it may spend",
        ),
        (
            {"max_active_per_brand": 1, "max_change": 0.2},
            462e6,
            "A: 3 channels must spend (a minimum, the cap or a lock) but at most 1 may be active",
        ),
        (
            {"max_active_per_brand": 1, "upper": np.array([100e6, 200e6, 300e6])},
            462e6,
            "With the maximums you set and at most 1 active channel per brand the most you can place is 300 M",
        ),
    ],
)
def test_each_limit_says_what_to_change(kw, budget, words) -> None:
    p = problem(**kw)
    if words is None:  # a minimum at or under its own maximum: nothing to say
        assert check_budget(p, budget) == budget
        return
    assert words in refused(p, budget)


def test_an_unreachable_target_names_what_the_limits_reach() -> None:
    p = problem(max_change=0.2)
    with pytest.raises(
        PlanError,
        match=r"the most the plan can reach is 321 M a year \(spending 555 M\), less than "
        r"the target of 1 B; lower the target or raise the cap\.",
    ):
        check_target(p, 1e9, lambda budget: 321e6)
    with pytest.raises(PlanError, match=r"level off at about 1\.2 B a year, short of the target of 5 B"):
        check_target(problem(), 5e9, lambda budget: 0.0)
    check_target(problem(), 1e9, lambda budget: 0.0)  # reachable with enough spend: no refusal


def test_an_engine_refusal_gets_words_and_a_plan_error_passes() -> None:
    said = engine_refusal(InfeasibleError("cannot place budget 5e8"))
    assert isinstance(said, PlanError) and str(said).startswith("No plan meets every limit at once")
    mine = PlanError("With ...")
    assert engine_refusal(mine) is mine
