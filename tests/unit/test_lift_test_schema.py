"""The one lift-test schema: what people type is read, and every refusal is in plain words."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from core.lift_tests.schema import LiftTestInput, problems

BASE = {"brand_id": 3, "channel": "  Search ", "period_start": "2025-03-03", "period_end": "2025-03-30",
        "incremental_outcome": "1,000", "standard_error": "150"}


def _refusals(**changes) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        LiftTestInput.model_validate({**BASE, **changes})
    return problems(caught.value)


def test_friendly_numbers_dates_and_text_are_read():
    test = LiftTestInput.model_validate({**BASE, "incremental_outcome": "\u22121 250 000.5",
                                         "period_end": "2025-03-30 00:00:00", "note": "  geo  holdout\n north "})
    assert test.incremental_outcome == -1_250_000.5
    assert test.standard_error == 150.0
    assert (test.period_start, test.period_end) == (date(2025, 3, 3), date(2025, 3, 30))
    assert test.channel == "Search"
    assert test.note == "geo holdout north"


@pytest.mark.parametrize("value", [0, "0", -3, "-0.5"])
def test_a_standard_error_at_or_below_zero_is_refused_with_the_reason(value):
    assert _refusals(standard_error=value) == [
        ("standard_error", "The standard error must be above zero: a lift test always has some uncertainty.")]


def test_no_lift_is_a_valid_result():
    assert LiftTestInput.model_validate({**BASE, "incremental_outcome": 0}).incremental_outcome == 0


@pytest.mark.parametrize(("field", "value", "words"), [
    ("incremental_outcome", "lots", "“lots” is not a number"),
    ("incremental_outcome", "nan", "between"),
    ("incremental_outcome", float("inf"), "between"),
    ("incremental_outcome", True, "must be a number"),
    ("standard_error", "", "Enter the standard error"),
    ("period_start", "03/03/2025", "Write the start date as YYYY-MM-DD"),
    ("period_start", 1741000000, "as a date"),
    ("period_end", "2250-01-01", "check the year"),
    ("channel", "   ", "Choose the channel"),
    ("note", "x" * 301, "at most 300 characters"),
    ("note", "bell\x07", "control characters"),
])
def test_bad_values_are_refused_in_plain_words(field, value, words):
    found = _refusals(**{field: value})
    assert [f for f, _ in found] == [field]
    assert words in found[0][1], found


def test_an_end_before_the_start_is_refused():
    assert _refusals(period_end="2025-03-01") == [
        ("period_end", "The test ends (2025-03-01) before it starts (2025-03-03): check the two dates.")]


def test_unknown_and_missing_fields_are_named():
    found = dict(_refusals(colour="red", standard_error=None))
    assert "colour" in found and "standard_error" in found
    assert dict(_refusals(brand_id=None))["brand_id"] == "Choose the brand the test measured."
