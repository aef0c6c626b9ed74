"""Preview and commit against SQLite and PostgreSQL: counts, upserts, idempotence, rejection, isolation."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.imports import commit, preview
from core.models import (
    Brand,
    Channel,
    ControlValue,
    DCScore,
    ImportBatch,
    Metric,
    MetricValue,
    Organization,
    Outcome,
    Platform,
    Project,
    ProjectBrand,
    Section,
    Spend,
)

COUNTED = (MetricValue, Spend, Outcome, ControlValue, Channel, ImportBatch)


@pytest.fixture
def org(db):
    """Two organizations that both have a brand called 'Shared'; only 'acme' is imported into."""
    with db.session() as s:
        acme, other = Organization(name="Acme Corp", slug="acme"), Organization(name="Other", slug="other")
        s.add_all([acme, other])
        s.flush()
        s.add_all([Brand(organization_id=acme.id, name="Acme"), Brand(organization_id=acme.id, name="Beta"),
                   Brand(organization_id=other.id, name="Shared")])
        section = Section(organization_id=acme.id, name="Marketplace")
        s.add(section)
        s.flush()
        platform = Platform(section_id=section.id, name="Amazon")
        s.add(platform)
        s.flush()
        s.add_all([
            Metric(organization_id=acme.id, platform_id=platform.id, code="amz_rating", name="Amazon rating",
                   min_value=0, max_value=5),
            Metric(organization_id=acme.id, platform_id=platform.id, code="amz_reviews", name="Amazon reviews",
                   min_value=0),
        ])
        s.add(Channel(organization_id=acme.id, name="TV"))
        return acme.id


def counts(db) -> dict[str, int]:
    with db.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def csv_bytes(rows: list[list]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def xlsx_bytes(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


METRICS = [
    ["brand", "metric", "period", "value"],
    ["Acme", "amz_rating", "2024-01-15", "4.1"],
    ["Acme", "Amazon reviews", "2024-01-01", "120"],
    ["Beta", "amz_rating", "2024-02-01", "3.9"],
]


def values(db) -> dict[tuple, float]:
    with db.session() as s:
        rows = s.execute(select(Brand.name, Metric.code, MetricValue.period, MetricValue.raw_value)
                         .join(Brand, Brand.id == MetricValue.brand_id)
                         .join(Metric, Metric.id == MetricValue.metric_id))
        return {(b, m, p): v for b, m, p, v in rows}


def test_long_metrics_csv_preview_commit_and_reimport(db, org):
    data = csv_bytes(METRICS)
    before = counts(db)
    dry = preview(db, org, data, {"kind": "metrics"}, filename="m.csv")
    assert dry.ok and (dry.total_rows, dry.to_insert, dry.to_update, dry.unchanged) == (3, 3, 0, 0)
    assert dry.sample[0] == {"row": 2, "table": "metric_values", "brand": "Acme", "item": "amz_rating",
                             "period": "2024-01-01", "value": 4.1}
    assert counts(db) == before  # a preview writes nothing

    done = commit(db, org, data, {"kind": "metrics"}, filename="m.csv")
    assert done.committed and (done.to_insert, done.to_update, done.unchanged) == (3, 0, 0)
    assert values(db) == {("Acme", "amz_rating", date(2024, 1, 1)): 4.1,
                          ("Acme", "amz_reviews", date(2024, 1, 1)): 120.0,
                          ("Beta", "amz_rating", date(2024, 2, 1)): 3.9}

    again = commit(db, org, data, {"kind": "metrics"}, filename="m.csv")
    assert (again.to_insert, again.to_update, again.unchanged) == (0, 0, 3)
    with db.session() as s:
        batches = s.scalars(select(ImportBatch).order_by(ImportBatch.id)).all()
        sources = set(s.scalars(select(MetricValue.source)))
    assert [(b.rows, b.inserted, b.updated, b.unchanged) for b in batches] == [(3, 3, 0, 0), (3, 0, 0, 3)]
    assert batches[0].sha256 == done.sha256 and batches[0].kind == "metrics"
    assert sources == {f"import:{batches[0].id}"}  # unchanged rows keep the batch that wrote them


def test_an_organization_without_a_framework_is_told_to_start_one(db, org):
    """A new organization imports metric values before it has a framework: one clear reason, not an
    "unknown metric" per row, and nothing written."""
    with db.session() as s:
        other = s.scalar(select(Organization.id).where(Organization.slug == "other"))
    before = counts(db)
    report = commit(db, other, csv_bytes([["brand", "metric", "period", "value"], ["Shared", "amz_rating",
                                                                                     "2024-01-01", "4"]]),
                    {"kind": "metrics"}, filename="m.csv")
    assert not report.committed and [e.code for e in report.errors] == ["no_framework"]
    assert "no metric framework yet" in report.errors[0].reason and counts(db) == before


def test_upsert_updates_changed_and_inserts_new(db, org):
    commit(db, org, csv_bytes(METRICS), {"kind": "metrics"}, filename="m.csv")
    changed = [*METRICS[:2], ["Acme", "Amazon reviews", "2024-01-01", "130"], METRICS[3],
               ["Beta", "amz_reviews", "2024-03-01", "7"]]
    report = commit(db, org, csv_bytes(changed), {"kind": "metrics"}, filename="m2.csv")
    assert (report.to_insert, report.to_update, report.unchanged) == (1, 1, 2)
    got = values(db)
    assert got[("Acme", "amz_reviews", date(2024, 1, 1))] == 130.0
    assert got[("Beta", "amz_reviews", date(2024, 3, 1))] == 7.0
    assert len(got) == 4
    with db.session() as s:  # the rows written carry the second batch as their source, the others the first
        first, second = s.scalars(select(ImportBatch.id).order_by(ImportBatch.id)).all()
        stamped = s.execute(select(MetricValue.source, MetricValue.updated_at)).all()
    assert sorted(source for source, _ in stamped) == [f"import:{first}"] * 2 + [f"import:{second}"] * 2
    assert all(at is not None for _, at in stamped)


def test_long_metrics_xlsx_with_date_cells(db, org):
    rows = [METRICS[0], ["Acme", "amz_rating", date(2024, 5, 31), 4.5], ["Beta", "amz_reviews", date(2024, 5, 1), 10]]
    report = commit(db, org, xlsx_bytes(rows), {"kind": "metrics"}, filename="m.xlsx")
    assert report.committed, report.format_text()
    assert values(db) == {("Acme", "amz_rating", date(2024, 5, 1)): 4.5,
                          ("Beta", "amz_reviews", date(2024, 5, 1)): 10.0}


def test_wide_metrics_with_brand_column(db, org):
    spec = {"kind": "metrics", "layout": "wide", "date_column": "Month", "brand_column": "Brand",
            "metrics": {"Rating": "amz_rating", "Reviews": "Amazon reviews"}}
    rows = [["Month", "Brand", "Rating", "Reviews"], ["2024-01", "Acme", "4", "100"], ["2024-01", "Beta", "3", ""],
            ["2024-02", "Acme", "4.2", "110"]]
    report = commit(db, org, csv_bytes(rows), spec, filename="wide.csv")
    assert report.committed and report.to_insert == 5  # Beta's blank reviews cell is no observation
    assert values(db)[("Acme", "amz_reviews", date(2024, 2, 1))] == 110.0
    assert commit(db, org, csv_bytes(rows), spec, filename="wide.csv").unchanged == 5


BAD_METRIC_ROWS = [
    (["Nobody", "amz_rating", "2024-01-01", "4"], "brand", "unknown_brand"),
    (["Shared", "amz_rating", "2024-01-01", "4"], "brand", "unknown_brand"),  # exists, but in another org
    (["Acme", "facebook_likes", "2024-01-01", "4"], "metric", "unknown_metric"),
    (["Acme", "amz_rating", "01/02/2024", "4"], "period", "bad_date"),
    (["Acme", "amz_rating", "2024-04-01", "four"], "value", "non_numeric"),
    (["Acme", "amz_rating", "2024-01-20", "4"], "period", "duplicate"),
    (["Acme", "amz_rating", "2024-03-01", "7"], "value", "out_of_range"),
    (["Acme", "amz_reviews", "2024-03-01", "-1"], "value", "out_of_range"),
]


@pytest.mark.parametrize(("bad", "column", "code"), BAD_METRIC_ROWS,
                         ids=[c[2] + "-" + c[0][0] for c in BAD_METRIC_ROWS])
def test_bad_metric_row_rejects_the_whole_file(db, org, bad, column, code):
    rows = [*METRICS[:2], bad, *METRICS[2:]]
    before = counts(db)
    report = commit(db, org, csv_bytes(rows), {"kind": "metrics"}, filename="bad.csv")
    assert not report.committed and not report.ok
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, column, code)]
    assert counts(db) == before
    assert "rejected" in report.format_text()


def test_file_level_errors_write_nothing(db, org, tmp_path):
    before = counts(db)
    cases = [
        (b"", "m.csv", "empty_file"),
        (b"brand,metric,period,value\n", "m.csv", "empty_file"),
        (b"x", "m.ods", "unsupported_extension"),
        (b"PK\x03\x04 broken", "m.xlsx", "unreadable_file"),
        (b"brand,metric,value\nAcme,amz_rating,4\n", "m.csv", "missing_column"),
    ]
    for data, name, code in cases:
        report = commit(db, org, data, {"kind": "metrics"}, filename=name)
        assert [e.code for e in report.errors] == [code] and report.errors[0].row is None, name
    assert commit(db, org, tmp_path / "absent.csv", {"kind": "metrics"}).errors[0].code == "unreadable_file"
    assert commit(db, org, b"a\n1\n", {"kind": "metrics", "layout": "x"}, filename="m.csv").errors[0].code == (
        "invalid_mapping")
    assert counts(db) == before


def test_many_bad_rows_are_counted_and_capped(db, org):
    rows = [METRICS[0]] + [["Acme", "amz_rating", f"2024-01-{d:02d}", "x"] for d in range(1, 29)] * 20
    report = preview(db, org, csv_bytes(rows), {"kind": "metrics"}, filename="m.csv")
    assert report.error_count >= 560 and len(report.errors) == 200
    assert report.error_counts["non_numeric"] == 560


def test_metric_commit_recomputes_affected_projects(db, org):
    with db.session() as s:
        beta = s.scalar(select(Brand.id).where(Brand.name == "Beta"))
        project, unrelated = Project(organization_id=org, name="P"), Project(organization_id=org, name="Q")
        s.add_all([project, unrelated])
        s.flush()
        s.add(ProjectBrand(project_id=project.id, brand_id=beta))
        pid = project.id
    report = commit(db, org, csv_bytes(METRICS), {"kind": "metrics"}, filename="m.csv")
    assert report.projects_recomputed == [pid], report.warnings
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DCScore).where(DCScore.project_id == pid)) > 0
    assert commit(db, org, csv_bytes(METRICS), {"kind": "metrics"}, filename="m.csv").projects_recomputed == []


def spend_rows(db) -> dict[tuple, float]:
    with db.session() as s:
        rows = s.execute(select(Channel.name, Spend.period, Spend.granularity, Spend.amount)
                         .join(Channel, Channel.id == Spend.channel_id))
        return {(c, p, g): a for c, p, g, a in rows}


def test_long_marketing_weekly_keeps_the_date(db, org):
    rows = [["brand", "channel", "period", "amount"], ["Acme", "tv", "2024-01-03", "100"],
            ["Acme", "TV", "2024-01-10", "0"]]
    report = commit(db, org, csv_bytes(rows), {"kind": "marketing"}, filename="s.csv")
    assert report.committed and report.tables["spend"].insert == 2
    assert spend_rows(db) == {("TV", date(2024, 1, 3), "week"): 100.0, ("TV", date(2024, 1, 10), "week"): 0.0}


def test_long_marketing_monthly_and_channel_rules(db, org):
    rows = [["Marke", "Kanal", "Monat", "Betrag"], ["Acme", "Radio", "2024-01-17", "50"],
            ["Acme", "TV", "2024-02-02", "5"]]
    spec = {"kind": "marketing", "granularity": "month",
            "columns": {"brand": "Marke", "channel": "Kanal", "period": "Monat", "amount": "Betrag"}}
    before = counts(db)
    rejected = commit(db, org, csv_bytes(rows), spec, filename="s.csv")
    assert [(e.row, e.column, e.code) for e in rejected.errors] == [(2, "Kanal", "unknown_channel")]
    assert counts(db) == before

    listed = {**spec, "channels": ["Radio"]}
    dry = preview(db, org, csv_bytes(rows), listed, filename="s.csv")
    assert dry.ok and dry.channels_created == ["Radio"] and counts(db) == before
    done = commit(db, org, csv_bytes(rows), listed, filename="s.csv")
    assert done.committed and done.channels_created == ["Radio"]
    assert spend_rows(db) == {("Radio", date(2024, 1, 1), "month"): 50.0, ("TV", date(2024, 2, 1), "month"): 5.0}


def test_channels_are_each_organizations_own(db, org):
    """Another organization's channel names are unknown here, and the same name makes a channel of our own."""
    payload = "<img src=x onerror=alert(1)>"
    with db.session() as s:
        other = s.scalar(select(Organization.id).where(Organization.slug == "other"))
        s.add(Channel(organization_id=other, name=payload))
    rows = [["brand", "channel", "period", "amount"], ["Acme", payload.upper(), "2024-01-01", "10"],
            ["Acme", "tv", "2024-01-08", "5"]]
    refused = preview(db, org, csv_bytes(rows), {"kind": "marketing"}, filename="s.csv")
    assert [(e.row, e.code) for e in refused.errors] == [(2, "unknown_channel")]
    done = commit(db, org, csv_bytes(rows), {"kind": "marketing", "channels": [payload.upper()]}, filename="s.csv")
    assert done.committed and done.channels_created == [payload.upper()]
    with db.session() as s:
        mine = s.execute(select(Channel.name).where(Channel.organization_id == org).order_by(Channel.name)).scalars()
        assert list(mine) == [payload.upper(), "TV"]
        theirs = s.scalars(select(Channel.name).where(Channel.organization_id == other)).all()
        assert theirs == [payload]


def test_negative_spend_rejected(db, org):
    rows = [["brand", "channel", "period", "amount"], ["Acme", "TV", "2024-01-01", "10"],
            ["Acme", "TV", "2024-01-08", "-1"]]
    before = counts(db)
    report = commit(db, org, csv_bytes(rows), {"kind": "marketing"}, filename="s.csv")
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, "amount", "negative_value")]
    assert counts(db) == before


def test_wide_marketing_xlsx_spend_outcome_controls(db, org):
    spec = {"kind": "marketing", "layout": "wide", "date_column": "Week", "brand": "Beta",
            "spend": {"TV spend": "TV", "Social spend": "Social"}, "revenue": "Revenue", "units": "Units",
            "controls": {"Price": "price"}}
    rows = [["Week", "TV spend", "Social spend", "Revenue", "Units", "Price"],
            [date(2024, 1, 1), 10, 5, 1000, 10, 9.99], [date(2024, 1, 8), 0, None, 900.5, None, 9.49]]
    report = commit(db, org, xlsx_bytes(rows), spec, filename="w.xlsx")
    assert report.committed, report.format_text()
    assert {n: (c.insert, c.update, c.unchanged) for n, c in report.tables.items()} == {
        "spend": (3, 0, 0), "outcomes": (2, 0, 0), "control_values": (2, 0, 0)}
    assert report.channels_created == ["Social"]
    with db.session() as s:
        outcomes = s.execute(select(Outcome.period, Outcome.revenue, Outcome.units).order_by(Outcome.period)).all()
    assert [tuple(o) for o in outcomes] == [(date(2024, 1, 1), 1000.0, 10.0), (date(2024, 1, 8), 900.5, None)]

    rows[2][3] = 950
    again = commit(db, org, xlsx_bytes(rows), spec, filename="w.xlsx")
    assert (again.to_insert, again.to_update, again.unchanged) == (0, 1, 6)


def test_wide_marketing_duplicate_week_and_unknown_fixed_brand(db, org):
    spec = {"kind": "marketing", "layout": "wide", "date_column": "Week", "brand": "Acme", "spend": {"tv": "TV"}}
    rows = [["Week", "tv"], ["2024-01-01", "1"], ["2024-01-01", "2"]]
    report = preview(db, org, csv_bytes(rows), spec, filename="w.csv")
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, "Week", "duplicate")]
    report = preview(db, org, csv_bytes(rows[:2]), {**spec, "brand": "Shared"}, filename="w.csv")
    assert [(e.row, e.code) for e in report.errors] == [(None, "unknown_brand")]


def test_failure_mid_commit_rolls_back_everything(db, org, monkeypatch):
    """One transaction: spend already upserted and the batch row vanish when a later table fails."""
    import core.imports.service as commit_module

    real = commit_module._upsert

    def failing(conn, plan, *args):
        real(conn, plan, *args)
        if plan.table.name == "outcomes":
            raise RuntimeError("disk full")

    monkeypatch.setattr(commit_module, "_upsert", failing)
    spec = {"kind": "marketing", "layout": "wide", "date_column": "w", "brand": "Acme",
            "spend": {"tv": "TV", "radio": "Radio"}, "revenue": "rev"}
    before = counts(db)
    with pytest.raises(RuntimeError, match="disk full"):
        commit(db, org, csv_bytes([["w", "tv", "radio", "rev"], ["2024-01-01", "1", "2", "3"]]), spec, filename="w.csv")
    assert counts(db) == before


def test_a_blank_or_wordy_revenue_cell_is_a_row_problem_and_nothing_is_written(db, org):
    """A week without revenue used to be skipped without a word (issue 16, item 10): now the row is
    listed (row, column, what is wrong) and, imports being all or nothing, nothing is written."""
    spec = {"kind": "marketing", "layout": "wide", "granularity": "week", "date_column": "week", "brand": "Acme",
            "spend": {"tv_spend": "TV"}, "revenue": "revenue"}
    rows = [["week", "tv_spend", "revenue"], ["2024-01-01", "10", "1000"], ["2024-01-08", "12", ""],
            ["2024-01-15", "11", "n/a"], ["2024-01-22", "9", "950"]]
    before = counts(db)
    report = commit(db, org, csv_bytes(rows), spec, filename="weekly.csv")
    assert not report.committed
    assert [(e.row, e.column, e.code) for e in report.errors] == [(3, "revenue", "missing_value"),
                                                                   (4, "revenue", "non_numeric")]
    reasons = [e.reason for e in report.errors]
    assert reasons[0] == "the revenue is empty: fill in the week's revenue (0 if there was none)"
    assert reasons[1] == "the revenue 'n/a' is not a number"
    assert counts(db) == before
