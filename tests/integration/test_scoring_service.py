"""Materialized DC scores on SQLite and PostgreSQL: the service writes what the engine computes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import Brand, DCScore, Metric, MetricValue, Organization, Platform, Project, ProjectBrand, Section
from core.portfolio import brand_ranking, score_trend
from core.scoring.service import recompute_projects, score_change
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
        sec1, sec2 = Section(name="Marketplace", position=1), Section(name="Socialwatch", position=2)
        s.add_all([sec1, sec2])
        s.flush()
        p1, p2 = Platform(section_id=sec1.id, name="Amazon"), Platform(section_id=sec2.id, name="Instagram")
        s.add_all([p1, p2])
        s.flush()
        m1 = Metric(platform_id=p1.id, code="amazon_rating", name="Rating", weight=1)
        m2 = Metric(platform_id=p1.id, code="amazon_return_rate", name="Return rate", direction="lower", weight=3)
        m3 = Metric(platform_id=p2.id, code="ig_followers", name="Followers", weight=1)
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
