"""Materialized DC scores on SQLite and PostgreSQL: the service writes what the engine computes."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.imports import commit
from core.models import Brand, DCScore, Metric, MetricValue, Organization, Platform, Project, ProjectBrand, Section
from core.portfolio import brand_ranking, score_trend
from core.scoring.service import (
    load_inputs,
    recompute_projects,
    rescore_after_change,
    score_change,
)
from core.security import Principal
from core.security.permissions import ALL_PERMISSIONS
from tests.reference_read_models import stored_scores

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
# Reading as a principal that holds every permission everywhere (scoping is tested elsewhere).
EVERYTHING = Principal(user_id=None, organization_id=None, system=ALL_PERMISSIONS)


@pytest.fixture
def portfolio(db):
    """One project, three brands, two sections; A improves in February."""
    with db.session() as s:
        org = Organization(name="Acme", slug="acme")
        s.add(org)
        s.flush()
        sec1 = Section(organization_id=org.id, name="Marketplace", position=1)
        sec2 = Section(organization_id=org.id, name="Socialwatch", position=2)
        s.add_all([sec1, sec2])
        s.flush()
        p1, p2 = Platform(section_id=sec1.id, name="Amazon"), Platform(section_id=sec2.id, name="Instagram")
        s.add_all([p1, p2])
        s.flush()
        m1 = Metric(organization_id=org.id, platform_id=p1.id, code="amazon_rating", name="Rating", weight=1)
        m2 = Metric(organization_id=org.id, platform_id=p1.id, code="amazon_return_rate", name="Return rate",
                    direction="lower", weight=3)
        m3 = Metric(organization_id=org.id, platform_id=p2.id, code="ig_followers", name="Followers", weight=1)
        s.add_all([m1, m2, m3])
        project = Project(organization_id=org.id, name="Skincare", section_weights={"Marketplace": 1, "Socialwatch": 1})
        brands = [Brand(organization_id=org.id, name=n) for n in ("A", "B", "C")]
        s.add(project)
        s.add_all(brands)
        s.flush()
        for brand, role in zip(brands, ("own", "competitor", "competitor"), strict=True):
            s.add(ProjectBrand(project_id=project.id, brand_id=brand.id, role=role))
        data = {"A": (10, 1, 5), "B": (20, 3, 5), "C": (30, 5, 5)}
        for brand in brands:
            for metric, value in zip((m1, m2, m3), data[brand.name], strict=True):
                s.add(MetricValue(brand_id=brand.id, metric_id=metric.id, period=JAN, raw_value=value))
                feb = 25 if (brand.name, metric.code) == ("A", "amazon_rating") else value
                s.add(MetricValue(brand_id=brand.id, metric_id=metric.id, period=FEB, raw_value=feb))
        ids = {"project": project.id, **{b.name: b.id for b in brands}, "m1": m1.id}
    return ids


def test_recompute_writes_hand_computed_totals(db, portfolio):
    written = recompute_projects(db)
    with db.engine.connect() as conn:
        assert written == conn.execute(select(func.count()).select_from(DCScore)).scalar_one()
        totals = stored_scores(conn, portfolio["project"], periods=[JAN]).set_index("brand_id")["score"]
    assert totals[portfolio["A"]] == pytest.approx(62.5)
    assert totals[portfolio["B"]] == pytest.approx(50.0)
    assert totals[portfolio["C"]] == pytest.approx(37.5)


def test_recompute_replaces_previous_scores(db, portfolio):
    first = recompute_projects(db, [portfolio["project"]])
    assert recompute_projects(db, [portfolio["project"]]) == first
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DCScore)).scalar_one() == first


def test_ranking_trend_and_change(db, portfolio):
    recompute_projects(db)
    with db.engine.connect() as conn:
        ranking = brand_ranking(conn, EVERYTHING, portfolio["project"])
        assert list(ranking["brand"]) == ["A", "B", "C"]  # February: A 75, B 50 − …, C …
        a = ranking.set_index("brand").loc["A"]
        assert a["change_1m"] == pytest.approx(50 / 8)
        assert {"Marketplace", "Socialwatch"} <= set(ranking.columns)
        trend = score_trend(conn, EVERYTHING, portfolio["project"], [portfolio["A"]])
        assert set(trend["brand"]) == {"A", "Competitor average"}
        parts = score_change(conn, portfolio["project"], portfolio["A"], JAN, FEB).set_index("metric_id")
        assert parts.loc[portfolio["m1"], "contribution"] == pytest.approx(50 / 8)


def test_deleting_a_brand_or_membership_removes_its_scores(db, portfolio):
    recompute_projects(db)

    def count(brand_id: int) -> int:
        with db.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(DCScore).where(DCScore.brand_id == brand_id)).scalar()

    assert count(portfolio["B"]) > 0 and count(portfolio["C"]) > 0
    with db.session() as s:
        s.delete(s.get(Brand, portfolio["B"]))
        s.delete(s.get(ProjectBrand, (portfolio["project"], portfolio["C"])))
    assert count(portfolio["B"]) == 0 and count(portfolio["C"]) == 0
    assert count(portfolio["A"]) > 0
    with db.session() as s:
        s.delete(s.get(Project, portfolio["project"]))
    assert count(portfolio["A"]) == 0


def _stored(db) -> dict:
    with db.engine.connect() as conn:
        rows = conn.execute(select(DCScore.project_id, DCScore.period, DCScore.brand_id, DCScore.level,
                                   DCScore.node_id, DCScore.score, DCScore.coverage)).all()
    return {r[:5]: (round(r[5], 9), round(r[6], 9)) for r in rows}


def test_incremental_store_equals_a_fresh_materialization(db, portfolio):
    recompute_projects(db)
    with db.session() as s:
        s.get(MetricValue, (portfolio["B"], portfolio["m1"], FEB)).raw_value = 29  # moves February
        for value in s.scalars(select(MetricValue).where(MetricValue.brand_id == portfolio["C"],
                                                         MetricValue.period == JAN)):
            s.delete(value)  # C has no January scores any more
    recompute_projects(db)
    incremental = _stored(db)
    with db.engine.begin() as conn:
        conn.execute(DCScore.__table__.delete())
    recompute_projects(db)
    assert incremental == _stored(db)
    assert not any(k[2] == portfolio["C"] and k[1] == JAN for k in incremental)


def _full_recompute(db) -> dict:
    """The scores a from-scratch recompute of every project gives (the reference for incremental paths)."""
    with db.engine.begin() as conn:
        conn.execute(DCScore.__table__.delete())
    recompute_projects(db)
    return _stored(db)


def test_recomputing_some_periods_equals_a_full_recompute_and_leaves_the_others(db, portfolio):
    recompute_projects(db)
    before = _stored(db)
    with db.session() as s:
        s.get(MetricValue, (portfolio["B"], portfolio["m1"], FEB)).raw_value = 29  # moves February only
        s.get(MetricValue, (portfolio["C"], portfolio["m1"], JAN)).raw_value = 11  # stale January: left alone
    assert recompute_projects(db, [portfolio["project"]], periods=[FEB]) == 3 * (1 + 2 + 2)  # brands × levels
    partial = _stored(db)
    assert {k: v for k, v in partial.items() if k[1] == JAN} == {k: v for k, v in before.items() if k[1] == JAN}
    assert partial != before
    full = _full_recompute(db)
    assert {k: v for k, v in partial.items() if k[1] == FEB} == {k: v for k, v in full.items() if k[1] == FEB}
    assert recompute_projects(db, [portfolio["project"]], periods=[]) == 0


def test_importing_a_month_rescores_that_month_as_a_full_recompute_would(db, portfolio):
    """The import's incremental rescoring (only the imported month) equals recomputing everything."""
    recompute_projects(db)
    with db.session() as s:
        org = s.scalar(select(Project.organization_id).where(Project.id == portfolio["project"]))
    mar = date(2026, 3, 1)
    rows = ["brand,metric,period,value"] + [
        f"{brand},{metric},{mar.isoformat()},{value}"
        for brand, values in {"A": (12, 2, 6), "B": (20, 1, 4), "C": (28, 5, 5)}.items()
        for metric, value in zip(("amazon_rating", "amazon_return_rate", "ig_followers"), values, strict=True)
    ] + ["B,amazon_rating,2026-02-01,21"]  # and one change in February
    report = commit(db, org, "\n".join(rows).encode(), {"kind": "metrics"}, filename="march.csv")
    assert report.committed and not report.warnings and report.projects_recomputed == [portfolio["project"]]
    incremental = _stored(db)
    assert {k[1] for k in incremental} == {JAN, FEB, mar}
    assert incremental == _full_recompute(db)


def test_a_project_never_scored_is_rescored_whole(db, portfolio):
    written = rescore_after_change(db, [portfolio["project"]], [FEB])
    assert written == 2 * 3 * (1 + 2 + 2)  # both months, though only February was named
    assert {k[1] for k in _stored(db)} == {JAN, FEB}
    assert rescore_after_change(db, [portfolio["project"]], [FEB]) == 3 * (1 + 2 + 2)


def test_inputs_hold_each_value_once_per_project_of_its_brand(db, portfolio):
    """load_inputs attaches projects in numpy; it must give what joining project_brands gives."""
    with db.session() as s:
        org = s.scalar(select(Project.organization_id).where(Project.id == portfolio["project"]))
        other = Project(organization_id=org, name="Haircare")
        s.add(other)
        s.flush()
        s.add_all([ProjectBrand(project_id=other.id, brand_id=portfolio[b], role="own") for b in ("C", "A")])
        other_id = other.id
    joined = (select(ProjectBrand.project_id, MetricValue.period, MetricValue.brand_id, MetricValue.metric_id,
                     MetricValue.raw_value).join(ProjectBrand, ProjectBrand.brand_id == MetricValue.brand_id))
    with db.engine.connect() as conn:
        for ids, periods in (([portfolio["project"], other_id], None), ([other_id], [FEB])):
            values = load_inputs(conn, ids, periods).values
            got = sorted((int(p), pd.Timestamp(d).date(), int(b), int(m), float(v))
                         for p, d, b, m, v in values.itertuples(index=False))
            query = joined.where(ProjectBrand.project_id.in_(ids))
            if periods:
                query = query.where(MetricValue.period.in_(periods))
            assert got == sorted(tuple(r) for r in conn.execute(query).all())
    assert len(got) == 2 * 3  # A and C in February
