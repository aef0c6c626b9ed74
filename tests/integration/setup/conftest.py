"""A small two-organization portfolio with a metric catalogue, values, scores and the people who act on it.

Organization A and B each have projects p1 (b1, b2) and p2 (b2, b3), brands b1..b3, a saved scenario
per project (naming no brand), two sections with one metric each, and two months of values for
every brand, already scored. People: an Organization Administrator of each, a Viewer and a Brand
Manager of A (organization scope) and a System Administrator.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent, DCScore, Metric, MetricValue, Platform, Section
from core.scoring.service import recompute_projects
from core.security.principal import load_principal
from tests.integration.security.conftest import add_user, build_world

PERIODS = (date(2024, 1, 1), date(2024, 2, 1))


def _catalogue(s) -> dict[str, int]:
    ids = {}
    for position, (section, code, direction) in enumerate(
            (("Marketplace", "m_rating", "higher"), ("Socialwatch", "m_complaints", "lower"))):
        sec = Section(name=section, position=position)
        s.add(sec)
        s.flush()
        platform = Platform(section_id=sec.id, name=f"{section} platform")
        s.add(platform)
        s.flush()
        metric = Metric(platform_id=platform.id, code=code, name=code, direction=direction)
        s.add(metric)
        s.flush()
        ids[code] = metric.id
    return ids


@pytest.fixture
def world(db):
    w = build_world(db)
    with db.session() as s:
        metrics = _catalogue(s)
        for n, (_key, brand_id) in enumerate(sorted(w.brands.items())):
            for m, metric_id in enumerate(metrics.values()):
                for p, period in enumerate(PERIODS):
                    s.add(MetricValue(brand_id=brand_id, metric_id=metric_id, period=period,
                                      raw_value=float(10 + 3 * n * n + 5 * m + p * (n % 3)), source="test"))
    recompute_projects(db)
    people = {
        "admin": add_user(db, w, "admin-a@a.test", "A", [("Organization Administrator", "organization", "A")]),
        "admin_b": add_user(db, w, "admin-b@b.test", "B", [("Organization Administrator", "organization", "B")]),
        "viewer": add_user(db, w, "viewer-a@a.test", "A", [("Viewer", "organization", "A")]),
        "brand_manager": add_user(db, w, "bm-a@a.test", "A", [("Brand Manager", "organization", "A")]),
        "sysadmin": add_user(db, w, "root@sys.test", None, [("System Administrator", "system", None)]),
    }
    principals = {k: load_principal(db, uid) for k, uid in people.items()}
    return {"db": db, "w": w, "metrics": metrics, "people": people, "as": principals}


def audit_actions(db, prefix: str = "") -> list[tuple[str, dict]]:
    with db.session() as s:
        rows = s.execute(select(AuditEvent.action, AuditEvent.data).where(AuditEvent.action.like(prefix + "%"))
                         .order_by(AuditEvent.id)).all()
    return [(a, d) for a, d in rows]


def score_rows(db, project_id: int, brand_id: int | None = None) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(DCScore).where(DCScore.project_id == project_id)
        if brand_id is not None:
            q = q.where(DCScore.brand_id == brand_id)
        return s.scalar(q)


def total_scores(db, project_id: int) -> dict[tuple, float]:
    with db.session() as s:
        rows = s.execute(select(DCScore.period, DCScore.brand_id, DCScore.score).where(
            DCScore.project_id == project_id, DCScore.level == "total")).all()
    return {(str(p)[:10], b): round(v, 9) for p, b, v in rows}
