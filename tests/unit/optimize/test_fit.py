"""Curve fitting: recovery of known parameters from simulated history, and the Robyn weekly data set."""

from __future__ import annotations

import numpy as np
import pytest

from core.optimize.curves import CurveParams
from core.optimize.fit import fit_response_curves
from tests.sample_data import ROBYN_WEEKLY

TRUE = {
    "tv": CurveParams(400.0, 0.5, 60.0, 2.0),
    "search": CurveParams(250.0, 0.1, 20.0, 0.8),
    "social": CurveParams(150.0, 0.3, 30.0, 1.3),
}


def simulate(seed: int, periods: int = 208, noise: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly history: baseline + trend + yearly season + one control + media by CurveParams.contribution."""
    rng = np.random.default_rng(seed)
    spend = np.column_stack([
        rng.lognormal(np.log(p.half_saturation), 0.8, periods) * (rng.uniform(0, 1, periods) > 0.2)
        for p in TRUE.values()
    ])
    t = np.arange(periods)
    control = rng.normal(0, 1, periods)
    base = 1000 + 0.5 * t + 60 * np.sin(2 * np.pi * t / 52.18) + 30 * control
    media = sum(p.contribution(spend[:, j]) for j, p in enumerate(TRUE.values()))
    return base + media + rng.normal(0, noise, periods), spend, control[:, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_recovers_simulated_curves(seed: int) -> None:
    """Tolerances: decay ±0.05; the response curve within 4 % of β across 0.25–3 K for every channel;
    for the S-shaped channels also β and K within 10 % and the Hill exponent within ±0.3."""
    revenue, spend, control = simulate(seed)
    res = fit_response_curves(revenue, spend, list(TRUE), control, ["control"], n_bootstrap=0, seed=seed)
    assert res.r2 > 0.98 and res.holdout_r2 > 0.9
    for name, true in TRUE.items():
        got = res.params[name]
        assert got.decay == pytest.approx(true.decay, abs=0.05)
        grid = np.linspace(0.25, 3.0, 30) * true.half_saturation
        assert np.max(np.abs(got.response(grid) - true.response(grid))) <= 0.04 * true.beta
        if true.shape > 1:
            assert got.beta == pytest.approx(true.beta, rel=0.10)
            assert got.half_saturation == pytest.approx(true.half_saturation, rel=0.10)
            assert got.shape == pytest.approx(true.shape, abs=0.3)
    # contribution over the history is the fitted media term: compare with the truth
    for j, (name, true) in enumerate(TRUE.items()):
        actual = true.contribution(spend[:, j]).sum()
        assert res.contribution[name] == pytest.approx(actual, rel=0.05)
        assert res.roas[name] == pytest.approx(actual / spend[:, j].sum(), rel=0.05)


def test_bootstrap_intervals_cover_point_and_feed_the_allocator() -> None:
    revenue, spend, control = simulate(3)
    res = fit_response_curves(revenue, spend, list(TRUE), control, ["control"], n_bootstrap=25, seed=3)
    for name in TRUE:
        iv = res.param_interval(name)
        assert iv["beta"][0] <= res.params[name].beta * 1.05 and iv["beta"][1] >= res.params[name].beta * 0.95
        lo, hi = res.contribution_interval[name]
        assert lo < hi
    assert np.all(res.fitted_interval[:, 0] <= res.fitted_interval[:, 1])
    draws = res.curve_draws()
    assert draws.beta.shape == (25, 3)
    d = res.to_dict()
    assert d["n_bootstrap"] == 25 and set(d["param_intervals"]) == set(TRUE)


def test_fit_on_robyn_weekly_data() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(ROBYN_WEEKLY, parse_dates=["DATE"]).sort_values("DATE")
    channels = ["tv_S", "ooh_S", "print_S", "search_S", "facebook_S"]
    events = pd.get_dummies(df["events"], prefix="event", drop_first=False).drop(columns="event_na", errors="ignore")
    controls = pd.concat([df[["competitor_sales_B", "newsletter"]], events.astype(float)], axis=1)
    res = fit_response_curves(
        df["revenue"].to_numpy(), df[channels].to_numpy(), channels, controls.to_numpy(), list(controls.columns),
        n_starts=3, n_bootstrap=8, seed=0,
    )
    assert res.r2 > 0.85
    assert res.holdout_r2 is not None and res.holdout_r2 > 0.5
    assert res.holdout_mape < 0.15
    for ch in channels:
        assert res.contribution[ch] >= 0 and np.isfinite(res.roas[ch])
        assert 0 <= res.params[ch].decay <= 0.9
    media_share = sum(res.contribution.values()) / df["revenue"].sum()
    assert 0.0 < media_share < 0.8


def test_controls_constant_over_training_are_left_out_with_a_note() -> None:
    """A control that only varies in the holdout weeks (a late one-off event) would alias the intercept in
    the holdout fit; one constant everywhere says nothing. Both are skipped, with a note; the rest is used."""
    revenue, spend, control = simulate(0)
    late_event = np.zeros(len(revenue))
    late_event[-5:] = 1.0  # the last 5 of 208 weeks: inside the 15 % holdout
    controls = np.column_stack([control[:, 0], late_event, np.full(len(revenue), 3.0)])
    res = fit_response_curves(revenue, spend, list(TRUE), controls, ["control", "late", "flat"],
                              n_starts=2, n_bootstrap=0, seed=0)
    assert res.controls == ["control"]
    assert set(res.coefficients) >= {"control:control"} and "control:late" not in res.coefficients
    assert any("'late'" in n and "holdout" in n for n in res.notes)
    assert any("'flat'" in n for n in res.notes)
    assert res.holdout_r2 > 0.9 and res.to_dict()["notes"] == res.notes
    with pytest.raises(ValueError, match="one name per control"):
        fit_response_curves(revenue, spend, list(TRUE), controls, ["control"], n_bootstrap=0)
