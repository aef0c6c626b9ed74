"""The two public weekly data sets import with the shipped mappings; the CLI reports and exits right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.imports import commit, load_spec, preview
from core.imports.__main__ import main
from core.models import Brand, Channel, ControlValue, MetricValue, Organization, Outcome, Spend
from tests.sample_data import MERIDIAN_NATIONAL, ROBYN_WEEKLY, SAMPLES

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "docs" / "import-mappings"


@pytest.fixture
def org(db):
    with db.session() as s:
        org = Organization(name="Sample Co", slug="sample")
        s.add(org)
        s.flush()
        s.add(Brand(organization_id=org.id, name="Sample Brand"))
        return org.id


def series_counts(db) -> tuple[dict[str, int], int, dict[str, int]]:
    with db.session() as s:
        spend = dict(s.execute(select(Channel.name, func.count()).join(Spend, Spend.channel_id == Channel.id)
                               .group_by(Channel.name)).all())
        outcomes = s.scalar(select(func.count()).select_from(Outcome))
        controls = dict(s.execute(select(ControlValue.name, func.count()).group_by(ControlValue.name)).all())
    return spend, outcomes, controls


def test_robyn_weekly(db, org):
    path = ROBYN_WEEKLY
    spec = load_spec(MAPPINGS / "robyn_weekly.json", kind="marketing").with_brand("Sample Brand")
    report = commit(db, org, path, spec)
    assert report.committed, report.format_text()
    assert report.total_rows == 208
    spend, outcomes, controls = series_counts(db)
    assert spend == {"TV": 208, "OOH": 208, "Print": 208, "Search": 208, "Facebook": 208}
    assert outcomes == 208
    assert controls == {"competitor_sales": 208, "newsletter": 208, "event:event1": 208, "event:event2": 208,
                        "exposure:Facebook": 208, "exposure:Search": 208}
    with db.session() as s:
        first = s.execute(select(Outcome.period, Outcome.revenue, Outcome.granularity).order_by(Outcome.period)).first()
        events = s.scalar(select(func.sum(ControlValue.value)).where(ControlValue.name.like("event:%")))
    assert (str(first.period), first.revenue, first.granularity) == ("2015-11-23", 2754371.66666667, "week")
    assert events == 2.0

    again = commit(db, org, path, spec)
    assert (again.to_insert, again.to_update, again.unchanged) == (0, 0, 208 * 5 + 208 + 208 * 6)


def test_meridian_national(db, org):
    path = MERIDIAN_NATIONAL
    spec = load_spec(MAPPINGS / "meridian_national.json", kind="marketing").with_brand("Sample Brand")
    report = commit(db, org, path, spec)
    assert report.committed, report.format_text()
    # The data README says 155 weeks (a line count of a file without a final newline): it holds 156.
    weeks = report.total_rows
    assert weeks == 156
    spend, outcomes, controls = series_counts(db)
    assert spend == {f"Channel{i}": weeks for i in range(4)}
    assert outcomes == weeks
    assert controls == {"competitor_activity_score": weeks, "sentiment_score": weeks,
                        **{f"exposure:Channel{i}": weeks for i in range(4)}}
    with db.session() as s:
        first = s.execute(select(Outcome).order_by(Outcome.period)).scalars().first()
    assert str(first.period) == "2021-01-25"
    assert first.units == 162516020 and first.revenue == pytest.approx(162516020 * 0.03494261)

    again = commit(db, org, path, spec)
    assert (again.to_insert, again.to_update) == (0, 0) and again.unchanged == weeks * 11


def test_cli_preview_commit_and_errors(sqlite_db, tmp_path, capsys):
    with sqlite_db.session() as s:
        org = Organization(name="Cli Co", slug="cli")
        s.add(org)
        s.flush()
        s.add(Brand(organization_id=org.id, name="Solo"))
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"kind": "marketing", "layout": "wide", "date_column": "week",
                                   "spend": {"tv": "TV"}, "revenue": "rev"}))
    good = tmp_path / "good.csv"
    good.write_text("week,tv,rev\n2024-01-01,10,100\n2024-01-08,12,120\n")
    base = ["--org", "cli", "--kind", "marketing", "--mapping", str(mapping), "--brand", "Solo",
            "--database-url", sqlite_db.url]

    assert main(["preview", *base, str(good)]) == 0
    out = capsys.readouterr().out
    assert "preview, nothing written" in out and "spend" in out
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Spend)) == 0

    assert main(["commit", *base, "--json", str(good)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["committed"] and result["tables"]["spend"]["insert"] == 2

    bad = tmp_path / "bad.csv"
    bad.write_text("week,tv,rev\n2024-01-15,-5,100\nnot a date,1,1\n")
    assert main(["commit", *base, str(bad)]) == 1
    out = capsys.readouterr().out
    assert "rejected" in out
    lines = [line.split(None, 2) for line in out.splitlines()]
    assert ["2", "tv", "spend must not be negative (got -5)"] in lines
    assert ["3", "week", "'not a date' is not a date (expected YYYY-MM-DD)"] in lines
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue)) == 0
        assert s.scalar(select(func.count()).select_from(Spend)) == 2

    assert main(["preview", *base[:1], "nope", *base[2:], str(good)]) == 2


def test_shipped_mappings_preview_cleanly(sqlite_db):
    with sqlite_db.session() as s:
        org = Organization(name="P", slug="p")
        s.add(org)
        s.flush()
        s.add(Brand(organization_id=org.id, name="B"))
        org_id = org.id
    for mapping, name in [("robyn_weekly.json", "robyn_dt_simulated_weekly.csv"),
                          ("meridian_national.json", "meridian_national_media.csv")]:
        spec = load_spec(MAPPINGS / mapping).with_brand("B")
        report = preview(sqlite_db, org_id, SAMPLES / name, spec)
        assert report.ok and report.to_insert > 0 and report.sample
