"""The read models as they were before the dashboard performance work, kept as test oracles.

The faster versions in `core` (numpy on integer group codes instead of pandas groupby, packed
reads) must return the same numbers; tests compare them with these on real data.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, case, func, select

from core import portfolio as pf
from core import portfolio_alerts as alerts
from core.frames import rows_frame
from core.models import Brand, DCScore, Metric, MetricValue, Outcome, Project, ProjectBrand, Section, Spend
from core.scoring import engine
from core.scoring.service import SCORE_COLUMNS
from core.security import Principal, scope_filter


def stored_scores(conn: Connection, project_id: int, level: str = "total", brand_ids: list[int] | None = None,
                  periods: list[date] | None = None) -> pd.DataFrame:
    """The materialized DC-score rows of one project as a frame, read straight from the table."""
    stmt = select(*(getattr(DCScore, c) for c in SCORE_COLUMNS)).where(
        DCScore.project_id == project_id, DCScore.level == level)
    if brand_ids is not None:
        stmt = stmt.where(DCScore.brand_id.in_(brand_ids))
    if periods is not None:
        stmt = stmt.where(DCScore.period.in_(periods))
    return pd.DataFrame(conn.execute(stmt).all(), columns=SCORE_COLUMNS)


def effective_weights_before(inputs: engine.ScoreInputs) -> pd.DataFrame:
    """Per value row: its normalized value `norm` and effective weight `e` (DC = Σ e·norm)."""
    frame = engine._attach_catalogue(inputs)
    frame["norm"] = engine.normalize(frame, frame["lower"].to_numpy(), engine._methods(inputs))
    brand = ["project_id", "period", "brand_id"]
    g_platform = frame.groupby([*brand, "platform_id"], sort=False)["w_metric"].transform("sum")
    # Each present platform and section counted once when summing their weights.
    plat = frame.drop_duplicates([*brand, "platform_id"])
    sec_w = plat.groupby([*brand, "section_id"], sort=False)["w_platform"].sum().rename("w_platforms")
    sect = plat.drop_duplicates([*brand, "section_id"])
    tot_w = sect.groupby(brand, sort=False)["w_section"].sum().rename("w_sections")
    frame = frame.join(sec_w, on=[*brand, "section_id"]).join(tot_w, on=brand)
    frame["e"] = (
        frame["w_metric"] / g_platform
        * frame["w_platform"] / frame["w_platforms"]
        * frame["w_section"] / frame["w_sections"]
    )
    return frame.drop(columns=["w_platforms", "w_sections"])


def metric_anomalies_before(conn: Connection, principal: Principal, project_id: int, period: date | None = None,
                     z_threshold: float = alerts.ANOMALY_Z) -> pd.DataFrame:
    """Metric values of the own brands in scope whose latest month breaks with the brand's history.

    The test is a robust z-score (Iglewicz–Hoaglin: median and 1.4826·MAD, mean absolute deviation
    when the MAD is 0) of the latest month-on-month change against the brand's earlier monthly
    changes of that metric. Changes, not levels: metric series trend, and the level of a trending
    series sits far from its own median without anything unusual happening. Changes are taken on a
    log scale for series that are always positive (counts and money grow multiplicatively).

    Columns: brand_id, brand, metric_id, metric, unit, direction, period, value, previous, typical
    (the value the usual change would have given), z. Sorted by |z|, largest first.
    """
    columns = ["brand_id", "brand", "metric_id", "metric", "unit", "direction", "period", "value", "previous",
               "typical", "z"]
    if period is None:
        periods = pf.project_periods(conn, principal, project_id)
        if not periods:
            return pd.DataFrame(columns=columns)
        period = periods[-1]
    period = pd.Timestamp(period).date()
    rows = conn.execute(
        select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.period, MetricValue.raw_value)
        .where(MetricValue.period <= period, *pf._own_in_scope(principal, project_id, MetricValue))
    ).all()
    values = rows_frame(rows, ["brand_id", "metric_id", "period", "value"])
    if values.empty:
        return pd.DataFrame(columns=columns)
    values["period"] = pd.to_datetime(values["period"])
    values = values.sort_values(["brand_id", "metric_id", "period"], ignore_index=True)
    keys = ["brand_id", "metric_id"]
    values["positive"] = values.groupby(keys)["value"].transform("min") > 0
    values["y"] = np.where(values["positive"], np.log(values["value"].where(values["positive"], 1.0)),
                           values["value"])
    values["month"] = values["period"].dt.year * 12 + values["period"].dt.month
    grouped = values.groupby(keys)
    values["previous"] = grouped["value"].shift(1)
    values["change"] = values["y"] - grouped["y"].shift(1)
    # A change counts only between consecutive months; a gap in the series is not a month's move.
    values.loc[(values["month"] - grouped["month"].shift(1)).ne(1), "change"] = np.nan
    latest = pd.Timestamp(period)
    history = values[(values["period"] < latest) & values["change"].notna()]
    stats = history.groupby(keys)["change"].agg(median="median", count="count")
    deviation = (history["change"] - history[keys].join(stats, on=keys)["median"]).abs()
    spread = deviation.groupby([history["brand_id"], history["metric_id"]]).agg(["median", "mean"])
    stats["scale"] = np.where(spread["median"] > 0, 1.4826 * spread["median"], 1.2533 * spread["mean"])
    current = values[(values["period"] == latest) & values["change"].notna()].join(stats, on=keys, how="inner")
    current = current[(current["count"] >= alerts.MIN_HISTORY) & (current["scale"] > 0)]
    current = current.assign(z=(current["change"] - current["median"]) / current["scale"])
    found = current[current["z"].abs() >= z_threshold].copy()
    found["typical"] = np.where(found["positive"], found["previous"] * np.exp(found["median"]),
                                found["previous"] + found["median"])
    meta = pd.DataFrame(
        conn.execute(select(Metric.id, Metric.name, Metric.unit, Metric.direction)).all(),
        columns=["metric_id", "metric", "unit", "direction"],
    )
    names = pd.DataFrame(conn.execute(select(Brand.id, Brand.name).where(Brand.id.in_(found["brand_id"].tolist())))
                         .all(), columns=["brand_id", "brand"])
    found = found.merge(meta, on="metric_id").merge(names, on="brand_id")
    found["period"] = found["period"].dt.date
    order = found["z"].abs().sort_values(ascending=False, kind="stable").index
    return found.loc[order, columns].reset_index(drop=True)


def brand_ranking_before(conn: Connection, principal: Principal, project_id: int,
                         period: date | None = None) -> pd.DataFrame:
    """One row per brand for `period` (default: latest): DC score, changes, coverage, sections.

    Columns: brand_id, brand, role, rank, score, coverage, change_1m, change_12m, and one column per
    section name. Sorted best first.
    """
    periods = pf.project_periods(conn, principal, project_id)
    if not periods:
        return pd.DataFrame(columns=pf.RANKING_COLUMNS)
    period = period or periods[-1]
    wanted = [period, pf._shift_months(period, -1), pf._shift_months(period, -12)]
    rows = conn.execute(
        select(DCScore.brand_id, DCScore.period, DCScore.level, DCScore.node_id, DCScore.score, DCScore.coverage)
        .where(DCScore.project_id == project_id, DCScore.period.in_(wanted), DCScore.level.in_(["total", "section"]),
               scope_filter(principal, pf.READ, DCScore))
    ).all()
    scores = rows_frame(rows, ["brand_id", "period", "level", "node_id", "score", "coverage"])
    total = scores[scores.level == "total"].pivot_table(index="brand_id", columns="period", values="score")
    total = total.reindex(columns=wanted)
    current = scores[(scores.level == "total") & (scores.period == period)].set_index("brand_id")
    out = current[["score", "coverage"]].copy()
    out["change_1m"] = out["score"] - total[wanted[1]]
    out["change_12m"] = out["score"] - total[wanted[2]]
    # The project's organization's framework (migration 0014: one per organization).
    sections = dict(conn.execute(select(Section.id, Section.name).join(Project, Project.organization_id ==
                                                                       Section.organization_id)
                                 .where(Project.id == project_id).order_by(Section.position, Section.id)).all())
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


def financials_before(conn: Connection, principal: Principal, project_id: int,
                      period: date | None = None) -> pd.DataFrame:
    """Spend, revenue and ROI of the own brands in scope: the 12 months up to `period` (default: the
    latest scored month) against the 12 months before, one row per brand.

    Columns: brand_id, spend, revenue, roi, spend_prev, revenue_prev, roi_prev, and the window in
    `attrs` (start, end, prev_start; end exclusive). ROI is revenue per unit of spend. A weekly row
    counts in the window its week starts in: spend and revenue are both weekly, so they stay aligned.
    Two grouped queries, whatever the number of brands.
    """
    if period is None:
        periods = pf.project_periods(conn, principal, project_id)
        if not periods:
            return pd.DataFrame(columns=["brand_id", "spend", "revenue", "roi", "spend_prev", "revenue_prev",
                                         "roi_prev"])
        period = periods[-1]
    period = pd.Timestamp(period).date()
    end = pf._shift_months(period.replace(day=1), 1)
    start, prev_start = pf._shift_months(end, -12), pf._shift_months(end, -24)
    totals = []
    for model, column in ((Spend, Spend.amount), (Outcome, Outcome.revenue)):
        window = case((model.period >= start, "current"), else_="previous")
        rows = conn.execute(
            select(model.brand_id, window.label("window"), func.sum(column))
            .where(model.period >= prev_start, model.period < end, *pf._own_in_scope(principal, project_id, model))
            .group_by(model.brand_id, window)
        ).all()
        frame = rows_frame(rows, ["brand_id", "window", "total"])
        totals.append(frame.pivot_table(index="brand_id", columns="window", values="total", aggfunc="sum")
                      .reindex(columns=["current", "previous"]))
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
