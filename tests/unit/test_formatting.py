"""core.formatting: one writer for every money, outcome and ROAS figure, and one reader of typed amounts."""

from __future__ import annotations

import math

import pytest

from core import glossary
from core.currencies import CURRENCIES, is_currency, sign
from core.formatting import Units, compact, parse_amount

INR, CHF, PLAIN = Units("INR"), Units("CHF"), Units()
CONVERSIONS = Units("USD", "conversions")


@pytest.mark.parametrize(
    ("units", "value", "text"),
    [
        (INR, 462_458_700, "₹462 M"),
        (INR, 1_234, "₹1.23 K"),
        (INR, -1_234, "−₹1.23 K"),
        (INR, 999_600, "₹1 M"),  # rounded before the suffix is chosen: never "1e+03 K"
        (INR, 999.6, "₹1 K"),
        (INR, 2.5e9, "₹2.5 B"),
        (INR, 3.2e12, "₹3.2 T"),
        (INR, 12.345, "₹12.3"),
        (INR, 0.5, "₹0.5"),
        (INR, 0, "₹0"),
        (INR, -0.001, "₹0"),  # no "−₹0"
        (CHF, 1_500_000, "CHF 1.5 M"),  # no well-known sign: the code
        (Units("EUR"), -2e6, "−€2 M"),
        (PLAIN, 462_458_700, "462 M"),  # no currency chosen: plain figures
    ],
)
def test_money_reads_compact_with_the_currency(units, value, text):
    assert units.money(value) == text


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), "12", True])
def test_missing_or_non_numeric_values_read_n_a(missing):
    assert INR.money(missing) == "n/a" and INR.roas(missing) == "n/a" and compact(missing) == "n/a"
    assert CONVERSIONS.outcome_value(missing) == "n/a" and INR.money_change(missing) == "n/a"


def test_changes_are_always_signed():
    assert INR.money_change(12e6) == "+₹12 M" and INR.money_change(-5e6) == "−₹5 M"
    assert CONVERSIONS.outcome_change(1_200) == "+1.2 K conversions"
    assert CONVERSIONS.outcome_change(-1_200) == "−1.2 K conversions"


def test_outcome_is_money_for_revenue_and_a_named_count_otherwise():
    assert INR.outcome_value(1.22e9) == "₹1.22 B" and INR.outcome_name == "revenue"
    assert CONVERSIONS.outcome_value(48_200) == "48.2 K conversions"
    assert INR.outcome_label("Predicted revenue") == "Predicted revenue (INR)"
    assert CONVERSIONS.outcome_label("Predicted conversions") == "Predicted conversions"


def test_roas_reads_per_unit_of_currency_and_scales_for_counts():
    assert INR.roas(2.63) == "₹2.63 per ₹1"
    assert INR.roas(2.634999) == "₹2.63 per ₹1"  # two decimals, rounded
    assert INR.roas(-0.5) == "−₹0.50 per ₹1"
    assert PLAIN.roas(7.62) == "7.62 per 1"
    assert CONVERSIONS.roas(0.0041) == "4.10 conversions per $1 K"  # not "0.00 conversions per $1"
    assert CONVERSIONS.roas(4.1e-7) == "0.41 conversions per $1 M"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,000", 1_000),
        ("1 000", 1_000),
        ("1.5M", 1.5e6),
        ("1.5 m", 1.5e6),
        ("₹1.5M", 1.5e6),
        ("INR 2,000", 2_000),
        ("2000 USD", 2_000),
        ("2 crore", 2e7),
        ("3 lakh", 3e5),
        ("250K", 2.5e5),
        ("1.2bn", 1.2e9),
        ("−2k", -2_000),
        ("12e3", 12_000),
        ("CHF 3.5 B", 3.5e9),
        ("462,458,700", 462_458_700),
    ],
)
def test_typed_amounts_are_read(text, number):
    assert parse_amount(text) == pytest.approx(number)


@pytest.mark.parametrize("text", ["lots", "1.5X", "", "INR", "M", "1,5,M,x", "₹", None, 12])
def test_what_is_not_an_amount_is_none(text):
    assert parse_amount(text) is None


def test_what_the_pages_write_reads_back():
    for value in (462_458_700, 1_500_000, 2_500, 12):
        assert parse_amount(INR.whole(value)) == value
        written = INR.money(value)
        assert math.isclose(parse_amount(written), value, rel_tol=5e-3), written


def test_units_travel_as_a_dict_and_unknown_codes_fall_back_to_plain():
    assert Units.of(INR.as_dict()) == INR and Units.of(CONVERSIONS.as_dict()) == CONVERSIONS
    assert Units.of(None) == PLAIN and Units.of({"currency": "RS"}) == PLAIN


def test_file_and_browser_formats_carry_the_currency():
    assert INR.xlsx_money() == '"₹"#,##0;-"₹"#,##0' and PLAIN.xlsx_money() == "#,##0"
    assert CONVERSIONS.xlsx_outcome() == '#,##0" conversions"' and INR.xlsx_outcome() == INR.xlsx_money()
    assert INR.xlsx_roas() == '0.00" per ₹1"'
    assert '"₹"' in INR.grid_money()["valueFormatter"]["function"]
    assert INR.axis_money("spend")["tickprefix"] == "₹" and INR.axis_money("spend")["title"]["text"] == "spend (INR)"


def test_the_currency_table_holds_iso_codes_only():
    assert len(CURRENCIES) > 150 and all(len(c) == 3 and c.isalpha() and c.isupper() for c in CURRENCIES)
    assert is_currency("INR") and not is_currency("inr") and not is_currency("RS") and not is_currency(None)
    assert sign("INR") == "₹" and sign("AED") == "AED " and sign(None) == ""


def test_every_defined_term_has_a_label_and_a_sentence():
    for key, entry in glossary.TERMS.items():
        assert entry.label and entry.definition.endswith("."), key
    assert glossary.label("roas") != glossary.label("mer")  # two quantities, two names
    with pytest.raises(KeyError):
        glossary.term("roi")
