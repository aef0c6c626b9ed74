"""The demo generator without a database: determinism, shape, ranges, and the revenue process."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.demo.catalogue import CHANNELS, METRICS, PLATFORMS, SECTIONS
from core.demo.generate import (
    DEFAULT_END_MONTH,
    generate_benchmark,
    generate_demo,
    metric_arrays,
    month_starts,
    week_starts,
)
from core.demo.mmm import CONTROL_NAMES
from core.optimize.curves import CurveParams


@pytest.fixture(scope="module")
def demo():
    return generate_demo(42)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.spend, b.spend)
    np.testing.assert_array_equal(a.revenue, b.revenue)
    np.testing.assert_array_equal(a.units, b.units)
    np.testing.assert_array_equal(a.controls, b.controls)
    assert a.curves == b.curves
    assert a.anomalies == b.anomalies
    pd.testing.assert_frame_equal(a.metric_value_frame(), b.metric_value_frame())
    pd.testing.assert_frame_equal(a.members, b.members)


def test_same_seed_gives_identical_portfolio(demo):
    _same(demo, generate_demo(42))


def test_different_seed_gives_different_numbers_same_structure(demo):
    other = generate_demo(43)
    assert not np.allclose(demo.values, other.values)
    assert not np.allclose(demo.revenue, other.revenue)
    assert [c["params"] for c in demo.curves] != [c["params"] for c in other.curves]
    pd.testing.assert_frame_equal(demo.brands, other.brands)  # names and structure do not depend on the seed


def test_benchmark_is_deterministic_too():
    a, b, c = generate_benchmark(120, seed=5), generate_benchmark(120, seed=5), generate_benchmark(120, seed=6)
    _same(a, b)
    assert not np.allclose(a.values, c.values)


def test_organizations_projects_and_brands(demo):
    assert len(demo.organizations) >= 2
    assert (demo.projects.groupby("org").size() == 2).all()
    roles = demo.members.groupby(["project", "role"]).size().unstack()
    assert (roles["own"] >= 10).all() and (roles["competitor"] >= 10).all()
    # A brand belongs to one organization: no name repeats inside one, and members stay in their org.
    assert not demo.brands.duplicated(["org", "name"]).any()
    member_org = demo.brands["org"].to_numpy()[demo.members["brand"]]
    assert (member_org == demo.projects["org"].to_numpy()[demo.members["project"]]).all()
    # Competitors may be shared between an organization's two projects; own brands are not.
    per_brand = demo.members.groupby("brand")["project"].nunique()
    shared = per_brand[per_brand > 1].index
    assert len(shared) > 0
    assert set(demo.members.loc[demo.members["brand"].isin(shared), "role"]) == {"competitor"}


def test_catalogue():
    assert len(METRICS) == 60
    assert len({m.code for m in METRICS}) == 60
    assert {p.section for p in PLATFORMS} == set(SECTIONS) == {
        "Marketplace", "Digital Spends", "Organic Performance", "Socialwatch"}
    names = {p.name for p in PLATFORMS}
    assert len(names) >= 10
    assert {"Amazon", "Flipkart", "Google Ads", "Meta", "Instagram", "SEO", "Google Analytics", "X/Twitter",
            "LinkedIn"} <= names
    lower = {m.code for m in METRICS if m.direction == "lower"}
    assert {"gads_cpc", "ga_bounce_rate", "amazon_return_rate", "fb_response_time"} <= lower
    assert 5 <= len(lower) < 30
    assert len({m.weight for m in METRICS}) > 3 and len({p.weight for p in PLATFORMS}) > 3
    for m in METRICS:
        assert m.min_value < m.typical_low < m.typical_high < m.max_value, m.code
        assert m.unit and m.name
    assert len(CHANNELS) >= 5


def test_periods_and_weeks(demo):
    assert len(demo.periods) == 36
    assert demo.periods[-1] == DEFAULT_END_MONTH == date(2026, 10, 1)
    assert all(p.day == 1 for p in demo.periods)
    assert month_starts(date(2025, 2, 1), 3) == [date(2024, 12, 1), date(2025, 1, 1), date(2025, 2, 1)]
    assert generate_demo(1, date(2025, 1, 1), months=12).periods[0] == date(2024, 2, 1)
    weeks = demo.weeks
    assert all(w.weekday() == 0 for w in weeks)
    assert weeks[0] <= demo.periods[0] < weeks[1]
    assert weeks[-1] <= date(2026, 10, 31) < weeks[-1] + pd.Timedelta(days=7)
    assert week_starts([date(2024, 1, 1)]) == [date(2024, 1, d) for d in (1, 8, 15, 22, 29)]


def test_values_inside_metric_ranges_with_trends_and_seasonality(demo):
    arr = metric_arrays()
    v = demo.values
    assert v.shape == (len(demo.brands), 60, 36)
    assert np.isfinite(v).all()
    assert (v >= arr["min"][None, :, None]).all() and (v <= arr["max"][None, :, None]).all()
    # Brands differ, and move over time (not flat lines).
    assert (v.std(axis=2) > 0).mean() > 0.95
    assert (v.std(axis=0) > 0).all()


def test_anomalies_are_real_jumps_recorded_as_injected(demo):
    assert len(demo.anomalies) >= 10
    codes = [m.code for m in METRICS]
    own = set(demo.members.loc[demo.members["role"] == "own", "brand"])
    latest = 0
    for a in demo.anomalies:
        b, m, t = a["brand_index"], codes.index(a["metric"]), demo.periods.index(a["period"])
        assert b in own and demo.brands.at[b, "name"] == a["brand"]
        assert demo.values[b, m, t] == a["actual"]
        assert (a["actual"] > a["expected"]) == (a["kind"] == "spike")
        # A jump well outside the brand's own month-to-month variation.
        history = np.delete(demo.values[b, m], t)
        assert abs(a["actual"] - a["expected"]) > 3 * np.std(np.diff(history)), a
        latest += a["period"] == demo.periods[-1]
    assert latest >= 2


def test_spend_has_flighting_on_five_plus_channels(demo):
    n_own = demo.members.loc[demo.members["role"] == "own", "brand"].nunique()
    assert demo.spend.shape == (n_own, len(CHANNELS), len(demo.weeks))
    assert len(CHANNELS) >= 5
    assert (demo.spend >= 0).all()
    zero_share = (demo.spend == 0).mean(axis=(0, 2))
    kinds = np.array([c.flighting for c in CHANNELS])
    assert (zero_share[kinds == "burst"] > 0.2).all()  # bursts with dark weeks
    # Always-on and pulsed channels run most weeks, with the odd dark spell (which pins their level).
    assert ((zero_share[kinds != "burst"] > 0.05) & (zero_share[kinds != "burst"] < 0.3)).all()
    # Every series is active enough to identify its curve.
    assert ((demo.spend > 0).mean(axis=2) >= 0.2).all()


def test_channels_follow_their_own_plans(demo):
    """Media plans are booked per channel: spends of two channels of a brand hardly move together."""
    n_c = len(CHANNELS)
    pairs = np.triu_indices(n_c, 1)
    corr = np.array([np.corrcoef(series)[pairs] for series in demo.spend])
    assert abs(corr.mean()) < 0.1 and (np.abs(corr) < 0.6).all()
    # Dark weeks of different channels overlap about as often as chance has it (independent calendars).
    dark = (demo.spend == 0).astype(float)
    both = np.einsum("ocw,odw->cd", dark, dark) / (dark.shape[0] * dark.shape[2])
    share = dark.mean(axis=(0, 2))
    off = ~np.eye(n_c, dtype=bool)
    assert np.allclose(both[off], np.outer(share, share)[off], atol=0.03)


def test_curves_mix_concave_and_s_shaped_with_identifiable_half_saturation(demo):
    shapes = np.array([c["params"]["shape"] for c in demo.curves])
    assert (shapes <= 1).any() and (shapes > 1).any()
    channel_names = [c.name for c in CHANNELS]
    for curve in demo.curves:
        o = int(np.flatnonzero(demo.mmm_brands == curve["brand"])[0])
        x = demo.spend[o, channel_names.index(curve["channel"])]
        typical = x[x > 0].mean()
        assert 0.2 * typical < curve["params"]["half_saturation"] < 3 * typical
        # K lies inside the observed spend, so both sides of the bend are in the data.
        below = np.mean(x[x > 0] < curve["params"]["half_saturation"])
        assert 0.05 < below < 0.95, curve
        assert 0 <= curve["params"]["decay"] < 1 and curve["params"]["beta"] > 0


def _documented_baseline(d: dict, weeks: list[date]) -> np.ndarray:
    """The baseline written out from the formula in the diagnostics, independently of generate.py."""
    idx = pd.DatetimeIndex(weeks)
    t = ((idx - pd.Timestamp(d["first_week"])).days // 7).to_numpy(dtype=float)
    f = (idx.day_of_year.to_numpy() - 1) / 365.25
    y = d["baseline"] + d["trend_per_week"] * t
    for k, (s, c) in enumerate(zip(d["season_sin"], d["season_cos"], strict=True), start=1):
        y = y + s * np.sin(2 * np.pi * k * f) + c * np.cos(2 * np.pi * k * f)
    return y + d["festive_amplitude"] * _documented_festive(d, weeks)


def _documented_festive(d: dict, weeks: list[date]) -> np.ndarray:
    f = (pd.DatetimeIndex(weeks).day_of_year.to_numpy() - 1) / 365.25
    dist = (f - d["festive_center"] + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (dist / d["festive_width"]) ** 2)


def test_revenue_follows_the_stored_generating_process(demo):
    """Recompute revenue from spend with the stored truth: what is left is noise of the stored sd."""
    channel_names = [c.name for c in CHANNELS]
    standardized, media_shares = [], []
    for o, b in enumerate(demo.mmm_brands):
        curves = [c for c in demo.curves if c["brand"] == b]
        assert sorted(c["channel"] for c in curves) == sorted(channel_names)
        diag = curves[0]["diagnostics"]
        assert all(c["diagnostics"]["noise_sd"] == diag["noise_sd"] for c in curves)
        media = sum(
            CurveParams.from_dict(c["params"]).contribution(demo.spend[o, channel_names.index(c["channel"])])
            for c in curves
        )
        residual = demo.revenue[o] - _documented_baseline(diag, demo.weeks) - media
        # The festive driver is published as a control series, exactly the factor of the revenue model.
        np.testing.assert_allclose(demo.controls[o, CONTROL_NAMES.index("event:festive")],
                                   _documented_festive(diag, demo.weeks), rtol=1e-12, atol=1e-12)
        standardized.append(residual / diag["noise_sd"])
        media_shares.append(media.mean() / demo.revenue[o].mean())
    z = np.concatenate(standardized)
    assert abs(z.mean()) < 0.05
    assert abs(z.std() - 1) < 0.05
    assert abs(z).max() < 5
    # Media drive a real share of revenue (20–40 % by design), so the curves are worth fitting.
    assert 0.15 < np.mean(media_shares) < 0.45


def test_units_are_revenue_over_a_plausible_price(demo):
    assert (demo.units > 0).all()
    assert np.allclose(demo.units, np.round(demo.units))
    prices = np.array([next(c for c in demo.curves if c["brand"] == b)["diagnostics"]["list_price"]
                       for b in demo.mmm_brands])
    realized = demo.revenue / demo.units
    ratio = realized / prices[:, None]
    assert (ratio > 0.8).all() and (ratio < 1.1).all()  # festive discounts up to 12 %, small mix noise


def test_benchmark_structure():
    p = generate_benchmark(500, seed=1, months=6)
    assert len(p.organizations) == 1
    sizes = p.members.groupby("project").size()
    assert len(sizes) == 10 and (sizes == 50).all()
    roles = p.members.groupby(["project", "role"]).size().unstack()
    assert (roles["own"] == 25).all() and (roles["competitor"] == 25).all()
    assert p.values.shape == (500, 60, 6)
    assert p.n_values == 500 * 60 * 6
    assert p.brands["name"].is_unique
    assert p.spend.size == 0 and not p.curves
    small = generate_benchmark(60, seed=1, months=3)
    assert small.members["project"].nunique() == 1
    assert (small.members["role"] == "own").sum() == 30
