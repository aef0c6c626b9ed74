"""seed_demo / ensure_demo against a migrated database, on SQLite and PostgreSQL.

Fewer months than the default 36 keep each test to a few seconds; the structure is the same.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core.demo import DemoDataExists, ensure_demo, generate_demo, seed_demo
from core.demo.__main__ import main
from core.demo.mmm import baseline_series, festive_series, year_fraction
from core.models import (
    Brand,
    Channel,
    ControlValue,
    DCScore,
    Metric,
    MetricValue,
    Organization,
    Outcome,
    Platform,
    Project,
    ProjectBrand,
    ResponseCurve,
    Section,
    Spend,
)
from core.optimize.curves import CurveParams

MONTHS = 12
SEED = 7


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _values_frame(session) -> pd.DataFrame:
    rows = session.execute(
        select(Organization.name, Brand.name, Metric.code, MetricValue.period, MetricValue.raw_value)
        .join(Brand, Brand.id == MetricValue.brand_id)
        .join(Organization, Organization.id == Brand.organization_id)
        .join(Metric, Metric.id == MetricValue.metric_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["org", "brand", "metric", "period", "raw_value"])
    return frame.sort_values(["org", "brand", "metric", "period"]).reset_index(drop=True)


def test_seed_loads_the_portfolio_exactly(db):
    summary = seed_demo(db, seed=SEED, months=MONTHS)
    expected = generate_demo(SEED, months=MONTHS)
    n_brands, n_weeks = len(expected.brands), len(expected.weeks)
    n_own = expected.mmm_brands.size
    assert summary.metric_values == n_brands * 60 * MONTHS
    assert summary.spend_rows == n_own * 6 * n_weeks and summary.outcome_rows == n_own * n_weeks
    assert summary.control_rows == n_own * n_weeks  # one festive-season control per own brand and week
    assert len(summary.organizations) == 2 and len(summary.anomalies) >= 10

    with db.session() as s:
        assert _count(s, Organization) == 2
        assert _count(s, Project) == 4
        assert _count(s, Brand) == n_brands
        assert _count(s, ProjectBrand) == 80
        # Each organization has the template framework of its own; every value is on its own metric.
        assert _count(s, Section) == 4 * 2
        assert _count(s, Platform) >= 10 * 2
        assert _count(s, Metric) == 60 * 2
        assert s.scalar(select(func.count(Section.organization_id.distinct()))) == 2
        assert s.scalar(select(func.count()).select_from(MetricValue).join(Metric, Metric.id == MetricValue.metric_id)
                        .join(Brand, Brand.id == MetricValue.brand_id)
                        .where(Metric.organization_id != Brand.organization_id)) == 0
        assert _count(s, Channel) >= 5
        assert _count(s, MetricValue) == summary.metric_values
        assert _count(s, Spend) == summary.spend_rows
        assert _count(s, Outcome) == summary.outcome_rows
        assert _count(s, ControlValue) == summary.control_rows
        assert set(s.scalars(select(ControlValue.name).distinct())) == {"event:festive"}
        assert _count(s, ResponseCurve) == n_own * 6 == summary.response_curves
        assert set(s.scalars(select(ResponseCurve.kind).distinct())) == {"truth"}
        # Values land on the right brand, metric and period, inside the metric's range.
        loaded = _values_frame(s)
        out_of_range = s.scalar(
            select(func.count()).select_from(MetricValue).join(Metric, Metric.id == MetricValue.metric_id)
            .where((MetricValue.raw_value < Metric.min_value) | (MetricValue.raw_value > Metric.max_value))
        )
        assert out_of_range == 0
        # Every injected anomaly is in the database as reported, under the reported brand id.
        for a in summary.anomalies:
            stored = s.scalar(select(MetricValue.raw_value).join(Metric, Metric.id == MetricValue.metric_id).where(
                MetricValue.brand_id == a["brand_id"], Metric.code == a["metric"],
                MetricValue.period == date.fromisoformat(a["period"])))
            assert stored == a["actual"]
            assert s.get(Brand, a["brand_id"]).name == a["brand"]
        # DC scores were materialized for every project.
        scored_projects = s.scalar(select(func.count(DCScore.project_id.distinct())))
        assert summary.dc_scores and summary.dc_scores == _count(s, DCScore)
        assert scored_projects == 4

        spend = pd.DataFrame(s.execute(select(Spend.brand_id, Spend.channel_id, Spend.period, Spend.amount)).all())
        outcomes = pd.DataFrame(s.execute(select(Outcome.brand_id, Outcome.period, Outcome.revenue)).all())
        curves = s.scalars(select(ResponseCurve)).all()
        festive = pd.DataFrame(s.execute(select(ControlValue.brand_id, ControlValue.period, ControlValue.value)).all())

    # The stored truth turns the stored spend into the stored revenue, up to noise of the stored sd.
    spend = spend.set_index(["brand_id", "channel_id", "period"])["amount"].sort_index()
    revenue = outcomes.set_index(["brand_id", "period"])["revenue"].sort_index()
    weeks = sorted(outcomes["period"].unique())
    t = np.arange(len(weeks), dtype=float)
    standardized = []
    for brand_id, brand_curves in pd.Series(curves).groupby([c.brand_id for c in curves]):
        diag = brand_curves.iloc[0].diagnostics
        assert diag["first_week"] == weeks[0].isoformat()
        media = sum(CurveParams.from_dict(c.params).contribution(spend.loc[(brand_id, c.channel_id)].to_numpy())
                    for c in brand_curves)
        expected_revenue = baseline_series(diag, t, year_fraction(weeks)) + media
        # the stored festive control is the festive factor of this brand's revenue model
        stored_festive = festive[festive["brand_id"] == brand_id].sort_values("period")["value"].to_numpy()
        np.testing.assert_allclose(stored_festive, festive_series(diag, year_fraction(weeks)), rtol=1e-9, atol=1e-12)
        standardized.append((revenue.loc[brand_id].to_numpy() - expected_revenue) / diag["noise_sd"])
    z = np.concatenate(standardized)
    assert len(standardized) == n_own
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1

    generated = expected.metric_value_frame().sort_values(["org", "brand", "metric", "period"])
    generated = generated.reset_index(drop=True)
    assert len(loaded) == len(generated)
    assert (loaded[["org", "brand", "metric"]].to_numpy() == generated[["org", "brand", "metric"]].to_numpy()).all()
    assert (pd.to_datetime(loaded["period"]).to_numpy() == pd.to_datetime(generated["period"]).to_numpy()).all()
    np.testing.assert_array_equal(loaded["raw_value"].to_numpy(), generated["raw_value"].to_numpy())


def test_refuses_to_seed_twice_then_reset_gives_identical_values_and_scale_mode_loads(db):
    months = 6
    assert ensure_demo(db, seed=SEED, months=months) is not None
    with db.session() as s:
        first = _values_frame(s)
    assert ensure_demo(db, seed=SEED, months=months) is None
    with pytest.raises(DemoDataExists, match="reset"):
        seed_demo(db, seed=SEED, months=months)

    summary = seed_demo(db, seed=SEED, brands=60, months=months, reset=True)
    assert summary.mode == "benchmark"
    assert summary.metric_values == 60 * 60 * months
    with db.session() as s:
        assert _count(s, Organization) == 1
        assert _count(s, Brand) == 60
        assert _count(s, MetricValue) == 60 * 60 * months
        assert _count(s, Spend) == 0 and _count(s, ResponseCurve) == 0
        roles = dict(s.execute(select(ProjectBrand.role, func.count()).group_by(ProjectBrand.role)).all())
        assert roles == {"own": 30, "competitor": 30}
        assert _count(s, DCScore) == summary.dc_scores > 0

    seed_demo(db, seed=SEED, months=months, reset=True)
    with db.session() as s:
        pd.testing.assert_frame_equal(_values_frame(s), first)


def test_cli_seeds_and_refuses_without_reset(sqlite_db, capsys):
    assert main(["--database-url", sqlite_db.url, "--brands", "4", "--months", "2", "--end-month", "2025-03"]) == 0
    out = capsys.readouterr().out
    assert "metric values 480" in out and "2025-02 … 2025-03" in out
    assert main(["--database-url", sqlite_db.url, "--brands", "4", "--months", "2"]) == 2
    assert "--reset" in capsys.readouterr().err
