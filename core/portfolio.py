"""Read models for the portfolio views: projects, periods, brand rankings and score trends.

Pages call these; they hold the SQL so pages hold none. Every query is narrowed by the scope
filter of the principal asking: a person granted one brand sees that brand's rows, and the
averages shown are computed over what they may see, never over rows hidden from them.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, func, select

from core.models import Brand, DCScore, Organization, Project, ProjectBrand, Section
from core.security import Principal, scope_filter

READ = "portfolio:read"


def _project_visibility(principal: Principal):
    """Projects the principal may read whole, or that hold a brand they may read."""
    brands = select(ProjectBrand.project_id).join(Brand).where(scope_filter(principal, READ, Brand))
    return scope_filter(principal, READ, Project) | Project.id.in_(brands)


def list_projects(conn: Connection, principal: Principal) -> list[dict]:
    """Projects the principal can see some of, with their organization, ordered for a selector."""
    rows = conn.execute(
        select(Project.id, Project.name, Organization.name.label("organization"))
        .join(Organization)
        .where(_project_visibility(principal))
        .order_by(Organization.name, Project.name)
    ).mappings()
    return [dict(r) for r in rows]


def can_view_project(conn: Connection, principal: Principal, project_id: int) -> bool:
    """Whether any part of the project is visible to the principal (ids from a browser included)."""
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        return False
    stmt = select(Project.id).where(Project.id == project_id, _project_visibility(principal))
    return conn.execute(stmt).first() is not None


def project_periods(conn: Connection, principal: Principal, project_id: int) -> list[date]:
    """Periods that have scores the principal may see, oldest first."""
    stmt = (
        select(DCScore.period)
        .where(DCScore.project_id == project_id, DCScore.level == "total", scope_filter(principal, READ, DCScore))
        .group_by(DCScore.period)
        .order_by(DCScore.period)
    )
    return list(conn.execute(stmt).scalars())


def _shift_months(period: date, months: int) -> date:
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def brand_ranking(conn: Connection, principal: Principal, project_id: int, period: date | None = None) -> pd.DataFrame:
    """One row per brand for `period` (default: latest): DC score, changes, coverage, sections.

    Columns: brand_id, brand, role, rank, score, coverage, change_1m, change_12m, and one column per
    section name. Sorted best first.
    """
    periods = project_periods(conn, principal, project_id)
    if not periods:
        columns = ["brand_id", "brand", "role", "rank", "score", "coverage", "change_1m", "change_12m"]
        return pd.DataFrame(columns=columns)
    period = period or periods[-1]
    wanted = [period, _shift_months(period, -1), _shift_months(period, -12)]
    rows = conn.execute(
        select(DCScore.brand_id, DCScore.period, DCScore.level, DCScore.node_id, DCScore.score, DCScore.coverage)
        .where(DCScore.project_id == project_id, DCScore.period.in_(wanted), DCScore.level.in_(["total", "section"]),
               scope_filter(principal, READ, DCScore))
    ).all()
    scores = pd.DataFrame(rows, columns=["brand_id", "period", "level", "node_id", "score", "coverage"])
    total = scores[scores.level == "total"].pivot_table(index="brand_id", columns="period", values="score")
    total = total.reindex(columns=wanted)
    current = scores[(scores.level == "total") & (scores.period == period)].set_index("brand_id")
    out = current[["score", "coverage"]].copy()
    out["change_1m"] = out["score"] - total[wanted[1]]
    out["change_12m"] = out["score"] - total[wanted[2]]
    sections = dict(conn.execute(select(Section.id, Section.name).order_by(Section.position)).all())
    sec = scores[(scores.level == "section") & (scores.period == period)]
    sec = sec.pivot_table(index="brand_id", columns="node_id", values="score").rename(columns=sections)
    out = out.join(sec[[c for c in sections.values() if c in sec.columns]])
    names = pd.DataFrame(
        conn.execute(
            select(Brand.id, Brand.name, ProjectBrand.role)
            .join(ProjectBrand)
            .where(ProjectBrand.project_id == project_id)
        ).all(),
        columns=["brand_id", "brand", "role"],
    ).set_index("brand_id")
    out = names.join(out, how="inner").sort_values("score", ascending=False)
    out.insert(2, "rank", range(1, len(out) + 1))
    return out.reset_index()


def score_trend(conn: Connection, principal: Principal, project_id: int, brand_ids: list[int]) -> pd.DataFrame:
    """DC score per period for the given brands, plus the average of the competitors visible to
    the principal. Columns: period, brand_id, brand, score; the competitor average has brand_id 0.
    """
    visible = scope_filter(principal, READ, DCScore)
    rows = conn.execute(
        select(DCScore.period, DCScore.brand_id, Brand.name, DCScore.score)
        .join(Brand, Brand.id == DCScore.brand_id)
        .where(DCScore.project_id == project_id, DCScore.level == "total", DCScore.brand_id.in_(brand_ids), visible)
        .order_by(DCScore.period)
    ).all()
    trend = pd.DataFrame(rows, columns=["period", "brand_id", "brand", "score"])
    avg = conn.execute(
        select(DCScore.period, func.avg(DCScore.score))
        .join(
            ProjectBrand,
            (ProjectBrand.brand_id == DCScore.brand_id) & (ProjectBrand.project_id == DCScore.project_id),
        )
        .where(DCScore.project_id == project_id, DCScore.level == "total", ProjectBrand.role == "competitor", visible)
        .group_by(DCScore.period)
        .order_by(DCScore.period)
    ).all()
    if avg:
        comp = pd.DataFrame(avg, columns=["period", "score"]).assign(brand_id=0, brand="Competitor average")
        trend = pd.concat([trend, comp[trend.columns]], ignore_index=True)
    return trend
