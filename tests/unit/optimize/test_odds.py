"""core.optimize.odds: the share of the curves' draws in which the plan beats the current allocation,
and the interval of its uplift, on draws whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.curves import CurveArrays
from core.optimize.odds import odds_words, plan_odds


def _draws(beta_tv: list[float], beta_search: list[float]) -> CurveArrays:
    """Two concave cells (Hill, K = 1, n = 1): at a spend of 2 each returns β·2/3; at 0 nothing."""
    d = len(beta_tv)
    return CurveArrays(np.column_stack([beta_tv, beta_search]), np.ones((d, 2)), np.ones((d, 2)))


def test_the_plan_wins_in_exactly_seven_draws_of_ten():
    # The plan puts everything on TV, the current mix on Search: the plan wins where TV's β is larger.
    scale = np.array([1, 100, 3, 50, 7, 1000, 2, 9, 30, 5], dtype=float)  # a strength both cells share
    tv = scale * np.array([1.2, 1.1, 1.3, 1.05, 1.4, 1.01, 1.2, 0.9, 0.8, 0.7])
    odds = plan_odds(_draws(tv.tolist(), scale.tolist()), np.array([2.0, 0.0]), np.array([0.0, 2.0]))
    assert odds["probability"] == pytest.approx(0.7) and odds["draws"] == 10 and odds["level"] == 0.8
    uplift = (tv - scale) * 2 / 3
    assert odds["uplift_interval"] == pytest.approx(np.quantile(uplift, [0.1, 0.9]).tolist())


def test_the_draws_are_paired():
    """Unpaired, a common strength spread wide would put the odds near a coin toss; paired, the plan
    is better in every draw (TV always returns 10 % more than Search)."""
    scale = np.geomspace(1, 1e4, 200)
    odds = plan_odds(_draws((scale * 1.1).tolist(), scale.tolist()), np.array([2.0, 0.0]), np.array([0.0, 2.0]))
    assert odds["probability"] == 1.0 and odds["uplift_interval"][0] > 0


def test_the_same_plan_never_wins_and_no_draws_give_no_odds():
    draws = _draws([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    same = plan_odds(draws, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert same["probability"] == 0.0 and same["uplift_interval"] == [0.0, 0.0]
    assert plan_odds(None, np.array([1.0]), np.array([1.0])) is None
    assert plan_odds(draws, np.array([1.0, 1.0]), None) is None
    assert "no draws" in odds_words(None)
    assert odds_words({"probability": 0.7, "uplift_interval": [-1e6, 2.5e6], "level": 0.8, "draws": 10}) == (
        "The plan beats the current allocation in 70 % of 10 draws of the curves; 80 % interval of the uplift "
        "−1 M to 2.5 M.")
