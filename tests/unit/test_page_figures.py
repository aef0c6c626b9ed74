"""The page figure builders and the brand explorer's chart specs, without a database or a Dash app."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core import brand_explorer as bx
from dashboard.brand_charts import CHARTS, Selection
from dashboard.figures import brand as figs
from dashboard.figures.portfolio import brand_href, ranking_grid

MAR, APR = date(2025, 3, 1), date(2025, 4, 1)


def _waterfall() -> bx.Waterfall:
    frame = pd.DataFrame({"metric": ["Reach", "Share of search"], "platform": ["Meta", "Google"],
                          "contribution": [0.7, -0.2]})
    return bx.Waterfall(frame, score_from=40.0, score_to=40.5)


def _gaps(basis: str) -> bx.Gaps:
    frame = pd.DataFrame({"metric": ["Reach", "CTR"], "platform": ["Meta", "Google"],
                          "gap_to_best_points": [-12.0, -3.0], "gap_to_avg_points": [-4.0, 1.0]})
    return bx.Gaps(frame, basis=basis, competitors_visible=3 if basis == "competitors" else 0, competitors_total=10)


def test_every_chart_card_has_a_spec_with_its_own_name():
    assert list(CHARTS) == ["breakdown", "waterfall", "series", "gaps", "correlation", "revenue"]
    assert all(spec.name == name and spec.title for name, spec in CHARTS.items())


def test_a_selection_carries_only_what_a_chart_reads():
    s = Selection(1, 2, period_to=APR)
    assert (s.period_from, s.metric_id, s.competitor_ids, s.section) == (None, None, (), None)


def test_download_tables_carry_the_numbers_the_chart_states_besides_the_rows():
    waterfall = CHARTS["waterfall"].table(_waterfall())
    assert list(waterfall[["score_from", "score_to"]].iloc[0]) == [40.0, 40.5]
    gaps = CHARTS["gaps"].table(_gaps("competitors"))
    assert set(gaps["basis"]) == {"competitors"} and set(gaps["competitors_visible"]) == {3}
    matrix = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    correlation = CHARTS["correlation"].table(bx.Correlations(matrix, n=30, dropped=[]))
    assert list(correlation.columns) == ["metric", "a", "b"] and list(correlation["metric"]) == ["a", "b"]
    frame = pd.DataFrame({"x": [1]})
    assert CHARTS["revenue"].table(frame) is frame


def test_waterfall_note_adds_up_or_asks_for_two_periods():
    assert "change of +0.50 points" in figs.waterfall_note(_waterfall(), MAR, APR)
    assert figs.waterfall_note(_waterfall(), APR, APR) == "Pick two different periods to see what moved the score."


@pytest.mark.parametrize(("basis", "says"), [("competitors", "best of 3 visible competitors"),
                                             ("scale", "You may not see this project's 10 competitors")])
def test_gaps_note_names_what_the_gap_is_measured_against(basis, says):
    assert says in figs.gaps_note(_gaps(basis), APR)
    bars = figs.gaps_figure(_gaps(basis))["data"]
    assert len(bars) == (2 if basis == "competitors" else 1)


def test_correlation_note_warns_on_a_small_sample_and_names_what_was_left_out():
    small = bx.Correlations(pd.DataFrame(), n=bx.SMALL_SAMPLE - 1, dropped=["Reach (Meta)"])
    note = figs.correlation_note(small)
    assert "treat single coefficients as hints" in note and "Reach (Meta)" in note
    assert "hints" not in figs.correlation_note(bx.Correlations(pd.DataFrame(), n=bx.SMALL_SAMPLE, dropped=[]))


def test_revenue_figure_draws_the_significance_threshold_on_both_sides():
    assoc = pd.DataFrame({"metric": ["Reach", "CTR"], "platform": ["Meta", "Google"], "r": [0.6, -0.5],
                          "n": [30, 30], "p_value": [0.001, 0.004], "r_critical": [0.36, 0.36]})
    figure = figs.revenue_figure(assoc)
    assert sorted(shape["x0"] for shape in figure["layout"]["shapes"]) == [-0.36, 0.36]
    assert "Association is not causation." in figs.revenue_note(assoc)


def test_ranking_grid_links_own_brands_only_and_escapes_markdown():
    ranking = pd.DataFrame({"rank": [1, 2], "brand_id": [7, 8], "brand": ["Own_[x]", "Rival*"],
                            "role": ["own", "competitor"], "score": [60.0, 50.0]})
    columns, rows = ranking_grid(ranking, [], project_id=3)
    assert rows[0]["brand_link"] == rf"[Own\_\[x\]]({brand_href(7, 3)})"
    assert rows[1]["brand_link"] == r"Rival\*"
    assert [c["field"] for c in columns][:2] == ["rank", "brand_link"]
