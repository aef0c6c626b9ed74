"""core.fit_record against known truth: residual diagnostics of series with a known autocorrelation, response
curves and their bands from known parameters, the digest, and the version comparison's flags."""

from __future__ import annotations

import numpy as np
import pytest

from core.fit_record import compare, curve_points, data_digest, residual_diagnostics
from core.optimize.curves import CurveParams


def ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    out = np.zeros(n)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


@pytest.mark.parametrize("phi", [0.0, 0.6, -0.5])
def test_residual_autocorrelation_and_durbin_watson_match_an_ar1_process(phi):
    # AR(1) residuals: lag-1 autocorrelation phi, Durbin–Watson about 2(1 − phi)
    r = ar1(phi, 20000, seed=3)
    fitted = np.linspace(100.0, 200.0, len(r))
    got = residual_diagnostics(fitted + r, fitted)
    assert got["residual_lag1"] == pytest.approx(phi, abs=0.03)
    assert got["durbin_watson"] == pytest.approx(2 * (1 - phi), abs=0.06)


def test_residual_diagnostics_of_a_perfect_fit_are_not_available():
    y = np.arange(10.0)
    assert residual_diagnostics(y, y) == {"residual_lag1": None, "durbin_watson": None}


def test_curve_points_follow_the_known_curve_and_the_band_spans_the_draws():
    p = CurveParams(beta=1000.0, decay=0.3, half_saturation=50.0, shape=1.5)
    spend = np.r_[np.full(40, 20.0), np.full(13, 80.0)]  # the last quarter spends 80 a week
    low, high = np.array([800.0, 0.3, 50.0, 1.5]), np.array([1200.0, 0.3, 50.0, 1.5])
    draws = np.array([low, high] * 50)
    c = curve_points(p, draws, spend, recent=13)
    grid = np.array(c["spend"])
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(80.0 * 1.25)
    # Hill: beta · x^n / (x^n + K^n), computed here from its definition
    assert np.allclose(c["response"], 1000.0 * grid ** 1.5 / (grid ** 1.5 + 50.0 ** 1.5))
    assert c["current_spend"] == 80.0 and c["max_spend"] == 80.0
    assert c["current_response"] == pytest.approx(1000.0 * 80 ** 1.5 / (80 ** 1.5 + 50 ** 1.5))
    # half the draws at beta 800, half at 1200: the 5 % and 95 % quantiles are those curves
    assert np.allclose(c["lower"], 0.8 * np.array(c["response"]))
    assert np.allclose(c["upper"], 1.2 * np.array(c["response"]))


def test_logistic_curve_points_use_the_logistic_family():
    p = CurveParams(beta=10.0, decay=0.0, half_saturation=4.0, shape=3.0, family="logistic")
    c = curve_points(p, None, np.full(20, 4.0), recent=4)
    assert c["family"] == "logistic" and c["lower"] is None
    # at the inflection K the normalized logistic is (½ − σ(−n)) / (1 − σ(−n))
    floor = 1 / (1 + np.exp(3.0))
    assert c["current_response"] == pytest.approx(10.0 * (0.5 - floor) / (1 - floor))


def test_digest_depends_on_the_data_not_on_key_order():
    a = {"periods": ["2024-01-01"], "revenue": [1.0], "spend": {"TV": [2.0], "Search": [3.0]}}
    b = {"spend": {"Search": [3.0], "TV": [2.0]}, "revenue": [1.0], "periods": ["2024-01-01"]}
    assert data_digest(a) == data_digest(b) and len(data_digest(a)) == 64
    assert data_digest({**a, "revenue": [1.0000001]}) != data_digest(a)


def test_compare_flags_a_roas_outside_the_previous_interval():
    previous = {"roas": {"TV": 2.0, "Search": 1.0, "OOH": 0.5},
                "roas_interval": {"TV": [1.5, 2.5], "Search": [0.8, 1.2], "OOH": [0.3, 0.7]}}
    current = {"roas": {"TV": 2.4, "Search": 1.5, "Meta": 3.0}}
    rows = {r["channel"]: r for r in compare(current, previous)}
    assert rows["TV"]["outside"] is False and rows["TV"]["change"] == pytest.approx(0.4)
    assert rows["Search"]["outside"] is True and rows["Search"]["previous_interval"] == [0.8, 1.2]
    assert rows["Meta"]["previous_roas"] is None and rows["Meta"]["outside"] is False  # new channel
    assert rows["OOH"]["roas"] is None and rows["OOH"]["outside"] is False  # left out this time
    assert compare(current, None) == []
