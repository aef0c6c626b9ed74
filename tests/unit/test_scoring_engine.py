"""The DC score engine against hand-computed fixtures and hypothesis properties."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.scoring import ScoreInputs, compute_scores, decompose_change, effective_weights, normalize
from core.scoring.engine import competitive_gaps

P0, P1 = date(2026, 1, 1), date(2026, 2, 1)

# Two sections, one platform each: platform 10 (section 1) holds m1 (higher, w1) and m2 (lower, w3);
# platform 20 (section 2) holds m3 (higher, w1).
METRICS = pd.DataFrame(
    {"platform_id": [10, 10, 20], "section_id": [1, 1, 2], "weight": [1.0, 3.0, 1.0],
     "direction": ["higher", "lower", "higher"]},
    index=pd.Index([1, 2, 3], name="metric_id"),
)
PLATFORM_WEIGHTS = pd.Series({10: 1.0, 20: 1.0})


def values(rows: list[tuple], project: int = 1, period: date = P0) -> pd.DataFrame:
    """rows: (brand, metric, value)."""
    return pd.DataFrame(
        [(project, period, b, m, v) for b, m, v in rows],
        columns=["project_id", "period", "brand_id", "metric_id", "value"],
    )


BASE = [("A", 1, 10), ("B", 1, 20), ("C", 1, 30), ("A", 2, 1), ("B", 2, 3), ("C", 2, 5),
        ("A", 3, 5), ("B", 3, 5), ("C", 3, 5)]


def scores(frame: pd.DataFrame, section_weights: pd.DataFrame | None = None, method: str = "minmax") -> pd.DataFrame:
    result = compute_scores(
        ScoreInputs(frame, METRICS, PLATFORM_WEIGHTS, section_weights, pd.Series({1: method}))
    )
    return result.set_index(["level", "node_id", "brand_id"]).sort_index()


def total(result: pd.DataFrame, brand: str) -> float:
    return float(result.loc[("total", 0, brand), "score"])


def test_minmax_hand_computed_with_lower_is_better_and_zero_range():
    result = scores(values(BASE))
    # m1: A 0, B 50, C 100; m2 (lower): A 100, B 50, C 0; m3 all equal → 50 (parity).
    assert result.loc[("platform", 10, "A"), "score"] == pytest.approx(75.0)  # (1·0 + 3·100) / 4
    assert result.loc[("platform", 10, "B"), "score"] == pytest.approx(50.0)
    assert result.loc[("platform", 10, "C"), "score"] == pytest.approx(25.0)
    assert result.loc[("platform", 20, "A"), "score"] == pytest.approx(50.0)
    assert total(result, "A") == pytest.approx(62.5)
    assert total(result, "B") == pytest.approx(50.0)
    assert total(result, "C") == pytest.approx(37.5)
    assert (result["coverage"] == 1.0).all()


def test_section_weights_per_project():
    weights = pd.DataFrame({"project_id": [1, 1], "section_id": [1, 2], "weight": [3.0, 1.0]})
    result = scores(values(BASE), weights)
    assert total(result, "A") == pytest.approx((3 * 75 + 50) / 4)


def test_missing_value_drops_out_and_coverage_reports_it():
    rows = [r for r in BASE if r[:2] != ("C", 2)]
    result = scores(values(rows))
    # m2 over A and B only: A best (100), B worst (0).
    assert result.loc[("platform", 10, "B"), "score"] == pytest.approx((50 + 0) / 4)
    assert result.loc[("platform", 10, "C"), "score"] == pytest.approx(100.0)  # only m1 left
    assert result.loc[("platform", 10, "C"), "coverage"] == pytest.approx(0.25)  # 1 of 4 weight units
    assert total(result, "C") == pytest.approx(75.0)
    assert result.loc[("total", 0, "C"), "coverage"] == pytest.approx((0.25 + 1.0) / 2)
    assert result.loc[("total", 0, "A"), "coverage"] == pytest.approx(1.0)


def test_section_missing_for_a_brand_renormalizes_section_weights():
    rows = [r for r in BASE if r[:2] != ("A", 3)]
    result = scores(values(rows))
    assert total(result, "A") == pytest.approx(75.0)  # only section 1 remains
    assert result.loc[("total", 0, "A"), "coverage"] == pytest.approx(0.5)
    assert ("section", 2, "A") not in result.index


def test_single_brand_is_parity_not_nan():
    result = scores(values([("A", 1, 10), ("A", 2, 3), ("A", 3, 7)]))
    assert not result["score"].isna().any()
    assert total(result, "A") == pytest.approx(50.0)


def test_all_missing_metric_is_not_held_against_anyone():
    rows = [r for r in BASE if r[1] != 3]  # nobody reports m3: section 2 is not expected
    result = scores(values(rows))
    assert result.loc[("total", 0, "A"), "coverage"] == pytest.approx(1.0)
    assert total(result, "A") == pytest.approx(75.0)


def test_percentile_rank_with_ties():
    frame = values([("A", 1, 1), ("B", 1, 1), ("C", 1, 2), ("D", 1, 3)])
    norm = normalize(frame, np.zeros(4, dtype=bool), "percentile")
    # ranks 1.5, 1.5, 3, 4 of 4 → (r−1)/3·100
    assert norm == pytest.approx([50 / 3, 50 / 3, 200 / 3, 100.0])
    lower = normalize(frame, np.ones(4, dtype=bool), "percentile")
    assert lower == pytest.approx([100 - 50 / 3, 100 - 50 / 3, 100 - 200 / 3, 0.0])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown normalization"):
        normalize(values(BASE), np.zeros(len(BASE), dtype=bool), "zscore")


def test_groups_are_per_project_and_period():
    frame = pd.concat([values(BASE), values([("A", 1, 1000), ("B", 1, 0)], project=2),
                       values([("A", 1, 0), ("B", 1, 1)], period=P1)])
    result = compute_scores(ScoreInputs(frame, METRICS, PLATFORM_WEIGHTS))
    p2 = result[(result.project_id == 2) & (result.level == "total")].set_index("brand_id")["score"]
    assert p2["A"] == pytest.approx(100.0) and p2["B"] == pytest.approx(0.0)
    p1_feb = result[(result.period == P1) & (result.level == "total")].set_index("brand_id")["score"]
    assert p1_feb["B"] == pytest.approx(100.0)


def test_decomposition_hand_computed():
    before = values(BASE)
    after_rows = [(b, m, v) for b, m, v in BASE]
    after_rows[0] = ("A", 1, 25)  # A's m1 climbs from worst (0) to the middle of 20..30 (50)
    frame = pd.concat([before, values(after_rows, period=P1)])
    inputs = ScoreInputs(frame, METRICS, PLATFORM_WEIGHTS)
    parts = decompose_change(inputs, "A", 1, P0, P1).set_index("metric_id")
    # effective weight of m1 = 1/4 (platform) · 1/2 (section) = 1/8; Δnorm = 50
    assert parts.loc[1, "contribution"] == pytest.approx(50 / 8)
    assert parts.loc[2, "contribution"] == pytest.approx(0.0)
    result = compute_scores(inputs)
    tot = result[(result.level == "total") & (result.brand_id == "A")].set_index("period")["score"]
    assert parts["contribution"].sum() == pytest.approx(tot[P1] - tot[P0])


def test_competitive_gaps_are_direction_aware():
    roles = pd.DataFrame({"project_id": 1, "brand_id": ["A", "B", "C"], "role": ["own", "competitor", "competitor"]})
    gaps = competitive_gaps(values(BASE), roles, METRICS).set_index("metric_id")
    assert gaps.loc[1, "best_competitor"] == 30 and gaps.loc[1, "gap_to_best"] == -20
    assert gaps.loc[1, "gap_to_avg"] == pytest.approx(10 - 25)
    # m2 is lower-is-better: A's 1 beats the best competitor's 3 by 2.
    assert gaps.loc[2, "best_competitor"] == 3 and gaps.loc[2, "gap_to_best"] == 2
    assert gaps.loc[2, "gap_to_best_points"] == pytest.approx(100 - 50)


# --- properties -------------------------------------------------------------------------------

N_METRICS = 6
PROP_METRICS = pd.DataFrame(
    {"platform_id": [10, 10, 11, 20, 30, 30], "section_id": [1, 1, 1, 2, 3, 3],
     "weight": [1.0, 2.0, 1.5, 1.0, 0.5, 3.0], "direction": ["higher", "lower", "higher", "lower", "higher", "higher"]},
    index=pd.Index(range(N_METRICS), name="metric_id"),
)
PROP_PLATFORMS = pd.Series({10: 2.0, 11: 1.0, 20: 1.0, 30: 0.5})

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def portfolios(draw):
    n_brands = draw(st.integers(1, 5))
    cells = [(b, m, p) for p in (P0, P1) for b in range(n_brands) for m in range(N_METRICS)]
    present = draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    vals = draw(st.lists(finite, min_size=len(cells), max_size=len(cells)))
    rows = [(1, p, b, m, round(v, 3)) for (b, m, p), keep, v in zip(cells, present, vals, strict=True) if keep]
    if not rows:
        rows = [(1, P0, 0, 0, 1.0)]
    method = draw(st.sampled_from(["minmax", "percentile"]))
    frame = pd.DataFrame(rows, columns=["project_id", "period", "brand_id", "metric_id", "value"])
    return frame, method


def prop_scores(frame: pd.DataFrame, method: str) -> pd.DataFrame:
    return compute_scores(ScoreInputs(frame, PROP_METRICS, PROP_PLATFORMS, None, pd.Series({1: method})))


def totals(result: pd.DataFrame) -> pd.Series:
    return result[result.level == "total"].set_index(["period", "brand_id"])["score"]


@settings(max_examples=80, deadline=None)
@given(portfolios())
def test_every_score_is_within_0_and_100(case):
    frame, method = case
    result = prop_scores(frame, method)
    assert result["score"].between(0, 100).all()
    assert result["coverage"].between(0, 1).all()
    assert not result["score"].isna().any()


@settings(max_examples=80, deadline=None)
@given(portfolios(), st.data())
def test_raising_a_higher_is_better_value_never_lowers_that_brands_score(case, data):
    frame, method = case
    higher = frame["metric_id"].map(PROP_METRICS["direction"]).eq("higher")
    if not higher.any():
        return
    row = data.draw(st.sampled_from(list(frame.index[higher])))
    bump = data.draw(st.floats(min_value=0.001, max_value=1e6))
    raised = frame.copy()
    raised.loc[row, "value"] += bump
    key = (frame.loc[row, "period"], frame.loc[row, "brand_id"])
    assert totals(prop_scores(raised, method))[key] >= totals(prop_scores(frame, method))[key] - 1e-9


@settings(max_examples=80, deadline=None)
@given(portfolios(), st.integers(0, N_METRICS - 1), st.floats(min_value=1e-3, max_value=1e3))
def test_rescaling_a_metrics_units_changes_nothing(case, metric, factor):
    frame, method = case
    scaled = frame.copy()
    scaled.loc[scaled.metric_id == metric, "value"] *= factor
    a, b = totals(prop_scores(frame, method)), totals(prop_scores(scaled, method))
    assert np.allclose(a.sort_index(), b.sort_index(), atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(portfolios())
def test_contributions_sum_to_the_change(case):
    frame, method = case
    tot = totals(prop_scores(frame, method))
    brands = {b for (p, b) in tot.index if p == P0} & {b for (p, b) in tot.index if p == P1}
    inputs = ScoreInputs(frame, PROP_METRICS, PROP_PLATFORMS, None, pd.Series({1: method}))
    for brand in brands:
        parts = decompose_change(inputs, brand, 1, P0, P1)
        assert parts["contribution"].sum() == pytest.approx(tot[(P1, brand)] - tot[(P0, brand)], abs=1e-7)
        assert (parts["value_effect"] + parts["weight_effect"]).to_numpy() == pytest.approx(
            parts["contribution"].to_numpy(), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(portfolios())
def test_effective_weights_reproduce_the_total(case):
    frame, method = case
    inputs = ScoreInputs(frame, PROP_METRICS, PROP_PLATFORMS, None, pd.Series({1: method}))
    weighted = effective_weights(inputs)
    recon = (weighted["e"] * weighted["norm"]).groupby([weighted["period"], weighted["brand_id"]]).sum()
    tot = totals(prop_scores(frame, method))
    assert np.allclose(recon.sort_index().to_numpy(), tot.sort_index().to_numpy(), atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(portfolios())
def test_engine_matches_the_naive_per_row_implementation(case):
    from benchmarks.naive_scoring import naive_scores

    frame, _ = case
    metrics = {m: (r.platform_id, r.section_id, r.weight, r.direction) for m, r in PROP_METRICS.iterrows()}
    expected = pd.DataFrame(
        naive_scores(frame.itertuples(index=False), metrics, PROP_PLATFORMS.to_dict()),
        columns=["project_id", "period", "brand_id", "level", "node_id", "score", "coverage"],
    ).set_index(["project_id", "period", "brand_id", "level", "node_id"]).sort_index()
    ours = prop_scores(frame, "minmax").set_index(["project_id", "period", "brand_id", "level", "node_id"]).sort_index()
    assert list(ours.index) == list(expected.index)
    assert np.allclose(ours["score"], expected["score"], atol=1e-9)
    assert np.allclose(ours["coverage"], expected["coverage"], atol=1e-9)
