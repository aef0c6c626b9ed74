"""The rules that raise alerts on outcomes, run after every import and every refit of an organization.

Four rules, each about one own brand (so an alert is read by whoever may read that brand):
- score_drop: its DC score fell by at least the organization's threshold month on month;
- anomaly: a metric's latest change breaks with the brand's history (the portfolio page's robust z);
- overtaken: a competitor that scored below it last month scores above it now;
- marginal_roas: a channel's marginal ROAS at last year's spend is below the organization's floor T
  (the setting `alert_roas_floor`, core.settings; 1.0 unless changed: the next unit of money there
  returns less than it costs).

Each finding has a key (rule, project, brand, month or channel, ...) that is unique in the
organization, so running the rules again after another import raises nothing twice.

The rules read every level; an anomaly alert carries its metric's level (the higher of the metric's and
its section's), the others — DC totals and spend — are internal, like the totals on the pages. The inbox
and the digest read alerts through the scope filter, which leaves out levels above the reader's clearance.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.budget_cells import PERIODS_PER_YEAR, last_year_spend
from core.classification import DEFAULT
from core.classified import metric_levels
from core.db import Database
from core.formatting import compact, signed
from core.models import Alert, Brand, Project, ProjectBrand
from core.portfolio import brand_ranking, project_periods
from core.portfolio_alerts import metric_anomalies, score_drop_alerts
from core.response_curves import stored_curves
from core.security.permissions import Permission
from core.security.principal import Principal
from core.settings import alert_defaults, alert_roas_floor, organization_units

log = logging.getLogger(__name__)

KINDS = {"score_drop": "DC score drop", "anomaly": "Metric anomaly", "overtaken": "Overtaken by a competitor",
         "marginal_roas": "Marginal ROAS below T"}  # T: the organization's floor, shown in each alert's words
# Cleared for every level: an alert carries the level of what it tells, and the inbox's scope filter hides
# it from whoever may not read that level (core.security.authorizer.level_filter).
_READ = frozenset(p.value for p in (Permission.PORTFOLIO_READ, Permission.BRAND_READ, Permission.METRICS_READ,
                                    Permission.SCENARIO_READ, Permission.READ_CONFIDENTIAL,
                                    Permission.READ_RESTRICTED))


def _reader(db: Database, organization_id: int) -> Principal:
    """The rules read the whole organization, as an organization-wide reader would."""
    return Principal(user_id=None, organization_id=organization_id, organizations={organization_id: _READ}, db=db)


def _href(brand_id: int, project_id: int) -> str:
    return f"/brand?brand={int(brand_id)}&project={int(project_id)}"


def _month(period: Any) -> str:
    return f"{period:%B %Y}" if isinstance(period, date) else str(period)


def _project_findings(conn: Connection, reader: Principal, project_id: int, project: str,
                      drop: float, z: float) -> list[dict[str, Any]]:
    ranking = brand_ranking(conn, reader, project_id)
    if ranking.empty:
        return []
    period = project_periods(conn, reader, project_id)[-1]
    anomalies = metric_anomalies(conn, reader, project_id, period, z_threshold=z)
    levels = metric_levels(conn, reader.organization_id) if not anomalies.empty else {}
    out = []
    for row in score_drop_alerts(ranking, drop).itertuples():
        out.append({"kind": "score_drop", "brand_id": row.brand_id, "key": f"{project_id}:{row.brand_id}:{period}",
                    "title": f"{row.brand}: DC score fell {signed(row.change_1m)} to {row.score:.1f}",
                    "detail": f"In {project}, month on month (alert at a drop of {drop:g} points or more)."})
    for row in anomalies.itertuples():
        out.append({"kind": "anomaly", "brand_id": row.brand_id, "level": levels.get(int(row.metric_id)),
                    "key": f"{project_id}:{row.brand_id}:{row.metric_id}:{period}",
                    "title": f"{row.brand}: {row.metric} broke with its history",
                    "detail": f"{compact(row.previous)} → {compact(row.value)} in {_month(row.period)} where about "
                              f"{compact(row.typical)} was usual (robust z {signed(row.z)}) · {project}"})
    ranking = ranking.assign(previous=ranking["score"] - ranking["change_1m"])
    rivals = ranking[ranking["role"] != "own"]
    for own in ranking[ranking["role"] == "own"].itertuples():
        passed = rivals[(rivals["previous"] < own.previous) & (rivals["score"] > own.score)]
        for rival in passed.itertuples():
            out.append({"kind": "overtaken", "brand_id": own.brand_id,
                        "key": f"{project_id}:{own.brand_id}:{rival.brand_id}:{period}",
                        "title": f"{rival.brand} overtook {own.brand}",
                        "detail": f"DC score {rival.score:.1f} against {own.score:.1f}; last month "
                                  f"{rival.previous:.1f} against {own.previous:.1f} · {project}"})
    for finding in out:
        finding.update(project_id=project_id, period=period, link=_href(finding["brand_id"], project_id))
    return out


def _roas_findings(conn: Connection, organization_id: int) -> list[dict[str, Any]]:
    """Own brands' fitted channels whose marginal ROAS at last year's spend rate is below the floor T (one
    alert per channel and fitted curve: a refit that leaves it below says so again; a higher floor raises
    the channels it newly catches, never again the ones already raised)."""
    units = organization_units(conn, organization_id)
    floor = alert_roas_floor(conn, organization_id)
    out = []
    with Session(bind=conn) as s:
        brands = dict(s.execute(select(Brand.id, Brand.name).where(Brand.organization_id == organization_id)).all())
        spend = last_year_spend(s, list(brands)) if brands else None
        for brand_id, name in brands.items():
            curves = stored_curves(s, brand_id, "fitted")
            if not curves or spend is None or brand_id not in spend.granularity:
                continue
            periods = PERIODS_PER_YEAR[spend.granularity[brand_id]]
            for channel, (params, _diag) in sorted(curves.items()):
                annual = spend.annual.get((brand_id, channel), 0.0)
                if annual <= 0:
                    continue
                marginal = float(params.marginal(annual / periods))
                if marginal < floor:
                    out.append({"kind": "marginal_roas", "brand_id": brand_id, "project_id": None, "period": None,
                                "key": f"{brand_id}:{channel}:{params.beta:.6g}:{params.half_saturation:.6g}",
                                "title": f"{name}: {channel}'s marginal ROAS is {units.roas(marginal)}",
                                "detail": f"At last year's {units.money(annual)}, the next {units.money(1)} on "
                                          f"{channel} returns {units.roas(marginal).split(' per ')[0]}, below the "
                                          f"floor of {floor:g} your organization set. The Budget optimizer shows "
                                          "where it earns more.",
                                "link": f"/models?brand={brand_id}"})
    return out


def _insert(conn: Connection, organization_id: int, findings: list[dict[str, Any]]) -> int:
    """Insert the findings whose key is new in the organization; the number inserted."""
    if not findings:
        return 0
    rows = [{"organization_id": organization_id, "brand_id": int(f["brand_id"]), "project_id": f["project_id"],
             "kind": f["kind"], "dedup_key": f"{f['kind']}:{f['key']}"[:300], "title": f["title"][:300],
             "detail": f["detail"], "link": f["link"], "period": f["period"],
             "classification": f.get("level") or DEFAULT.value} for f in findings]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(Alert).values(rows)
            .on_conflict_do_nothing(index_elements=["organization_id", "dedup_key"]).returning(Alert.id))
    return len(conn.execute(stmt).all())  # psycopg's rowcount of a multi-row insert is -1


def evaluate(db: Database, organization_id: int) -> int:
    """Run every rule for the organization; new alerts are stored, known ones skipped. Returns how many are new."""
    reader = _reader(db, organization_id)
    with db.engine.begin() as conn:
        drop, z = alert_defaults(conn, organization_id)
        projects = conn.execute(select(Project.id, Project.name).where(Project.organization_id == organization_id)
                                .where(Project.id.in_(select(ProjectBrand.project_id)))).all()
        findings = [f for p in projects for f in _project_findings(conn, reader, p.id, p.name, drop, z)]
        findings += _roas_findings(conn, organization_id)
        return _insert(conn, organization_id, findings)


def evaluate_quietly(db: Database, organization_id: int | None) -> None:
    """`evaluate` after an import or a refit: a rule that fails is logged, never fails the work that ran it."""
    if organization_id is None:
        return
    try:
        added = evaluate(db, organization_id)
        if added:
            log.info("alerts: %d new for organization %s", added, organization_id)
    except Exception:  # the import or fit has committed; its alerts can come next time
        log.exception("alerts: the rules failed for organization %s", organization_id)
