"""Read models for the brand explorer: one own brand in one project, taken apart.

Every function takes the principal and narrows what it reads with the one scope filter. The
brand × project pair must be one whose DC scores the principal may see (`can_explore`); raw
values of competitors are read only for competitors the principal may read themselves. Where a
comparison needs competitors the principal may not see, it is computed over the visible ones, and
when none is visible the result says so instead of leaking an aggregate of hidden rows.

Scores come from `core.scoring` (the same engine that materializes `dc_scores`), so the
breakdown's contributions add up to the stored DC score and the waterfall to its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import Connection, select

from core.classified import shown
from core.frames import rows_frame
from core.models import (
    Brand,
    DCScore,
    MetricValue,
    Outcome,
    ProjectBrand,
)
from core.portfolio import brand_catalogue, can_use_pair, own_brand_pairs
from core.read_cache import cached_read
from core.scoring.engine import competitive_gaps, effective_weights
from core.scoring.service import load_inputs, score_change
from core.security import Principal, scope_filter
from core.security.authorizer import authorize, deny

READ = "brand:read"
# Below this many monthly points a correlation is flagged as a hint, not evidence.
SMALL_SAMPLE = 24


def _as_date(value) -> date:
    return pd.Timestamp(value).date()


def explorable(conn: Connection, principal: Principal) -> pd.DataFrame:
    """Own brands the principal may explore, one row per brand × project, ordered for selectors."""
    return own_brand_pairs(conn, principal, READ, brand_first=True)


def can_explore(conn: Connection, principal: Principal, brand_id, project_id) -> bool:
    """Whether the pair is one of `explorable` (ids straight from a browser are fine)."""
    return can_use_pair(conn, principal, READ, brand_id, project_id)


def _require(conn: Connection, principal: Principal, brand_id: int, project_id: int) -> None:
    if not can_explore(conn, principal, brand_id, project_id):
        deny(principal, READ, ("brand", brand_id), f"brand not explorable in project {project_id}")


@cached_read()
def periods(conn: Connection, principal: Principal, brand_id: int, project_id: int) -> list[date]:
    """Periods with a DC score for the pair, oldest first."""
    _require(conn, principal, brand_id, project_id)
    stmt = (
        select(DCScore.period)
        .where(DCScore.project_id == project_id, DCScore.brand_id == brand_id, DCScore.level == "total",
               scope_filter(principal, READ, DCScore))
        .order_by(DCScore.period)
    )
    return [_as_date(p) for p in conn.execute(stmt).scalars()]


def catalogue(conn: Connection, brand_id: int, principal: Principal) -> pd.DataFrame:
    """The metric framework of the brand's organization, with names (index metric_id): only the
    metrics the principal's clearance reads (core.classified)."""
    return shown(brand_catalogue(conn, brand_id), principal)


@dataclass(frozen=True)
class Competitors:
    """The project's competitors the principal may read, and how many there are in all."""

    visible: pd.DataFrame  # brand_id, brand
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.visible)


@cached_read()
def competitors(conn: Connection, principal: Principal, brand_id: int, project_id: int) -> Competitors:
    """Competitors of the project; only those the principal may read are named."""
    _require(conn, principal, brand_id, project_id)
    base = (select(Brand.id, Brand.name).join(ProjectBrand, ProjectBrand.brand_id == Brand.id)
            .where(ProjectBrand.project_id == project_id, ProjectBrand.role == "competitor"))
    total = len(conn.execute(base).all())
    rows = conn.execute(base.where(scope_filter(principal, READ, Brand)).order_by(Brand.name)).all()
    return Competitors(rows_frame(rows, ["brand_id", "brand"]), total)


def _labelled(frame: pd.DataFrame, meta: pd.DataFrame, columns=("metric", "unit", "direction", "platform",
                                                                  "section")) -> pd.DataFrame:
    return frame.join(meta[list(columns)], on="metric_id", how="inner")  # metrics not shown are left out


@cached_read()
def score_breakdown(conn: Connection, principal: Principal, brand_id: int, project_id: int,
                    period: date) -> pd.DataFrame:
    """Section → platform → metric for one period: raw value, normalized value (0–100), effective
    weight (they sum to 1) and contribution in DC points (they sum to the DC score).
    """
    _require(conn, principal, brand_id, project_id)
    inputs = load_inputs(conn, [project_id], periods=[period])
    columns = ["section", "platform", "metric", "unit", "metric_id", "value", "norm", "weight", "contribution"]
    if inputs.values.empty:
        return pd.DataFrame(columns=columns)
    frame = effective_weights(inputs)
    frame = frame[frame["brand_id"] == brand_id]
    out = frame[["metric_id", "value", "norm", "e"]].rename(columns={"e": "weight"})
    out["contribution"] = out["weight"] * out["norm"]
    meta = catalogue(conn, brand_id, principal)
    out = _labelled(out, meta, ("metric", "unit", "platform", "section", "section_position"))
    out = out.sort_values(["section_position", "platform", "metric"], ignore_index=True)
    return out[columns]


def breakdown_tree(breakdown: pd.DataFrame, root_label: str = "DC score") -> pd.DataFrame:
    """Rows for a sunburst or treemap: id, parent, label, level, weight, score, contribution.

    A node's score is its contributions over its weight, i.e. the weighted mean of the normalized
    values below it, which is exactly the platform, section and DC score the engine computes.
    """
    if breakdown.empty:
        return pd.DataFrame(columns=["id", "parent", "label", "level", "weight", "score", "contribution"])
    b = breakdown
    metric = pd.DataFrame({
        "id": "m/" + b["section"] + "/" + b["platform"] + "/" + b["metric"],
        "parent": "p/" + b["section"] + "/" + b["platform"],
        "label": b["metric"], "level": "metric", "weight": b["weight"], "contribution": b["contribution"],
    })
    platform = b.groupby(["section", "platform"], sort=False)[["weight", "contribution"]].sum().reset_index()
    platform = platform.assign(id="p/" + platform["section"] + "/" + platform["platform"],
                               parent="s/" + platform["section"], label=platform["platform"], level="platform")
    section = b.groupby("section", sort=False)[["weight", "contribution"]].sum().reset_index()
    section = section.assign(id="s/" + section["section"], parent="total", label=section["section"], level="section")
    total = pd.DataFrame({"id": ["total"], "parent": [""], "label": [root_label], "level": ["total"],
                          "weight": [b["weight"].sum()], "contribution": [b["contribution"].sum()]})
    tree = pd.concat([total, section, platform, metric], ignore_index=True)
    tree["score"] = tree["contribution"] / tree["weight"]
    return tree[["id", "parent", "label", "level", "weight", "score", "contribution"]]


@cached_read()
def metric_series(conn: Connection, principal: Principal, brand_id: int, project_id: int, metric_id: int,
                  competitor_ids: list[int] | None = None) -> pd.DataFrame:
    """Raw monthly values of one metric for the brand, the chosen visible competitors, and the average
    of all visible competitors (brand_id 0). Columns: period, brand_id, brand, role, value.
    """
    comp = competitors(conn, principal, brand_id, project_id)
    visible_ids = comp.visible["brand_id"].tolist()
    chosen = [int(c) for c in competitor_ids or [] if int(c) in set(visible_ids)]
    wanted = sorted({int(brand_id), *visible_ids})
    rows = conn.execute(
        select(MetricValue.period, MetricValue.brand_id, Brand.name, MetricValue.raw_value)
        .join(Brand, Brand.id == MetricValue.brand_id)
        .where(MetricValue.metric_id == metric_id, MetricValue.brand_id.in_(wanted),
               scope_filter(principal, READ, MetricValue))
        .order_by(MetricValue.period)
    ).all()
    frame = rows_frame(rows, ["period", "brand_id", "brand", "value"])
    frame["period"] = pd.to_datetime(frame["period"])
    frame["role"] = np.where(frame["brand_id"] == brand_id, "own", "competitor")
    comps = frame[frame["role"] == "competitor"]
    shown = frame[(frame["brand_id"] == brand_id) | frame["brand_id"].isin(chosen)]
    parts = [shown]
    if len(comps):
        avg = comps.groupby("period", as_index=False)["value"].mean()
        parts.append(avg.assign(brand_id=0, brand=f"Average of {len(visible_ids)} visible competitors",
                                role="average"))
    out = pd.concat(parts, ignore_index=True)[["period", "brand_id", "brand", "role", "value"]]
    return out.sort_values(["brand_id", "period"], ignore_index=True)


@dataclass(frozen=True)
class Gaps:
    """Gap per metric. basis 'competitors': to the best and the average visible competitor (raw units
    and normalized points, positive = ahead); basis 'scale': no competitor is visible, so only the
    distance to the project's best normalized value is given (from the brand's own normalized values).
    """

    frame: pd.DataFrame
    basis: str
    competitors_visible: int
    competitors_total: int


GAP_COLUMNS = ["metric_id", "metric", "section", "platform", "unit", "direction", "value", "best_competitor",
               "competitor_avg", "gap_to_best", "gap_to_avg", "norm", "gap_to_best_points", "gap_to_avg_points"]


@cached_read()
def gaps(conn: Connection, principal: Principal, brand_id: int, project_id: int, period: date) -> Gaps:
    """The brand's gaps in `period`; competitors the principal may not read take part only in the
    normalization (as in the DC score itself), never in the best or the average shown.
    """
    comp = competitors(conn, principal, brand_id, project_id)
    inputs = load_inputs(conn, [project_id], periods=[period])
    meta = catalogue(conn, brand_id, principal)
    roles = rows_frame(
        conn.execute(select(ProjectBrand.project_id, ProjectBrand.brand_id, ProjectBrand.role)
                     .where(ProjectBrand.project_id == project_id)).all(),
        columns=["project_id", "brand_id", "role"],
    )
    visible = set(comp.visible["brand_id"])
    # Hidden competitors stay in the frame (normalization needs the whole project) under another role.
    hidden = (roles["role"] == "competitor") & ~roles["brand_id"].isin(visible)
    roles.loc[hidden, "role"] = "hidden"
    roles.loc[(roles["role"] == "own") & (roles["brand_id"] != brand_id), "role"] = "other own"
    method = str(inputs.method.get(project_id, "minmax")) if inputs.method is not None else "minmax"
    if inputs.values.empty:
        return Gaps(pd.DataFrame(columns=GAP_COLUMNS), "competitors", len(visible), comp.total)
    if visible:
        frame = competitive_gaps(inputs.values, roles, inputs.metrics, method)
        frame = _labelled(frame[frame["brand_id"] == brand_id], meta)
        return Gaps(frame[GAP_COLUMNS].reset_index(drop=True), "competitors", len(visible), comp.total)
    frame = effective_weights(inputs)
    top = frame.groupby("metric_id")["norm"].max().rename("top")
    own = frame[frame["brand_id"] == brand_id].join(top, on="metric_id")
    own = own.assign(gap_to_best_points=own["norm"] - own["top"])
    out = _labelled(own[["metric_id", "value", "norm", "gap_to_best_points"]], meta).reindex(columns=GAP_COLUMNS)
    return Gaps(out.reset_index(drop=True), "scale", 0, comp.total)


@dataclass(frozen=True)
class Waterfall:
    """Per-metric contributions to the DC change; they sum to score_to − score_from."""

    frame: pd.DataFrame
    score_from: float
    score_to: float


@cached_read()
def score_waterfall(conn: Connection, principal: Principal, brand_id: int, project_id: int, period_from: date,
                    period_to: date) -> Waterfall:
    """What moved the brand's DC score between two periods, metric by metric, largest first."""
    _require(conn, principal, brand_id, project_id)
    change = score_change(conn, project_id, brand_id, period_from, period_to)
    frame = _labelled(change, catalogue(conn, brand_id, principal))
    score_from = float((change["e_from"] * change["norm_from"]).sum())
    score_to = float((change["e_to"] * change["norm_to"]).sum())
    columns = ["metric_id", "metric", "section", "platform", "unit", "value_from", "value_to", "norm_from", "norm_to",
               "e_from", "e_to", "contribution", "value_effect", "weight_effect"]
    if len(frame) < len(change):  # classified metrics left out: pooled in one row, so the bars still add up
        pooled = pd.DataFrame([{"metric_id": 0, "metric": "Metrics left out", "section": "", "platform": "classified",
                                "contribution": float(change["contribution"].sum() - frame["contribution"].sum())}])
        frame = pd.concat([frame, pooled], ignore_index=True)
        frame = frame.loc[frame["contribution"].abs().sort_values(ascending=False, kind="stable").index]
    return Waterfall(frame.reindex(columns=columns).reset_index(drop=True), score_from, score_to)


def _brand_values(conn: Connection, principal: Principal, brand_id: int) -> pd.DataFrame:
    """Period × metric_id matrix of the brand's raw values (scope-filtered)."""
    authorize(principal, READ, ("brand", brand_id))
    rows = conn.execute(
        select(MetricValue.period, MetricValue.metric_id, MetricValue.raw_value)
        .where(MetricValue.brand_id == brand_id, scope_filter(principal, READ, MetricValue))
    ).all()
    frame = rows_frame(rows, ["period", "metric_id", "value"])
    frame["period"] = pd.to_datetime(frame["period"])
    return frame.pivot_table(index="period", columns="metric_id", values="value", aggfunc="first").sort_index()


@dataclass(frozen=True)
class Correlations:
    """Pearson correlation of the brand's metrics across months; constant or sparse metrics dropped."""

    matrix: pd.DataFrame  # "metric (platform)" × "metric (platform)"
    n: int  # months with data
    dropped: list[str]


@cached_read()
def metric_correlations(conn: Connection, principal: Principal, brand_id: int,
                        metric_ids: list[int] | None = None) -> Correlations:
    """Correlation matrix of the brand's metrics over time (optionally only `metric_ids`)."""
    values = _brand_values(conn, principal, brand_id)
    meta = catalogue(conn, brand_id, principal)
    if metric_ids is not None:
        values = values.reindex(columns=[m for m in metric_ids if m in values.columns])
    usable = (values.notna().sum() >= 3) & (values.std() > 0)
    dropped = meta["metric"].reindex(values.columns[~usable.to_numpy()]).tolist()
    values = values.loc[:, usable.to_numpy()]
    matrix = values.corr(method="pearson", min_periods=3)
    # Names repeat across platforms ("Followers" on Instagram and on X), so the platform is part of the label.
    labels = meta["metric"] + " (" + meta["platform"] + ")"
    names = labels.reindex(matrix.columns).to_numpy()
    matrix.index, matrix.columns = names, names
    return Correlations(matrix, int(values.notna().any(axis=1).sum()), dropped)


def monthly_revenue(conn: Connection, principal: Principal, brand_id: int) -> pd.Series:
    """Revenue per month (index: first day of month). Weekly rows are split over their seven days,
    and a month counts only when every one of its days is covered, so a partial month never looks
    like a slump.
    """
    authorize(principal, READ, ("brand", brand_id))
    rows = conn.execute(
        select(Outcome.period, Outcome.granularity, Outcome.revenue)
        .where(Outcome.brand_id == brand_id, scope_filter(principal, READ, Outcome))
    ).all()
    frame = rows_frame(rows, ["period", "granularity", "revenue"])
    frame["period"] = pd.to_datetime(frame["period"])
    monthly = frame[frame["granularity"] == "month"].groupby("period")["revenue"].sum()
    weekly = frame[frame["granularity"] == "week"]
    if len(weekly):
        days = np.repeat(weekly["period"].to_numpy(), 7) + np.tile(np.arange(7), len(weekly)) * np.timedelta64(1, "D")
        daily = pd.DataFrame({"day": days, "revenue": np.repeat(weekly["revenue"].to_numpy() / 7.0, 7)})
        daily = daily.drop_duplicates("day")  # overlapping weeks would count a day twice
        daily["month"] = daily["day"].dt.to_period("M").dt.to_timestamp()
        by_month = daily.groupby("month").agg(revenue=("revenue", "sum"), days=("day", "nunique"))
        full = by_month["days"] == by_month.index.days_in_month
        monthly = monthly.add(by_month.loc[full, "revenue"], fill_value=0.0)
    monthly.index.name = "period"
    return monthly.rename("revenue").sort_index()


@cached_read()
def revenue_associations(conn: Connection, principal: Principal, brand_id: int) -> pd.DataFrame:
    """Each metric's Pearson correlation with the brand's monthly revenue, strongest first.

    Columns: metric_id, metric, section, platform, r, n, p_value, r_critical (|r| needed for 5 %
    two-sided significance at this n), small_sample (n < SMALL_SAMPLE). Empty when the brand has no
    revenue (competitors have none) or fewer than 4 common months.
    """
    columns = ["metric_id", "metric", "section", "platform", "r", "n", "p_value", "r_critical", "small_sample"]
    revenue = monthly_revenue(conn, principal, brand_id)
    values = _brand_values(conn, principal, brand_id)
    common = values.index.intersection(revenue.index)
    if len(common) < 4 or revenue.loc[common].std() == 0:
        return pd.DataFrame(columns=columns)
    x, y = values.loc[common], revenue.loc[common]
    n = x.notna().mul(y.notna(), axis=0).sum()
    r = x.corrwith(y)
    out = pd.DataFrame({"metric_id": r.index, "r": r.to_numpy(), "n": n.reindex(r.index).to_numpy()}).dropna()
    out = out[out["n"] >= 4]
    dof = out["n"] - 2
    with np.errstate(divide="ignore"):
        t = out["r"] * np.sqrt(dof / np.clip(1 - out["r"] ** 2, 1e-15, None))
    out["p_value"] = 2 * stats.t.sf(np.abs(t), dof)
    t_crit = stats.t.ppf(0.975, dof)
    out["r_critical"] = t_crit / np.sqrt(dof + t_crit**2)
    out["small_sample"] = out["n"] < SMALL_SAMPLE
    out["n"] = out["n"].astype(int)
    out = _labelled(out, catalogue(conn, brand_id, principal), ("metric", "section", "platform"))
    return out.reindex(out["r"].abs().sort_values(ascending=False).index)[columns].reset_index(drop=True)
