"""The reason each flighting row gives agrees with the plan's own optimality conditions (core.flighting.reasons)."""

from __future__ import annotations

import numpy as np
import pytest

from core.flighting.compare import budget_marginal
from core.flighting.problem import FlightingProblem
from core.flighting.reasons import explain, week_prices
from core.flighting.solve import solve
from core.formatting import Units
from core.optimize.curves import CurveParams

CURVES = [CurveParams(4e5, 0.6, 3e4, 0.8), CurveParams(2e5, 0.3, 2e4, 0.6), CurveParams(3e5, 0.7, 5e4, 1.0)]
WEEKS = [f"2027-{m:02d}-{d:02d}" for m, d in ((1, 4), (1, 11), (1, 18), (1, 25), (2, 1), (2, 8), (2, 15), (2, 22),
                                               (3, 1), (3, 8), (3, 15), (3, 22), (3, 29))]
INR = Units("INR", "revenue")


def plan(budget: float = 1.2e6, curves=CURVES, **kw) -> tuple[FlightingProblem, list[dict]]:
    problem = FlightingProblem(curves, ["Acme"] * len(curves), ["TV", "Search", "Social"][: len(curves)], 13, budget,
                               units=INR, **kw)
    res = solve(problem)
    assert res.status == "optimal"
    return problem, explain(problem, res.plan, res.prices, res.status, budget_marginal(problem, problem.model(),
                                                                                         res.plan), WEEKS)


def test_free_rows_share_the_budget_price_and_say_it_in_rupees():
    problem, rows = plan()
    assert [r["reason"] for r in rows] == ["margin"] * 3
    price = solve(problem).prices["total budget"]
    for r in rows:
        assert r["marginal"] == pytest.approx(price, rel=1e-5)  # every free week returns the budget's price
        assert "₹1 returns the common rate of ₹" in r["why"] and "Peak: W" in r["why"]
        assert r["weeks_on"] >= 10 and r["weeks_at_cap"] == 0  # a slow channel may skip the last week


def test_a_capped_row_says_cap_and_earns_more_than_the_price_there():
    caps = np.full((3, 13), np.inf)
    caps[0] = 2e4  # TV held far below what it would take
    problem, rows = plan(upper=caps)
    res = solve(problem)
    assert rows[0]["reason"] == "cap" and rows[0]["weeks_at_cap"] == 13
    assert "a higher cap would earn more" in rows[0]["why"]
    grad = problem.model().gradient(res.plan)
    assert np.all(grad[0] > res.prices["total budget"])  # capped weeks return more than the price: the cap holds it
    assert rows[1]["reason"] == rows[2]["reason"] == "margin"


def test_a_row_whose_first_rupee_returns_too_little_gets_nothing_and_says_why():
    poor = [*CURVES[:2], CurveParams(2e3, 0.3, 5e5, 1.0)]  # tiny ceiling, late half-saturation: a weak first ₹1
    problem, rows = plan(curves=poor)
    res = solve(problem)
    assert res.plan[2].sum() == pytest.approx(0.0, abs=1e-3)
    assert rows[2]["reason"] == "off" and rows[2]["why"].startswith("No spend: even its first ₹1 returns ₹")
    assert rows[2]["marginal"] < res.prices["total budget"]


def test_a_binding_channel_budget_is_named_and_a_blackout_counted():
    dark = np.zeros((3, 13), bool)
    dark[1, :3] = True
    _, rows = plan(channel_budgets={"Search": (0, 5e4)}, blackout=dark)
    assert rows[1]["reason"] == "held" and "Held by its channel Search budget" in rows[1]["why"]
    assert "Blacked out in 3 weeks." in rows[1]["why"] and rows[1]["weeks_blackout"] == 3


def test_week_prices_add_the_prices_of_every_total_a_week_belongs_to():
    problem = FlightingProblem(CURVES, ["Acme"] * 3, ["TV", "Search", "Social"], 13, 1e6,
                               periods=[{w[:7]} for w in WEEKS], period_budgets={"2027-01": (0, 1e5)})
    groups = problem.groups()
    prices = week_prices(groups, {"total budget": 2.0, "period 2027-01": 0.5}, (3, 13), None)
    assert np.all(prices[:, :4] == 2.5) and np.all(prices[:, 4:] == 2.0)
    estimate = week_prices(groups, {}, (3, 13), 1.7)  # a heuristic plan: the budget's estimate everywhere
    assert np.all(estimate == 1.7)

