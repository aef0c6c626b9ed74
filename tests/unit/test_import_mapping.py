"""Mapping validation, file reading and row-level validation without a database."""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd
import pytest
from openpyxl import Workbook

from core.imports import ImportReport, MappingError, RowError, parse_spec
from core.imports.readers import FileError, RawFile, load_source, read_table
from core.imports.report import MAX_REPORTED_ERRORS
from core.imports.validate import Catalog, validate

CATALOG = Catalog(
    brands={"Acme": 1, "Beta": 2},
    metrics={10: ("amz_rating", "Amazon rating", 0.0, 5.0), 11: ("sov", "Share of voice", None, None)},
    channels={"tv": (5, "TV")},
)


def table(text: str, name: str = "f.csv") -> pd.DataFrame:
    return read_table(RawFile(name, text.encode()))


def errors_of(text: str, spec: dict) -> list[tuple]:
    parsed = validate(table(text), parse_spec(spec), CATALOG)
    found = [(None if pd.isna(r) else int(r), None if pd.isna(c) else c, code)
             for r, c, code in parsed.errors[["row", "column", "code"]].itertuples(index=False)]
    return sorted(found, key=lambda e: (e[0] or 0, e[1] or ""))


# --- mapping ---------------------------------------------------------------------------------

def test_defaults_for_long_metrics():
    spec = parse_spec({"kind": "metrics"})
    assert (spec.layout, spec.granularity) == ("long", "month")
    assert spec.required_columns() == ["brand", "metric", "period", "value"]
    assert parse_spec({"kind": "marketing"}).granularity == "week"


@pytest.mark.parametrize(("raw", "fragment"), [
    ({}, "'kind' must be one of"),
    ({"kind": "metrics", "layout": "diagonal"}, "'layout' must be one of"),
    ({"kind": "metrics", "granularity": "week"}, "metric values are monthly"),
    ({"kind": "marketing", "granularity": "day"}, "'granularity' must be 'week' or 'month'"),
    ({"kind": "marketing", "layout": "wide", "spend": {"a": "TV"}}, "wide layout needs 'date_column'"),
    ({"kind": "marketing", "layout": "wide", "date_column": "d"}, "maps no column"),
    ({"kind": "marketing", "brand": "A", "brand_column": "b"}, "not both"),
    ({"kind": "metrics", "bogus": 1}, "unknown key(s): bogus"),
    ({"kind": "metrics", "columns": {"amount": "x"}}, "'columns' roles for metrics"),
    ({"kind": "marketing", "layout": "wide", "date_column": "d", "spend": {"a": "TV", "b": "tv"}}, "same channel"),
    ({"kind": "marketing", "layout": "wide", "date_column": "d", "spend": {"a": "TV"}, "units": "u"}, "'units' needs"),
    ({"kind": "marketing", "layout": "wide", "date_column": "d", "spend": {"a": "TV"},
      "exposures": {"i": "Radio"}}, "exposures name channels with no spend column: Radio"),
    ({"kind": "marketing", "layout": "wide", "date_column": "d", "revenue": {"sum": ["a"]}}, "'revenue' must be"),
    ({"kind": "metrics", "layout": "wide", "date_column": "d"}, "needs 'metrics'"),
])
def test_bad_mappings_say_what_is_wrong(raw, fragment):
    with pytest.raises(MappingError) as info:
        parse_spec(raw)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_kind_from_caller_must_agree():
    with pytest.raises(MappingError, match="not 'metrics'"):
        parse_spec({"kind": "marketing"}, kind="metrics")
    assert parse_spec({}, kind="metrics").kind == "metrics"


def test_with_brand_overrides_brand_column():
    spec = parse_spec({"kind": "metrics", "columns": {"brand": "Marke"}}).with_brand("Acme")
    assert spec.brand == "Acme" and "Marke" not in spec.required_columns()


# --- reading ----------------------------------------------------------------------------------

def test_row_numbers_count_blank_lines_and_header():
    frame = table("brand,metric,period,value\nAcme,sov,2024-01-01,1\n\nAcme,sov,2024-02-01,2\n")
    assert list(frame.index) == [2, 4]


def test_semicolon_csv_and_bom_and_padded_headers():
    frame = table("\ufeff brand ;metric;period;value\nAcme;sov;2024-01-01;1\n")
    assert list(frame.columns) == ["brand", "metric", "period", "value"]


@pytest.mark.parametrize(("name", "data", "code"), [
    ("f.csv", b"", "empty_file"),
    ("f.csv", b"   \n", "empty_file"),
    ("f.csv", b"brand,metric,period,value\n", "empty_file"),
    ("f.json", b"{}", "unsupported_extension"),
    ("f.xlsx", b"this is not a zip", "unreadable_file"),
    ("f.csv", b"a,a\n1,2\n", "duplicate_column"),
])
def test_file_level_errors(name, data, code):
    with pytest.raises(FileError) as info:
        read_table(RawFile(name, data))
    assert info.value.code == code


def test_sources_path_bytes_and_file_like(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a\n1\n")
    assert load_source(path).filename == "x.csv"
    assert load_source(b"a\n1\n", "y.csv").data == b"a\n1\n"
    assert load_source(io.BytesIO(b"a\n1\n"), "z.csv").filename == "z.csv"
    with pytest.raises(FileError, match="filename is needed"):
        load_source(b"a\n")
    with pytest.raises(FileError, match="cannot read"):
        load_source(tmp_path / "missing.csv")


def test_xlsx_cells_become_text():
    wb = Workbook()
    ws = wb.active
    ws.append(["brand", "metric", "period", "value", None])
    ws.append(["Acme", "sov", datetime(2024, 3, 1), 12.5])
    ws.append([None, None, None, None])
    ws.append(["Beta", "sov", date(2024, 4, 9), 3])
    buf = io.BytesIO()
    wb.save(buf)
    frame = read_table(RawFile("f.xlsx", buf.getvalue()))
    assert list(frame.columns) == ["brand", "metric", "period", "value"]
    assert frame.loc[2].tolist() == ["Acme", "sov", "2024-03-01", "12.5"]
    assert frame.loc[4].tolist() == ["Beta", "sov", "2024-04-09", "3"]


# --- validation -------------------------------------------------------------------------------

HEADER = "brand,metric,period,value\n"


@pytest.mark.parametrize(("line", "column", "code"), [
    ("Nobody,sov,2024-01-01,1", "brand", "unknown_brand"),
    (",sov,2024-01-01,1", "brand", "missing_brand"),
    ("Acme,nope,2024-01-01,1", "metric", "unknown_metric"),
    ("Acme,sov,2024-13-01,1", "period", "bad_date"),
    ("Acme,sov,yesterday,1", "period", "bad_date"),
    ("Acme,sov,,1", "period", "missing_date"),
    ("Acme,sov,2024-01-01,12abc", "value", "non_numeric"),
    ("Acme,sov,2024-01-01,", "value", "missing_value"),
    ("Acme,sov,2024-01-01,inf", "value", "non_numeric"),
    ("Acme,amz_rating,2024-01-01,5.5", "value", "out_of_range"),
    ("Acme,amz_rating,2024-01-01,-1", "value", "out_of_range"),
])
def test_each_bad_cell_is_named_by_row_and_column(line, column, code):
    text = HEADER + "Acme,sov,2023-12-01,1\n" + line + "\n"
    assert errors_of(text, {"kind": "metrics"}) == [(3, column, code)]


def test_metric_by_name_case_insensitive_and_brand_case_insensitive():
    text = HEADER + "acme,SHARE OF VOICE,2024-01-17,1\nBETA,Amz_Rating,2024-01-01,4\n"
    parsed = validate(table(text), parse_spec({"kind": "metrics"}), CATALOG)
    assert parsed.errors.empty
    frame = parsed.frames["metric_values"]
    assert frame[["brand_id", "metric_id"]].values.tolist() == [[1, 11], [2, 10]]
    assert frame["period"].dt.date.tolist() == [date(2024, 1, 1), date(2024, 1, 1)]


def test_duplicate_after_month_normalization_names_first_row():
    text = HEADER + "Acme,sov,2024-01-01,1\nAcme,sov,2024-01-20,2\n"
    parsed = validate(table(text), parse_spec({"kind": "metrics"}), CATALOG)
    assert parsed.errors[["row", "column", "code"]].values.tolist() == [[3, "period", "duplicate"]]
    assert "same as row 2" in parsed.errors["reason"].iloc[0]


def test_missing_required_column_is_file_level():
    assert errors_of("brand,metric,value\nAcme,sov,1\n", {"kind": "metrics"}) == [(None, "period", "missing_column")]


def test_wide_mapping_naming_absent_column():
    spec = {"kind": "marketing", "layout": "wide", "date_column": "week", "spend": {"tv": "TV", "radio": "Radio"},
            "brand": "Acme"}
    assert errors_of("week,tv\n2024-01-01,1\n", spec) == [(None, "radio", "missing_column")]


def test_custom_date_format():
    spec = {"kind": "metrics", "date_format": "%d/%m/%Y"}
    parsed = validate(table(HEADER + "Acme,sov,31/01/2024,1\n"), parse_spec(spec), CATALOG)
    assert parsed.errors.empty and parsed.frames["metric_values"]["period"].iloc[0] == pd.Timestamp("2024-01-01")


def test_long_marketing_unknown_channel_negative_spend_and_listed_channel():
    text = "brand,channel,period,amount\nAcme,tv,2024-01-01,5\nAcme,Radio,2024-01-01,5\nAcme,TV,2024-01-08,-3\n"
    assert errors_of(text, {"kind": "marketing"}) == [(3, "channel", "unknown_channel"),
                                                      (4, "amount", "negative_value")]
    parsed = validate(table(text.replace("-3", "3")), parse_spec({"kind": "marketing", "channels": ["Radio"]}), CATALOG)
    assert parsed.errors.empty and parsed.new_channels == ["Radio"]
    assert parsed.frames["spend"]["channel"].tolist() == ["TV", "Radio", "TV"]


def test_wide_categorical_control_becomes_indicators():
    spec = parse_spec({"kind": "marketing", "layout": "wide", "date_column": "d", "brand": "Acme",
                       "spend": {"tv": "TV"}, "categorical_controls": {"ev": {"name": "event", "none": ["na"]}}})
    parsed = validate(table("d,tv,ev\n2024-01-01,1,na\n2024-01-08,2,Sale\n2024-01-15,,sale\n"), spec, CATALOG)
    controls = parsed.frames["control_values"]
    assert controls["name"].unique().tolist() == ["event:Sale"]
    assert controls["value"].tolist() == [0.0, 1.0, 1.0]
    assert len(parsed.frames["spend"]) == 2  # the blank spend cell is no observation


def test_report_caps_errors_but_counts_all():
    report = ImportReport(kind="metrics", filename="f.csv")
    report.add_errors([RowError(i, "value", "non_numeric", "x") for i in range(2, 2 + MAX_REPORTED_ERRORS + 50)])
    assert report.error_count == MAX_REPORTED_ERRORS + 50
    assert len(report.errors) == MAX_REPORTED_ERRORS and report.errors[0].row == 2
    assert report.error_counts == {"non_numeric": MAX_REPORTED_ERRORS + 50}
    assert "first 200 shown" in report.format_text()


def test_wide_without_any_brand_is_a_file_error():
    spec = {"kind": "marketing", "layout": "wide", "date_column": "d", "spend": {"tv": "TV"}}
    assert errors_of("d,tv\n2024-01-01,1\n", spec) == [(None, None, "missing_brand")]


def test_wide_metrics_mapping_naming_unknown_metric():
    spec = {"kind": "metrics", "layout": "wide", "date_column": "m", "brand": "Acme",
            "metrics": {"r": "amz_rating", "x": "tiktok_views"}}
    assert errors_of("m,r,x\n2024-01-01,4,1\n2024-02-01,9,1\n", spec) == [
        (None, "x", "unknown_metric"), (3, "r", "out_of_range")]


def test_categorical_value_too_long_for_a_control_name():
    spec = {"kind": "marketing", "layout": "wide", "date_column": "d", "brand": "Acme",
            "categorical_controls": {"ev": "event"}}
    assert errors_of(f"d,ev\n2024-01-01,{'x' * 120}\n2024-01-08,na\n", spec) == [(2, "ev", "too_long")]
