"""Metric recommender: the genetic search equals exhaustive enumeration on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.recommend import (
    MetricOptions,
    feasible_best,
    recommend,
    recommend_exhaustive,
    recommend_portfolio,
)


def minmax_score(competitors: np.ndarray, weights: np.ndarray, higher: np.ndarray):
    """A small DC-style score: min-max normalize each metric across brand + competitors, weighted mean."""

    def score(values: np.ndarray) -> float:
        allv = np.vstack([values, competitors])
        lo, hi = allv.min(axis=0), allv.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        norm = np.where(hi > lo, (values - lo) / span, 0.5)
        norm = np.where(higher, norm, 1 - norm) * 100
        return float(np.sum(weights * norm) / weights.sum())

    return score


def case(seed: int, m: int = 6):
    rng = np.random.default_rng(seed)
    higher = rng.random(m) < 0.7
    competitors = rng.uniform(10, 100, (4, m))
    current = rng.uniform(10, 100, m)
    history = current + np.cumsum(rng.normal(0, 8, (12, m)), axis=0)
    best = feasible_best(current, competitors, history, higher)
    opts = MetricOptions([f"m{j}" for j in range(m)], current, best, rng.uniform(0.5, 2, m), rng.uniform(0, 5, m), 3)
    return opts, minmax_score(competitors, rng.uniform(0.5, 2, m), higher)


@pytest.mark.parametrize("seed", range(5))
def test_genetic_equals_exhaustive_on_small_cases(seed: int) -> None:
    opts, score = case(seed)
    budget = float(opts.effort(np.full(len(opts.names), opts.levels)) * 0.3)
    exact = recommend_exhaustive(opts, score, budget, k=3)
    ga = recommend(opts, score, budget, k=3, seed=seed)
    assert ga.gain == pytest.approx(exact.gain, abs=1e-9)
    assert exact.gain > 0
    assert np.count_nonzero(ga.levels) <= 3 and ga.effort <= budget * (1 + 1e-12)
    assert sum(s["gain"] for s in ga.steps) == pytest.approx(ga.gain)


def test_feasible_best_respects_competitors_and_history() -> None:
    current = np.array([50.0, 50.0, 50.0])
    competitors = np.array([[70.0, 30.0, 40.0], [60.0, 20.0, 45.0]])
    history = np.array([[40.0, 60.0, 50.0], [45.0, 52.0, 48.0], [50.0, 50.0, 50.0]])  # best monthly move 5, 8
    best = feasible_best(current, competitors, history, np.array([True, False, True]))
    np.testing.assert_allclose(best, [55.0, 42.0, 50.0])  # +5 cap; lower-is-better −8; competitors worse


def test_targets_stay_within_feasible_range() -> None:
    opts, score = case(7)
    rec = recommend(opts, score, 1e9, k=6, seed=0)
    vals = opts.values(rec.levels)
    lo, hi = np.minimum(opts.current, opts.best), np.maximum(opts.current, opts.best)
    assert np.all(vals >= lo - 1e-12) and np.all(vals <= hi + 1e-12)
    assert rec.to_dict()["gain"] == pytest.approx(rec.gain)


def test_portfolio_weights_brands_by_revenue() -> None:
    (oa, sa), (ob, sb) = case(1), case(2)
    budget = float(oa.effort(np.full(6, 3)) * 0.4)
    heavy_a = recommend_portfolio({"a": (oa, sa, 100.0), "b": (ob, sb, 1.0)}, budget, k=2, grid=4)
    heavy_b = recommend_portfolio({"a": (oa, sa, 1.0), "b": (ob, sb, 100.0)}, budget, k=2, grid=4)
    assert heavy_a["brands"]["a"]["effort_budget"] >= heavy_b["brands"]["a"]["effort_budget"]
    for res in (heavy_a, heavy_b):
        assert sum(v["effort_budget"] for v in res["brands"].values()) <= budget * (1 + 1e-12)
