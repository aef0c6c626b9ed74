"""The executive summary (core.portfolio_summary) on read models built by hand: a rise, a fall, a flat
month, one brand, no earlier month, ties, and a stale driver, each with the exact words expected."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from core import formatting
from core.portfolio_summary import executive_summary, summary_sentences, summary_subjects

MAY = date(2026, 5, 1)
NAN = float("nan")


def ranking(*rows: tuple) -> pd.DataFrame:
    """(brand_id, brand, role, score, change_1m) rows, ranked best first as brand_ranking returns them."""
    frame = pd.DataFrame(rows, columns=["brand_id", "brand", "role", "score", "change_1m"])
    frame = frame.sort_values("score", ascending=False).reset_index(drop=True)
    frame.insert(3, "rank", range(1, len(frame) + 1))
    return frame


def drivers(*rows: tuple) -> pd.DataFrame:
    """(brand_id, metric, contribution, against_metric, against_contribution) rows, as score_drivers."""
    frame = pd.DataFrame(rows, columns=["brand_id", "metric", "contribution", "against_metric", "against_contribution"])
    return frame.assign(metric_id=range(1, len(frame) + 1))


MIXED = ranking(
    (1, "Alto", "own", 62.0, 1.4),
    (2, "Brio", "own", 55.25, -2.0),
    (3, "Cora", "own", 48.0, 0.2),
    (4, "Rival", "competitor", 70.0, 3.0),
    (5, "Other", "competitor", 40.0, -5.0),
)


def test_a_month_with_a_riser_and_a_faller_reads_as_expected():
    why = drivers((1, "Search share", 0.9, "Rating", -0.3), (2, "Reviews", -1.5, NAN, NAN))
    text = executive_summary(MIXED, why, 3, MAY)
    assert text == (
        "Your 3 own brands average a DC score of 55.1 in May 2026, down 0.1 points on April 2026. "
        "Of them, 1 rose and 1 fell by more than 0.5 points; 1 held within ±0.5. "
        "Alto rose most (+1.4 to 62.0), mostly Search share (+0.9), despite Rating (−0.3); "
        "Brio fell most (−2.0 to 55.2), mostly Reviews (−1.5). "
        "Your own brands' average is 14.9 points below the best competitor, Rival (70.0); "
        "your best, Alto (62.0), is 8.0 points below it. "
        "There are 3 alerts for May 2026 (score drops and metrics that broke with their history), listed under "
        "Alerts."
    )
    assert summary_subjects(MIXED) == [1, 2]  # the brands whose drivers the caller fetches, riser first


def test_a_month_where_every_own_brand_rose_says_none_fell():
    up = ranking((1, "Alto", "own", 60.0, 2.0), (2, "Brio", "own", 50.0, 1.0), (3, "Rival", "competitor", 55.0, -1.0))
    sentences = summary_sentences(up, drivers((1, "Search share", 1.5, NAN, NAN)), 0, MAY)
    assert sentences == [
        "Your 2 own brands average a DC score of 55.0 in May 2026, up 1.5 points on April 2026.",
        "Of them, 2 rose and none fell by more than 0.5 points; none held within ±0.5.",
        "Alto rose most (+2.0 to 60.0), mostly Search share (+1.5); no own brand fell.",
        "Your own brands' average is level with the best competitor, Rival (55.0); your best, Alto (60.0), is "
        "5.0 points above it.",
    ]  # no alerts: no sentence about them
    assert summary_subjects(up) == [1]


def test_a_month_where_every_own_brand_fell_names_the_faller_only():
    down = ranking((1, "Alto", "own", 60.0, -0.3), (2, "Brio", "own", 50.0, -4.0))
    sentences = summary_sentences(down, drivers((2, "Reviews", -2.5, "Rating", 0.01)), 1, MAY)
    assert sentences[0] == "Your 2 own brands average a DC score of 55.0 in May 2026, down 2.1 points on April 2026."
    assert sentences[1] == "Of them, none rose and 1 fell by more than 0.5 points; 1 held within ±0.5."
    assert sentences[2] == "No own brand rose; Brio fell most (−4.0 to 50.0), mostly Reviews (−2.5)."
    assert sentences[3] == (
        "There is 1 alert for May 2026 (score drops and metrics that broke with their history), listed under Alerts."
    )
    assert len(sentences) == 4  # no competitor in view: no comparison


def test_a_flat_month_names_no_mover():
    flat = ranking((1, "Alto", "own", 60.0, 0.0), (2, "Brio", "own", 50.0, 0.04), (3, "Rival", "competitor", 50, 0))
    sentences = summary_sentences(flat, None, 0, MAY)
    assert sentences == [
        "Your 2 own brands average a DC score of 55.0 in May 2026, unchanged on April 2026.",
        "Of them, none rose and none fell by more than 0.5 points; 2 held within ±0.5.",
        "Your own brands' average is 5.0 points above the best competitor, Rival (50.0); your best, Alto (60.0), is "
        "10.0 points above it.",
    ]
    assert summary_subjects(flat) == []  # +0.04 prints as 0.0: not a riser


def test_one_own_brand_is_named_with_its_reason():
    one = ranking((7, "Solo", "own", 48.0, -1.25), (8, "Rival", "competitor", 52.0, 0.5))
    text = executive_summary(one, drivers((7, "Reviews", -0.8, "Rating", 0.2)), 0, MAY)
    assert text == (
        "Solo's DC score is 48.0 in May 2026, down 1.2 points on April 2026, mostly Reviews (−0.8), despite Rating "
        "(+0.2). Solo is 4.0 points below the best competitor, Rival (52.0)."
    )


def test_without_an_earlier_month_there_is_nothing_to_compare():
    first = ranking((1, "Alto", "own", 60.0, NAN), (2, "Brio", "own", 50.0, NAN), (3, "Rival", "competitor", 65, NAN))
    assert summary_sentences(first, None, 0, MAY) == [
        "Your 2 own brands average a DC score of 55.0 in May 2026; there is no score for April 2026 to compare with.",
        "Your own brands' average is 10.0 points below the best competitor, Rival (65.0); your best, Alto (60.0), is "
        "5.0 points below it.",
    ]
    assert summary_subjects(first) == []


def test_a_brand_new_in_the_month_is_counted_apart():
    frame = ranking((1, "Alto", "own", 60.0, 1.0), (2, "Brio", "own", 50.0, NAN), (3, "Cora", "own", 40.0, -0.2))
    assert summary_sentences(frame, None, 0, MAY)[1] == (
        "Of them, 1 rose and none fell by more than 0.5 points; 1 held within ±0.5, and 1 has no score for April 2026."
    )


def test_ties_go_to_the_name_first_in_the_alphabet_whatever_the_row_order():
    rows = [
        (1, "Zeta", "own", 50.0, 2.0),
        (2, "Beta", "own", 50.0, 2.0),
        (3, "Yara", "own", 40.0, -1.0),
        (4, "Alfa", "own", 45.0, -1.0),
        (5, "Moss", "competitor", 70.0, 0.0),
        (6, "Kiln", "competitor", 70.0, 0.0),
    ]
    texts = set()
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(len(rows))
        shuffled = pd.DataFrame([rows[i] for i in order], columns=["brand_id", "brand", "role", "score", "change_1m"])
        texts.add(executive_summary(shuffled, None, 0, MAY))
        assert summary_subjects(shuffled) == [2, 4]
    (text,) = texts
    assert "Beta rose most (+2.0 to 50.0); Alfa fell most (−1.0 to 45.0)." in text
    assert "the best competitor, Kiln (70.0)" in text and "your best, Beta (50.0)" in text


def test_a_driver_pointing_against_the_stored_move_is_left_unsaid():
    stale = drivers((1, "Search share", -0.4, NAN, NAN), (2, "Reviews", -1.5, NAN, NAN))
    text = executive_summary(MIXED, stale, 0, MAY)
    assert "Alto rose most (+1.4 to 62.0); Brio fell most (−2.0 to 55.2), mostly Reviews (−1.5)." in text
    assert "Search share" not in text


def test_no_own_brand_in_view_says_so():
    theirs = ranking((4, "Rival", "competitor", 70.0, 3.0))
    said = executive_summary(theirs, None, 2, MAY)
    assert said == "No own brand of this project is scored for May 2026 in your view."


@pytest.mark.parametrize(
    ("value", "text"), [(61.44, "61.4"), (61.46, "61.5"), (-0.25, "−0.2"), (0, "0.0"), (None, "n/a"), (NAN, "n/a")]
)
def test_score_formats_one_decimal_with_a_true_minus(value, text):
    assert formatting.score(value) == text
