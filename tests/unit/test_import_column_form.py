"""The import page's column form: its guesses, the mapping it builds and reading a mapping back."""

from __future__ import annotations

import csv
import json

import pytest

from core.config import PROJECT_ROOT
from core.imports.column_form import (
    ColumnRole,
    channel_name,
    guess_granularity,
    guess_role,
    guess_roles,
    mapping_from_roles,
    roles_from_mapping,
)
from core.imports.mapping import MappingError, parse_spec

SAMPLE = PROJECT_ROOT / "data" / "samples" / "new_customer" / "marketing.csv"
MAPPINGS = PROJECT_ROOT / "docs" / "import-mappings"


@pytest.mark.parametrize(
    ("header", "role", "name"),
    [
        ("week", "date", ""),
        ("Date", "date", ""),
        ("Week Start", "date", ""),
        ("order_date", "date", ""),
        ("DATE", "date", ""),
        ("brand", "brand", ""),
        ("Brand Name", "brand", ""),
        ("revenue", "revenue", ""),
        ("Sales", "revenue", ""),
        ("Revenue (INR)", "revenue", ""),
        ("net_sales", "revenue", ""),
        ("units", "units", ""),
        ("Units sold", "units", ""),
        ("tv_spend", "spend", "TV"),
        ("spend_search", "spend", "Search"),
        ("Paid Social Spend", "spend", "Paid Social"),
        ("OOH_spend", "spend", "OOH"),
        ("festive", "ignore", ""),
        ("competitor_sales_B", "ignore", ""),
        ("sales_rep", "ignore", ""),
        ("spender", "ignore", ""),
    ],
)
def test_a_header_is_guessed_by_its_words(header, role, name):
    assert guess_role(header) == ColumnRole(header, role, name)


def test_a_role_one_column_may_have_goes_to_the_first_column_that_looks_like_it():
    roles = guess_roles(["week", "date", "revenue", "sales", "tv_spend", "radio_spend"])
    assert [r.role for r in roles] == ["date", "ignore", "revenue", "ignore", "spend", "spend"]


def test_the_sample_files_guess_is_its_shipped_mapping_but_for_the_festive_control():
    with SAMPLE.open(newline="") as handle:
        headers = next(csv.reader(handle))
    mapping, problems = mapping_from_roles(guess_roles(headers), "week")
    shipped = json.loads((MAPPINGS / "new_customer_marketing.json").read_text())
    shipped.pop("description")
    assert problems == []
    assert mapping == {k: v for k, v in shipped.items() if k != "controls"}
    assert list(mapping) == [k for k in shipped if k != "controls"]  # the same order reads the same in the editor


def test_the_built_mapping_passes_the_one_schema_and_reads_back_into_the_same_roles():
    roles = [
        ColumnRole("Week", "date"),
        ColumnRole("Market", "brand"),
        ColumnRole("TV £", "spend", "Television"),
        ColumnRole("Notes"),
        ColumnRole("Sales", "revenue"),
        ColumnRole("Price", "control", "price"),
        ColumnRole("Units", "units"),
    ]
    mapping, problems = mapping_from_roles(roles, "month")
    assert problems == []
    spec = parse_spec(mapping, kind="marketing")
    assert (spec.date_column, spec.brand_column, spec.revenue, spec.units) == ("Week", "Market", ("Sales",), "Units")
    assert spec.spend == {"TV £": "Television"} and spec.controls == {"Price": "price"}
    assert spec.granularity == "month"
    assert roles_from_mapping(mapping, [r.column for r in roles]) == roles


def test_a_spend_or_control_without_a_name_is_stored_under_a_readable_one():
    mapping, _ = mapping_from_roles(
        [ColumnRole("w", "date"), ColumnRole("radio_spend", "spend", " "), ColumnRole("temp", "control")], "week"
    )
    assert mapping["spend"] == {"radio_spend": "Radio Spend"} and mapping["controls"] == {"temp": "temp"}


def test_two_columns_with_a_role_only_one_may_have_are_named_in_words():
    roles = [ColumnRole("w", "date"), ColumnRole("a", "revenue"), ColumnRole("b", "revenue")]
    mapping, problems = mapping_from_roles(roles, "week")
    assert mapping["revenue"] == "a"
    assert problems == ["Only one column can be the revenue (outcome): “a” and “b” are both marked."]


def test_a_form_without_a_date_or_anything_to_import_says_what_to_mark():
    mapping, problems = mapping_from_roles([ColumnRole("tv", "ignore")], "week")
    assert problems == [
        "Mark the column that holds the week or month as the date.",
        "Mark at least one column as spend, revenue or a control: nothing would be imported.",
    ]
    with pytest.raises(MappingError, match="date_column"):
        parse_spec(mapping, kind="marketing")  # the schema refuses it too, whatever the form said


def test_what_only_the_schema_knows_is_left_to_the_schema():
    roles = [ColumnRole("w", "date"), ColumnRole("a", "control", "price"), ColumnRole("b", "control", "price")]
    mapping, problems = mapping_from_roles(roles, "week")
    assert problems == []
    with pytest.raises(MappingError, match="control name"):
        parse_spec(mapping, kind="marketing")


@pytest.mark.parametrize("name", ["robyn_weekly", "meridian_national", "new_customer_metrics"])
def test_mappings_the_form_cannot_show_stay_json_only(name):
    mapping = json.loads((MAPPINGS / f"{name}.json").read_text())
    headers = [*mapping.get("spend", {}), *mapping.get("exposures", {}), "DATE", "time", "revenue"]
    assert roles_from_mapping(mapping, headers) is None


def test_a_mapping_naming_a_column_the_file_lacks_is_not_shown_as_roles():
    mapping = {"kind": "marketing", "layout": "wide", "date_column": "week", "spend": {"tv": "TV"}}
    assert roles_from_mapping(mapping, ["week", "tv"]) == [ColumnRole("week", "date"), ColumnRole("tv", "spend", "TV")]
    assert roles_from_mapping(mapping, ["week"]) is None
    assert roles_from_mapping({"kind": "marketing", "layout": "long"}, ["week"]) is None
    assert roles_from_mapping("not a mapping", ["week"]) is None


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["2024-01-01", "2024-01-08", "2024-01-15"], "week"),
        (["2024-01-01", "2024-02-01", "2024-03-01"], "month"),
        (["2024-01-31", "2024-02-29", "2024-03-31"], "month"),
        (["2024-01-01"], "week"),
        (["last week", "this week"], "week"),
    ],
)
def test_weeks_or_months_are_guessed_from_the_gap_between_the_first_dates(dates, expected):
    assert guess_granularity(dates) == expected


def test_channel_names_read_like_a_person_wrote_them():
    assert [channel_name(w) for w in ("tv", "paid_social", "ooh", "search")] == ["TV", "Paid Social", "OOH", "Search"]
