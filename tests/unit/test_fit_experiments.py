"""Lift tests as likelihood terms: a channel whose spend follows an unobserved demand driver is biased
without one, and an experiment on it pulls its ROAS toward the truth and narrows its interval."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.curves import CurveParams
from core.optimize.fit import Experiment, fit_response_curves

TRUTH = {"tv": CurveParams(300.0, 0.4, 80.0, 1.5), "search": CurveParams(200.0, 0.1, 30.0, 1.0)}
WINDOW = (60, 71)  # a 12-week lift test on TV


def confounded(seed: int, periods: int = 156) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(revenue, spend, true contributions): TV's spend rises with a demand driver the fitter never sees."""
    rng = np.random.default_rng(seed)
    demand = np.zeros(periods)
    for t in range(1, periods):
        demand[t] = 0.8 * demand[t - 1] + 0.6 * rng.normal()
    spend = np.column_stack([80 * np.exp(0.6 * demand + 0.2 * rng.normal(size=periods)),
                             30 * np.exp(0.4 * rng.normal(size=periods))])
    contrib = np.column_stack([p.contribution(spend[:, j]) for j, p in enumerate(TRUTH.values())])
    t = np.arange(periods)
    revenue = (1000 + 0.3 * t + 40 * np.sin(2 * np.pi * t / 52.18) + 80 * demand + contrib.sum(axis=1)
               + rng.normal(0, 20, periods))
    return revenue, spend, contrib


@pytest.mark.parametrize("seed", [1, 2])
def test_experiment_pulls_a_confounded_channel_toward_the_truth(seed: int) -> None:
    revenue, spend, contrib = confounded(seed)
    channels = list(TRUTH)
    true_roas = contrib[:, 0].sum() / spend[:, 0].sum()
    plain = fit_response_curves(revenue, spend, channels, n_bootstrap=10, seed=0)
    bias = plain.roas["tv"] / true_roas - 1
    assert bias > 0.5  # demand's revenue is credited to TV: ROAS overstated by more than half

    s, e = WINDOW
    lift = float(contrib[s : e + 1, 0].sum())
    test = Experiment("tv", s, e, lift, 0.05 * lift)
    calibrated = fit_response_curves(revenue, spend, channels, n_bootstrap=10, seed=0, experiments=[test])
    assert abs(calibrated.roas["tv"] / true_roas - 1) < 0.5 * bias
    width = lambda r: r.roas_interval["tv"][1] - r.roas_interval["tv"][0]  # noqa: E731
    assert width(calibrated) < 0.5 * width(plain)
    row = calibrated.experiments[0]
    assert row["channel"] == "tv" and row["lift"] == pytest.approx(lift)
    plain_window = plain.decomposition["channel:tv"][s : e + 1].sum()
    assert abs(row["modelled"] - lift) < abs(plain_window - lift)


def test_an_experiment_the_data_contradict_is_flagged_and_bad_ones_refused() -> None:
    revenue, spend, contrib = confounded(1)
    s, e = WINDOW
    lift = float(contrib[s : e + 1, 0].sum())
    # a test claiming ten times the true lift, measured very precisely, cannot be matched by the data
    res = fit_response_curves(revenue, spend, list(TRUTH), n_bootstrap=10, seed=0,
                              experiments=[Experiment("search", s, e, 10 * lift, 0.01 * lift)])
    flagged = [w for w in res.warnings if w["code"] == "experiment_disagrees"]
    assert [w["channel"] for w in flagged] == ["search"] and "lift test" in flagged[0]["text"]
    for bad, words in [(Experiment("radio", s, e, lift, 1.0), "radio"),
                       (Experiment("tv", 150, 170, lift, 1.0), "outside the history"),
                       (Experiment("tv", s, e, lift, 0.0), "positive standard error")]:
        with pytest.raises(ValueError, match=words):
            fit_response_curves(revenue, spend, list(TRUTH), n_bootstrap=0, experiments=[bad])
