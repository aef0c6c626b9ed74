"""Read models for the portfolio views: projects, periods, brand rankings and score trends.

Pages call these; they hold the SQL so pages hold none. Every query is narrowed by the scope
filter of the principal asking: a person granted one brand sees that brand's rows, and the
averages shown are computed over what they may see, never over rows hidden from them.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, case, func, select

from core.classification import Classification, highest
from core.classified import readable_metric_ids
from core.formatting import signed
from core.frames import rows_frame
from core.models import (
    Brand,
    DCScore,
    Metric,
    Organization,
    Outcome,
    Platform,
    Project,
    ProjectBrand,
    Section,
    Spend,
)
from core.read_cache import cached_read
from core.scoring.engine import effective_weights
from core.scoring.service import load_inputs
from core.security import Principal, scope_filter

READ = "portfolio:read"
RANKING_COLUMNS = ["brand_id", "brand", "role", "rank", "score", "coverage", "change_1m", "change_12m"]


def _project_visibility(principal: Principal):
    """Projects the principal may read whole, or that hold a brand granted to them directly.

    The same rule as the DC scores' scope filter: a project grant also lets its holder read the
    project's brands, but not those brands' scores in other projects, so such projects are not listed
    (they would open empty).
    """
    scopes = principal.scopes(READ)
    if scopes.everywhere or not scopes.direct_brands:
        return scope_filter(principal, READ, Project)
    brands = select(ProjectBrand.project_id).where(ProjectBrand.brand_id.in_(scopes.direct_brands))
    return scope_filter(principal, READ, Project) | Project.id.in_(brands)


def project_visibility(principal: Principal):
    """The WHERE clause of projects the principal can see some of (shared with the API's reads)."""
    return _project_visibility(principal)


@cached_read(scoped=False)
def metric_catalogue(conn: Connection, organization_id: int) -> pd.DataFrame:
    """One organization's metric framework with names, units, ranges, weights, descriptions and each
    metric's section/platform (index metric_id).

    Whoever may read something of the organization may read its framework (names, not data), so it
    takes the organization rather than a principal; callers pass the organization of a brand or
    project they were allowed to read.
    """
    rows = conn.execute(
        select(Metric.id, Metric.code, Metric.name, Metric.unit, Metric.direction, Metric.min_value, Metric.max_value,
               Platform.id, Platform.name, Section.id, Section.name, Section.position, Metric.weight,
               Metric.description, Metric.classification, Section.classification)
        .join(Platform, Platform.id == Metric.platform_id)
        .join(Section, Section.id == Platform.section_id)
        .where(Section.organization_id == int(organization_id))
        .order_by(Section.position, Section.id, Platform.name, Metric.id)
    ).all()
    columns = ["metric_id", "code", "metric", "unit", "direction", "min_value", "max_value", "platform_id", "platform",
               "section_id", "section", "section_position", "weight", "description", "metric_level", "section_level"]
    frame = rows_frame(rows, columns).set_index("metric_id")
    # The level a metric's values read at: the higher of its own and its section's (core.classified).
    frame["classification"] = [highest(pair).value for pair in zip(frame["metric_level"], frame["section_level"],
                                                                    strict=True)]
    return frame.drop(columns=["metric_level", "section_level"])


def brand_catalogue(conn: Connection, brand_id: int) -> pd.DataFrame:
    """`metric_catalogue` of the brand's organization (empty for an unknown brand)."""
    org = conn.execute(select(Brand.organization_id).where(Brand.id == int(brand_id))).scalar()
    return metric_catalogue(conn, -1 if org is None else int(org))


def _pair_visible(principal: Principal, permission: str):
    """EXISTS a DC score of the (project, brand) pair that the principal may see with `permission`."""
    return (
        select(DCScore.project_id)
        .where(DCScore.project_id == ProjectBrand.project_id, DCScore.brand_id == ProjectBrand.brand_id,
               DCScore.level == "total", scope_filter(principal, permission, DCScore))
        .exists()
    )


@cached_read()
def own_brand_pairs(conn: Connection, principal: Principal, permission: str, *,
                    brand_first: bool = True) -> pd.DataFrame:
    """Own brand × project pairs the principal may use with `permission`, ordered for selectors.

    Columns: brand_id, brand, project_id, project, organization.
    """
    order = (Organization.name, Brand.name, Project.name) if brand_first else \
        (Organization.name, Project.name, Brand.name)
    rows = conn.execute(
        select(Brand.id, Brand.name, Project.id, Project.name, Organization.name)
        .join(ProjectBrand, ProjectBrand.brand_id == Brand.id)
        .join(Project, Project.id == ProjectBrand.project_id)
        .join(Organization, Organization.id == Project.organization_id)
        .where(ProjectBrand.role == "own", scope_filter(principal, permission, Brand),
               _pair_visible(principal, permission))
        .order_by(*order)
    ).all()
    return rows_frame(rows, ["brand_id", "brand", "project_id", "project", "organization"])


@cached_read()
def can_use_pair(conn: Connection, principal: Principal, permission: str, brand_id, project_id) -> bool:
    """Whether (brand, project) is one of `own_brand_pairs` (ids straight from a browser are fine)."""
    try:
        brand_id, project_id = int(brand_id), int(project_id)
    except (TypeError, ValueError):
        return False
    stmt = (
        select(ProjectBrand.brand_id)
        .join(Brand, Brand.id == ProjectBrand.brand_id)
        .where(ProjectBrand.brand_id == brand_id, ProjectBrand.project_id == project_id, ProjectBrand.role == "own",
               scope_filter(principal, permission, Brand), _pair_visible(principal, permission))
    )
    return conn.execute(stmt).first() is not None


@cached_read()
def list_projects(conn: Connection, principal: Principal) -> list[dict]:
    """Projects the principal can see some of, with their organization, ordered for a selector.

    Archived organizations are left out (the context bar offers only live ones)."""
    rows = conn.execute(
        select(Project.id, Project.name, Project.organization_id, Organization.name.label("organization"))
        .join(Organization)
        .where(_project_visibility(principal), Organization.archived_at.is_(None))
        .order_by(Organization.name, Project.name)
    ).mappings()
    return [dict(r) for r in rows]


@cached_read()
def can_view_project(conn: Connection, principal: Principal, project_id: int) -> bool:
    """Whether any part of the project is visible to the principal (ids from a browser included)."""
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        return False
    stmt = select(Project.id).where(Project.id == project_id, _project_visibility(principal))
    return conn.execute(stmt).first() is not None


@cached_read()
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


@cached_read()
def brand_ranking(conn: Connection, principal: Principal, project_id: int, period: date | None = None) -> pd.DataFrame:
    """One row per brand for `period` (default: latest): DC score, changes, coverage, sections.

    Columns: brand_id, brand, role, rank, score, coverage, change_1m, change_12m, and one column per
    section name. Sorted best first.
    """
    if period is None:
        periods = project_periods(conn, principal, project_id)
        if not periods:
            return pd.DataFrame(columns=RANKING_COLUMNS)
        period = periods[-1]
    wanted = [period, _shift_months(period, -1), _shift_months(period, -12)]
    rows = conn.execute(
        select(DCScore.brand_id, DCScore.period, DCScore.level, DCScore.node_id, DCScore.score, DCScore.coverage)
        .where(DCScore.project_id == project_id, DCScore.period.in_(wanted), DCScore.level.in_(["total", "section"]),
               scope_filter(principal, READ, DCScore))
    ).all()
    scores = rows_frame(rows, ["brand_id", "period", "level", "node_id", "score", "coverage"])
    if scores.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    # One score per (brand, period) and per (brand, section) in a period: plain pivots, nothing to aggregate.
    total = scores[scores.level == "total"].pivot(index="brand_id", columns="period", values="score")
    total = total.reindex(columns=wanted)
    current = scores[(scores.level == "total") & (scores.period == period)].set_index("brand_id")
    out = current[["score", "coverage"]].copy()
    out["change_1m"] = out["score"] - total[wanted[1]]
    out["change_12m"] = out["score"] - total[wanted[2]]
    sections = dict(conn.execute(  # the project's organization's sections only
        select(Section.id, Section.name).join(Project, Project.organization_id == Section.organization_id)
        .where(Project.id == project_id).order_by(Section.position, Section.id)).all())
    sec = scores[(scores.level == "section") & (scores.period == period)]
    sec = sec.pivot(index="brand_id", columns="node_id", values="score").rename(columns=sections)
    out = out.join(sec[[c for c in sections.values() if c in sec.columns]])
    names = rows_frame(
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


@cached_read()
def score_trend(conn: Connection, principal: Principal, project_id: int, brand_ids: list[int], *,
                own_average: bool = False) -> pd.DataFrame:
    """DC score per period for the given brands, plus the average of the competitors visible to
    the principal (brand_id 0) and, with `own_average`, of the own brands visible (brand_id −1,
    the portfolio line an executive reads first). Columns: period, brand_id, brand, score.
    """
    visible = scope_filter(principal, READ, DCScore)
    rows = conn.execute(
        select(DCScore.period, DCScore.brand_id, Brand.name, DCScore.score)
        .join(Brand, Brand.id == DCScore.brand_id)
        .where(DCScore.project_id == project_id, DCScore.level == "total", DCScore.brand_id.in_(brand_ids), visible)
        .order_by(DCScore.period)
    ).all()
    trend = rows_frame(rows, ["period", "brand_id", "brand", "score"])
    roles = ["competitor", "own"] if own_average else ["competitor"]
    avg = conn.execute(
        select(DCScore.period, ProjectBrand.role, func.avg(DCScore.score))
        .join(
            ProjectBrand,
            (ProjectBrand.brand_id == DCScore.brand_id) & (ProjectBrand.project_id == DCScore.project_id),
        )
        .where(DCScore.project_id == project_id, DCScore.level == "total", ProjectBrand.role.in_(roles), visible)
        .group_by(DCScore.period, ProjectBrand.role)
        .order_by(DCScore.period)
    ).all()
    if avg:
        averages = rows_frame(avg, columns=["period", "role", "score"])
        averages["brand_id"] = np.where(averages["role"] == "own", -1, 0)
        averages["brand"] = np.where(averages["role"] == "own", "Own brands' average", "Competitor average")
        averages = averages.sort_values(["brand_id", "period"], ascending=[False, True])
        parts = [frame for frame in (trend, averages[trend.columns]) if len(frame)]
        trend = pd.concat(parts, ignore_index=True) if parts else trend
    return trend


def _as_date(value) -> date:
    return pd.Timestamp(value).date()


def _own_in_scope(principal: Principal, project_id: int, model) -> tuple:
    """WHERE clauses for rows of `model` (keyed by brand_id) of the project's own brands in scope."""
    own = select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id, ProjectBrand.role == "own")
    return model.brand_id.in_(own), scope_filter(principal, READ, model)


@cached_read()
def financials(conn: Connection, principal: Principal, project_id: int, period: date | None = None) -> pd.DataFrame:
    """Spend, revenue and ROI of the own brands in scope: the 12 months up to `period` (default: the
    latest scored month) against the 12 months before, one row per brand.

    Columns: brand_id, spend, revenue, roi, spend_prev, revenue_prev, roi_prev, and the window in
    `attrs` (start, end, prev_start; end exclusive). ROI is revenue per unit of spend. A weekly row
    counts in the window its week starts in: spend and revenue are both weekly, so they stay aligned.
    Two grouped queries, whatever the number of brands.
    """
    if period is None:
        periods = project_periods(conn, principal, project_id)
        if not periods:
            return pd.DataFrame(columns=["brand_id", "spend", "revenue", "roi", "spend_prev", "revenue_prev",
                                         "roi_prev"])
        period = periods[-1]
    period = _as_date(period)
    end = _shift_months(period.replace(day=1), 1)
    start, prev_start = _shift_months(end, -12), _shift_months(end, -24)
    totals = []
    for model, column in ((Spend, Spend.amount), (Outcome, Outcome.revenue)):
        # Both windows per brand in one grouped row (NULL when a window has no rows).
        rows = conn.execute(
            select(model.brand_id, func.sum(case((model.period >= start, column))),
                   func.sum(case((model.period < start, column))))
            .where(model.period >= prev_start, model.period < end, *_own_in_scope(principal, project_id, model))
            .group_by(model.brand_id)
        ).all()
        frame = rows_frame(rows, ["brand_id", "current", "previous"]).set_index("brand_id").sort_index()
        totals.append(frame.astype(float))
    spend, revenue = totals
    out = pd.DataFrame({
        "spend": spend["current"], "revenue": revenue["current"],
        "spend_prev": spend["previous"], "revenue_prev": revenue["previous"],
    })
    out["roi"] = out["revenue"] / out["spend"].where(out["spend"] > 0)
    out["roi_prev"] = out["revenue_prev"] / out["spend_prev"].where(out["spend_prev"] > 0)
    out = out.rename_axis("brand_id").reset_index()
    out = out[["brand_id", "spend", "revenue", "roi", "spend_prev", "revenue_prev", "roi_prev"]]
    out.attrs.update(start=start, end=end, prev_start=prev_start)
    return out


def financial_totals(per_brand: pd.DataFrame) -> dict[str, float | None]:
    """Portfolio spend, revenue and ROI (sum of revenue over sum of spend, not a mean of ratios)."""
    def total(column: str) -> float | None:
        values = per_brand[column].dropna() if column in per_brand else pd.Series(dtype=float)
        return float(values.sum()) if len(values) else None

    out = {c: total(c) for c in ("spend", "revenue", "spend_prev", "revenue_prev")}
    out["roi"] = out["revenue"] / out["spend"] if out["revenue"] is not None and out["spend"] else None
    out["roi_prev"] = (out["revenue_prev"] / out["spend_prev"]
                       if out["revenue_prev"] is not None and out["spend_prev"] else None)
    return out


def section_columns(ranking: pd.DataFrame) -> list[str]:
    """The section-score columns of a `brand_ranking` frame, in catalogue order."""
    return [c for c in ranking.columns if c not in RANKING_COLUMNS]


def section_matrix(ranking: pd.DataFrame) -> pd.DataFrame:
    """Brand × section scores for a heatmap: own brands first, each group best first."""
    order = ranking.assign(_own=ranking["role"] != "own").sort_values(["_own", "score"], ascending=[True, False])
    return order.set_index("brand")[section_columns(ranking)]


def section_comparison(ranking: pd.DataFrame) -> pd.DataFrame:
    """Per section: mean score of the own brands, of the competitors, and the gap (own − competitors).

    Computed over the brands the principal may see, like every average on the page.
    """
    sections = section_columns(ranking)
    means = ranking[ranking["role"].isin(["own", "competitor"])].groupby("role")[sections].mean()
    means = means.reindex(["own", "competitor"]).T
    means.columns = ["own", "competitor"]
    means["gap"] = means["own"] - means["competitor"]
    return means.rename_axis("section").reset_index()


@cached_read(scoped=False)
def score_drivers(conn: Connection, project_id: int, brand_ids: list[int], period_from: date,
                  period_to: date, clearance: str = Classification.RESTRICTED.value) -> pd.DataFrame:
    """For each brand, the metric that moved its DC score most in the direction it moved, and the one
    that pulled hardest against it.

    Uses the engine's linear roll-up (DC = Σ e·norm), so contributions are exact and sum to the
    brand's change, for all brands at once from one load of the two periods. The driver is the
    largest contribution with the sign of the total change (a rise is never explained by a metric
    that fell); `against_*` is the largest contribution of the other sign, for "despite …" (NaN
    when no metric pulled against). Only the given brands (the ones the caller may see) are
    returned; competitors' values enter through normalization only, as in the stored score.
    Metrics classified above `clearance` (the reader's, `Principal.clearance`) are never named: the
    driver is the largest readable contribution.
    Columns: brand_id, metric_id, metric, contribution, against_metric, against_contribution.
    """
    columns = ["brand_id", "metric_id", "metric", "contribution", "against_metric", "against_contribution"]
    empty = pd.DataFrame(columns=columns)
    if not brand_ids:
        return empty
    inputs = load_inputs(conn, [project_id], periods=[period_from, period_to])
    if inputs.values.empty:
        return empty
    frame = effective_weights(inputs)
    frame = frame[frame["brand_id"].isin(brand_ids)]
    to = (pd.to_datetime(frame["period"]) == pd.Timestamp(period_to)).to_numpy()
    # e·norm in `to` minus e·norm in `from`; one value per brand × metric × period, so the signed
    # sum is exactly the difference (a metric missing in one period counts 0 there).
    signed = np.where(to, 1.0, -1.0) * frame["e"].to_numpy() * frame["norm"].to_numpy()
    contribution = (pd.Series(signed, index=pd.MultiIndex.from_frame(frame[["brand_id", "metric_id"]]))
                    .groupby(level=[0, 1]).sum().rename("contribution").reset_index())
    if Classification(clearance) is not Classification.RESTRICTED:
        readable_ids = readable_metric_ids(conn, contribution["metric_id"], clearance)
        contribution = contribution[contribution["metric_id"].isin(readable_ids)].reset_index(drop=True)
    if contribution.empty:
        return empty
    direction = np.sign(contribution.groupby("brand_id")["contribution"].transform("sum"))
    # Along the move: the largest contribution of the move's sign (the largest in size for no move).
    along = contribution["contribution"] * direction.where(direction != 0, np.sign(contribution["contribution"]))
    top = contribution.loc[along.groupby(contribution["brand_id"]).idxmax()]
    against = contribution[(np.sign(contribution["contribution"]) == -direction) & (direction != 0)]
    against = against.loc[against["contribution"].abs().groupby(against["brand_id"]).idxmax()]
    metric_ids = {int(m) for m in top["metric_id"]} | {int(m) for m in against["metric_id"]}
    names = dict(conn.execute(select(Metric.id, Metric.name).where(Metric.id.in_(metric_ids))).all())
    top = top.assign(metric=top["metric_id"].map(names))
    against = against.assign(against_metric=against["metric_id"].map(names),
                             against_contribution=against["contribution"])[
        ["brand_id", "against_metric", "against_contribution"]]
    out = top.merge(against, on="brand_id", how="left")
    return out[columns].reset_index(drop=True)


def mover_reason(row: dict) -> str:
    """"mostly <metric> (+0.3)", with ", despite <metric> (−0.1)" when a metric pulled visibly the other way.

    `row` carries score_drivers' columns; "" when the brand has no driver (no values in one month).
    """
    if not isinstance(row.get("metric"), str):
        return ""
    text = f"mostly {row['metric']} ({signed(row['contribution'])})"
    against = row.get("against_contribution")
    if isinstance(row.get("against_metric"), str) and against is not None and abs(against) >= 0.05:
        text += f", despite {row['against_metric']} ({signed(against)})"
    return text


def movers(ranking: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The n brands whose DC score moved most month on month (either way), largest move first."""
    moved = ranking.dropna(subset=["change_1m"])
    order = moved["change_1m"].abs().sort_values(ascending=False, kind="stable").index
    return moved.loc[order[:n], ["brand_id", "brand", "role", "score", "change_1m"]].reset_index(drop=True)
