"""The fitting benchmark's synthetic family keeps a consistent truth, and the benchmark runs end to end."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import numpy as np
import pytest

from benchmarks.fit_oracle import oracle_roas, oracle_roas_mape_pct
from benchmarks.fitting import FIGURES, coverage_ceiling, figures, main
from benchmarks.fitting_family import (
    BURN_IN,
    RANGES,
    family_seeds,
    synthetic_brand,
    synthetic_family,
    truncated_adstock,
)
from core.optimize.curves import geometric_adstock, saturation

FAMILY = synthetic_family(50, seed=7)


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


@pytest.mark.parametrize("brand", FAMILY[:10], ids=lambda b: f"seed{b.seed}")
def test_revenue_is_baseline_plus_controls_plus_media_plus_noise(brand):
    parts = brand.baseline + brand.control_effect + brand.contribution.sum(axis=1) + brand.noise
    np.testing.assert_allclose(brand.revenue, parts, rtol=1e-12)
    totals = brand.spend.sum(axis=0)
    for j, ch in enumerate(brand.channels):
        assert brand.roas[ch] == pytest.approx(brand.contribution[:, j].sum() / totals[j], rel=1e-12)
    assert sum(brand.share.values()) == pytest.approx(1.0)
    assert brand.media_share == pytest.approx(brand.contribution.sum() / (brand.revenue - brand.noise).sum())


@pytest.mark.parametrize("brand", FAMILY[:10], ids=lambda b: f"seed{b.seed}")
def test_contributions_follow_the_true_curves_with_their_pre_history(brand):
    for j, ch in enumerate(brand.channels):
        p, lags = brand.params[ch], brand.lags[ch]
        full = np.r_[brand.prehistory[:, j], brand.spend[:, j]]
        w = p.decay ** np.arange(lags) / np.sum(p.decay ** np.arange(lags))
        adstock = np.array([sum(w[k] * full[t - k] for k in range(lags) if t - k >= 0) for t in range(len(full))])
        expected = p.beta * saturation(p.family, adstock, p.half_saturation, p.shape)[BURN_IN:]
        np.testing.assert_allclose(brand.contribution[:, j], expected, rtol=1e-10)
    # the first observed week carries adstock from unobserved spend
    assert brand.prehistory.sum() > 0


def test_a_long_truncated_window_is_the_models_infinite_geometric_adstock():
    x = np.random.default_rng(0).lognormal(size=(80, 2))
    np.testing.assert_allclose(truncated_adstock(x, 0.5, 60), geometric_adstock(x, 0.5), rtol=1e-12, atol=1e-12)
    short = truncated_adstock(x, 0.5, 4)
    assert short[10, 0] == pytest.approx(np.dot([8, 4, 2, 1], x[10:6:-1, 0]) / 15)


def test_every_draw_stays_in_the_familys_ranges():
    families, shapes_ratio = set(), []
    for b in FAMILY:
        t_len, c = b.spend.shape
        assert _within(t_len, RANGES["weeks"]) and _within(c, RANGES["channels"])
        assert b.revenue.shape == (t_len,) and b.controls.shape == (t_len, 2) and b.period == "W"
        assert _within(b.media_share, RANGES["media_share"])
        assert _within(b.noise_sd / (b.revenue - b.noise).mean(), RANGES["noise_share"])
        events = b.controls[:, 1]
        assert set(np.unique(events)) == {0.0, 1.0} and 2 <= events.sum() <= 5
        assert b.controls[:, 0].mean() == pytest.approx(0.0, abs=1e-9)
        assert np.all(b.spend >= 0) and np.all(b.spend.sum(axis=0) > 0)
        for j, ch in enumerate(b.channels):
            p = b.params[ch]
            families.add(p.family)
            assert _within(p.decay, RANGES["decay"]) and _within(b.lags[ch], RANGES["lags"])
            assert _within(p.shape, RANGES[f"{p.family}_shape"])
            typical = b.spend[:, j][b.spend[:, j] > 0].mean()
            shapes_ratio.append(p.half_saturation / typical)
            assert b.roas[ch] > 0 and p.beta > 0
    assert families == {"hill", "logistic"}
    assert min(shapes_ratio) >= 0.4 and max(shapes_ratio) <= 2.5


def test_the_family_has_the_hard_parts_it_promises():
    flighted = np.concatenate([np.any(b.spend == 0, axis=0) for b in FAMILY])  # per channel
    assert 0.2 < np.mean(flighted) < 0.6
    spread = [np.log10(b.spend.mean(axis=0).max() / b.spend.mean(axis=0).min()) for b in FAMILY]
    assert max(spread) > 1.5  # scales orders of magnitude apart
    # the confounder moves both spend and revenue; channels move together
    with_demand = [np.corrcoef(np.log1p(b.spend[:, j]), b.controls[:, 0])[0, 1]
                   for b in FAMILY for j in range(b.spend.shape[1])]
    assert np.mean(with_demand) > 0.1
    assert np.mean([np.corrcoef(b.revenue, b.controls[:, 0])[0, 1] for b in FAMILY]) > 0.05
    across = [np.corrcoef(np.log1p(b.spend.T))[np.triu_indices(b.spend.shape[1], 1)].mean() for b in FAMILY]
    assert np.mean(across) > 0.1


def test_the_same_seed_gives_the_same_brand_and_others_differ():
    a, b = synthetic_brand(123), synthetic_brand(123)
    np.testing.assert_array_equal(a.revenue, b.revenue)
    np.testing.assert_array_equal(a.spend, b.spend)
    assert a.params == b.params and a.lags == b.lags
    c = synthetic_brand(124)
    assert a.revenue.shape != c.revenue.shape or not np.allclose(a.revenue, c.revenue)
    assert family_seeds(5, 0) == family_seeds(5, 0) and len(set(family_seeds(50, 0))) == 50
    assert family_seeds(5, 0) != family_seeds(5, 1)


def test_the_figures_score_a_fitter_against_the_truth():
    brands = FAMILY[:3]
    truth = {b.seed: b for b in brands}

    def result(b, variant="base", roas_factor=1.0, width=0.1):
        roas = {ch: b.roas[ch] * roas_factor for ch in b.channels}
        return {"fitter": "x", "seed": b.seed, "variant": variant, "seconds": 1.0, "cpu_seconds": 0.5, "roas": roas,
                "interval": {ch: [r * (1 - width), r * (1 + width)] for ch, r in roas.items()},
                "contribution": {ch: b.share[ch] * 7.0 for ch in b.channels}}

    perfect = figures([result(b) for b in brands], truth)
    assert perfect["coverage_90"] == 1.0 and perfect["roas_mape_pct"] == pytest.approx(0.0)
    assert perfect["share_mae_pts"] == pytest.approx(0.0) and perfect["unit_invariance_max_rel"] == 0.0
    assert perfect["n_channels"] == sum(len(b.channels) for b in brands) and perfect["n_failed"] == 0

    off = [result(b, roas_factor=1.2, width=0.1) for b in brands]
    b0 = brands[0]
    off.append(result(b0, "spend_x1000", roas_factor=1.2 * 1.5 / 1000))  # 50 % off in other units
    off.append({"fitter": "x", "seed": b0.seed, "variant": "revenue_x0.001", "error": "ValueError: no"})
    got = figures(off, truth)
    assert got["coverage_90"] == 0.0 and got["roas_mape_pct"] == pytest.approx(20.0)
    assert got["unit_invariance_max_rel"] == pytest.approx(0.5) and got["n_failed"] == 1


def test_the_oracle_is_exact_without_noise_and_errs_with_it():
    """Known shapes and no noise: least squares returns the true ROAS; the noise alone then costs a figure > 0."""
    for brand in FAMILY[:5]:
        clean = dataclasses.replace(brand, revenue=brand.revenue - brand.noise)
        got = oracle_roas(clean)
        for ch in brand.channels:
            assert got[ch] == pytest.approx(brand.roas[ch], rel=1e-9)
    noisy = oracle_roas_mape_pct(FAMILY[:10])
    assert 1.0 < noisy < 200.0
    assert oracle_roas_mape_pct([dataclasses.replace(b, revenue=b.revenue - b.noise) for b in FAMILY[:10]]) < 1e-7


def test_the_coverage_ceiling_is_what_exact_draws_cover():
    rng = np.random.default_rng(3)
    for draws in (20, 100):
        samples = rng.normal(size=(40_000, draws))
        lo, hi = np.quantile(samples, [0.05, 0.95], axis=1)
        x = rng.normal(size=40_000)
        assert np.mean((lo <= x) & (x <= hi)) == pytest.approx(coverage_ceiling(draws), abs=0.01)


def test_the_benchmark_runs_end_to_end_and_prints_every_figure(tmp_path):
    out = io.StringIO()
    details = tmp_path / "fits.jsonl"
    with contextlib.redirect_stdout(out):
        main(["--brands", "3", "--bootstrap", "3", "--invariance-brands", "1", "--max-channels", "2",
              "--workers", "2", "--details", str(details), "--json"])
    lines = out.getvalue().splitlines()
    assert any(line.startswith("figure") and "today" in line and "new" in line and "target" in line
               for line in lines)
    result = json.loads(lines[-1])
    for name in FIGURES:
        for key in (name, f"today_{name}"):
            assert np.isfinite(result[key]), key
    for prefix in ("", "today_"):
        assert result[f"{prefix}n_brands"] == 3 and result[f"{prefix}n_failed"] == 0
        assert result[f"{prefix}n_channels"] == 6
        assert 0.0 <= result[f"{prefix}coverage_90"] <= 1.0 and result[f"{prefix}roas_mape_pct"] >= 0
    assert result["coverage_90_ceiling"] == pytest.approx(coverage_ceiling(3))
    assert 0.0 < result["oracle_roas_mape_pct"] < 1000.0
    fits = [json.loads(line) for line in details.read_text().splitlines()]
    assert len(fits) == 2 * (3 + 2)  # both fitters: 3 brands, and 1 brand in two other units
    assert all(set(f["roas"]) == set(f["truth"]["roas"]) for f in fits)


def test_only_new_skips_todays_fitter_and_says_so():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = main(["--brands", "1", "--bootstrap", "3", "--invariance-brands", "0", "--max-channels", "2",
                       "--workers", "1", "--only-new"])
    row = next(line for line in out.getvalue().splitlines() if line.startswith("coverage_90 "))
    assert row.split("|")[1].strip() == "-"
    assert not any(k.startswith("today_") for k in result) and result["n_brands"] == 1
