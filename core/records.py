"""Scoped reads of single records and pages of rows: organizations, projects, brands, import
batches, metric values, DC scores and response curves (the REST API's raw-data resources).

Every function takes the principal and narrows with the one scope filter, the same visibility
rules the portfolio pages use. A record out of scope and a record that does not exist give the
same answer (None / no row), so callers cannot tell them apart. Pages are keyed by the table's
primary key (keyset pagination): stable under inserts and cheap at any depth.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from core.models import (
    Brand,
    Channel,
    DCScore,
    ImportBatch,
    Metric,
    MetricValue,
    Organization,
    Platform,
    Project,
    ProjectBrand,
    ResponseCurve,
    join_channel,
)
from core.portfolio import READ, project_visibility
from core.security import Principal, permissions_for, scope_filter
from core.security.authorizer import level_filter
from core.security.permissions import Permission

BRAND_READ = Permission.BRAND_READ.value
METRICS_READ = Permission.METRICS_READ.value
METRICS_IMPORT = Permission.METRICS_IMPORT.value


def _brand_visibility(principal: Principal):
    return scope_filter(principal, BRAND_READ, Brand)


def _organization_visibility(principal: Principal):
    """Organizations granted as a whole, or holding a project or brand the principal can see."""
    return or_(scope_filter(principal, READ, Organization),
               Organization.id.in_(select(Project.organization_id).where(project_visibility(principal))),
               Organization.id.in_(select(Brand.organization_id).where(_brand_visibility(principal))))


def organizations(session: Session, principal: Principal, ident: int | None = None,
                  include_archived: bool = False) -> list[Organization]:
    """Organizations in scope; archived ones only when asked for (by id, or `include_archived`)."""
    stmt = select(Organization).where(_organization_visibility(principal)).order_by(Organization.id)
    if ident is not None:
        stmt = stmt.where(Organization.id == ident)
    elif not include_archived:
        stmt = stmt.where(Organization.archived_at.is_(None))
    return list(session.scalars(stmt))


def projects(session: Session, principal: Principal, ident: int | None = None) -> list[Project]:
    stmt = select(Project).where(project_visibility(principal)).order_by(Project.id)
    if ident is not None:
        stmt = stmt.where(Project.id == ident)
    return list(session.scalars(stmt))


def brands(session: Session, principal: Principal, ident: int | None = None,
           project_id: int | None = None) -> list[Brand]:
    stmt = select(Brand).where(_brand_visibility(principal)).order_by(Brand.id)
    if ident is not None:
        stmt = stmt.where(Brand.id == ident)
    if project_id is not None:
        stmt = stmt.where(Brand.id.in_(select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id)))
    return list(session.scalars(stmt))


def import_batches(session: Session, principal: Principal, ident: int | None = None) -> list[ImportBatch]:
    """Committed imports of organizations where the principal may import or read metrics as a whole."""
    orgs = [o for o, perms in principal.organizations.items() if perms & {METRICS_IMPORT, METRICS_READ}]
    stmt = select(ImportBatch).order_by(ImportBatch.id.desc())
    if not ({METRICS_IMPORT, METRICS_READ} & principal.system):
        stmt = stmt.where(ImportBatch.organization_id.in_(orgs))
    if ident is not None:
        stmt = stmt.where(ImportBatch.id == ident)
    # Data sets classified above the principal's clearance are not listed (an id of one: not found).
    return list(session.scalars(stmt.where(level_filter(principal, ImportBatch))))


def import_permissions(session: Session, principal: Principal, organization_id: int) -> frozenset[str]:
    """What the principal holds on the organization (empty: it is unknown or out of scope)."""
    org = session.get(Organization, organization_id)
    if org is None:
        return frozenset()
    if not session.scalars(select(Organization.id).where(Organization.id == organization_id,
                                                         _organization_visibility(principal))).first():
        return frozenset()
    return permissions_for(principal, org, session=session)


def _after(columns: list[Any], values: list[Any]):
    """Rows strictly after `values` in the lexicographic order of `columns`."""
    clauses = []
    for i, column in enumerate(columns):
        clauses.append(and_(*(c == v for c, v in zip(columns[:i], values[:i], strict=True)), column > values[i]))
    return or_(*clauses)


def _page(session: Session, stmt: Select, keys: list[Any], cursor: list[Any] | None, limit: int
          ) -> tuple[list[Any], list[Any] | None]:
    if cursor is not None:
        stmt = stmt.where(_after(keys, cursor))
    rows = session.execute(stmt.order_by(*keys).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ([getattr(rows[-1], k.key) for k in keys] if more else None)


def metric_values(session: Session, principal: Principal, *, brand_id: int | None = None,
                  metric_id: int | None = None, section_id: int | None = None, period_from: date | None = None,
                  period_to: date | None = None, cursor: list[Any] | None = None, limit: int = 100
                  ) -> tuple[list[Any], list[Any] | None]:
    """A page of raw values the principal may read (metrics:read), ordered by brand, metric, period.

    Returns (rows, next cursor or None); a cursor is [brand_id, metric_id, period ISO].
    """
    stmt = (select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.period, MetricValue.raw_value,
                   MetricValue.source, MetricValue.updated_at)
            .where(scope_filter(principal, METRICS_READ, MetricValue)))
    if brand_id is not None:
        stmt = stmt.where(MetricValue.brand_id == brand_id)
    if metric_id is not None:
        stmt = stmt.where(MetricValue.metric_id == metric_id)
    if section_id is not None:
        stmt = stmt.where(MetricValue.metric_id.in_(
            select(Metric.id).join(Platform, Platform.id == Metric.platform_id)
            .where(Platform.section_id == section_id)))
    if period_from is not None:
        stmt = stmt.where(MetricValue.period >= period_from)
    if period_to is not None:
        stmt = stmt.where(MetricValue.period <= period_to)
    if cursor is not None:
        cursor = [int(cursor[0]), int(cursor[1]), date.fromisoformat(str(cursor[2]))]
    rows, nxt = _page(session, stmt, [MetricValue.brand_id, MetricValue.metric_id, MetricValue.period], cursor, limit)
    return rows, ([nxt[0], nxt[1], nxt[2].isoformat()] if nxt else None)


def scores(session: Session, principal: Principal, *, project_id: int, brand_id: int | None = None,
           level: str = "total", period_from: date | None = None, period_to: date | None = None,
           cursor: list[Any] | None = None, limit: int = 100) -> tuple[list[Any], list[Any] | None]:
    """A page of materialized DC scores the principal may see (portfolio:read), by period, brand, node."""
    stmt = (select(DCScore.project_id, DCScore.period, DCScore.brand_id, DCScore.level, DCScore.node_id,
                   DCScore.score, DCScore.coverage)
            .where(DCScore.project_id == project_id, DCScore.level == level, scope_filter(principal, READ, DCScore)))
    if brand_id is not None:
        stmt = stmt.where(DCScore.brand_id == brand_id)
    if period_from is not None:
        stmt = stmt.where(DCScore.period >= period_from)
    if period_to is not None:
        stmt = stmt.where(DCScore.period <= period_to)
    if cursor is not None:
        cursor = [date.fromisoformat(str(cursor[0])), int(cursor[1]), int(cursor[2])]
    rows, nxt = _page(session, stmt, [DCScore.period, DCScore.brand_id, DCScore.node_id], cursor, limit)
    return rows, ([nxt[0].isoformat(), nxt[1], nxt[2]] if nxt else None)


def response_curves(session: Session, principal: Principal, brand_id: int, kind: str = "fitted"
                    ) -> list[dict[str, Any]] | None:
    """The brand's stored curves (newest per channel), or None when the brand is not visible."""
    if not brands(session, principal, brand_id):
        return None
    rows = session.execute(
        join_channel(select(Channel.name, ResponseCurve.params, ResponseCurve.diagnostics, ResponseCurve.fitted_at),
                     ResponseCurve)
        .where(ResponseCurve.brand_id == brand_id, ResponseCurve.kind == kind,
               scope_filter(principal, BRAND_READ, ResponseCurve), scope_filter(principal, BRAND_READ, Channel))
        .order_by(ResponseCurve.fitted_at, ResponseCurve.id)
    ).all()
    latest = {r.name: r for r in rows}
    return [{"channel": name, "params": r.params or {}, "diagnostics": r.diagnostics or {},
             "fitted_at": r.fitted_at} for name, r in sorted(latest.items())]
