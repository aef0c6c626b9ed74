"""Score what-if: move one own brand's metric values and see its DC score recomputed, and ask the
metric recommender which moves gain the most under an effort budget.

The score is the engine's own: DC = Σ e·norm (`core.scoring.engine.effective_weights`), with the
brand's new raw values normalized again across every brand of the project (`engine.normalize`), so
a better value can stretch the min–max range and move the brand's other normalized values too.
With unchanged values the result equals the stored DC score.

Who may: the principal needs `scenario:run` on the brand and must see the pair's DC scores.
Competitors enter the score through normalization only (as in the stored score); their raw values
set a slider's limit only when the principal may read that competitor (`brand:read`). Without any
visible competitor a metric is capped by the brand's own best historic monthly change alone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from core.classified import shown
from core.frames import select_frame
from core.input_ranges import finite
from core.models import Brand, DCScore, MetricValue, ProjectBrand
from core.optimize.recommend import MetricOptions, Recommendation, feasible_best, recommend
from core.portfolio import brand_catalogue, can_use_pair, own_brand_pairs
from core.scoring.engine import effective_weights, normalize
from core.scoring.service import load_inputs
from core.security import Principal, scope_filter
from core.security.authorizer import deny

RUN = "scenario:run"
READ_VALUES = "brand:read"
# Effort: moving a metric by the brand's best-ever monthly improvement costs 1; touching one costs this.
FIXED_EFFORT = 0.2


def whatif_pairs(conn: Connection, principal: Principal) -> pd.DataFrame:
    """Own brand × project pairs the principal may run a what-if on, ordered for selectors."""
    return own_brand_pairs(conn, principal, RUN, brand_first=False)


def can_run(conn: Connection, principal: Principal, brand_id, project_id) -> bool:
    """Whether the pair is one of `whatif_pairs` (ids straight from a browser are fine)."""
    return can_use_pair(conn, principal, RUN, brand_id, project_id)


@dataclass
class WhatIf:
    """One brand's latest metric values, their feasible ranges, and its score as a function of them.

    `metrics` (index metric_id, ordered by section and platform): code, metric, unit, direction,
    section_id, section, platform, current, low, high (slider range), best (feasible best value),
    stretch (the furthest a person may try: the best visible competitor when it lies beyond the
    feasible best, else the feasible best), max_step (best historic monthly improvement, raw units),
    competitor_best (visible competitors' best, NaN when none is visible), e (effective weight).

    One source of truth for bounds: the sliders, the server's clipping (`values_from`), the
    recommender (`best`) and the stretch marks (`beyond_feasible`) all read these columns.
    """

    brand_id: int
    project_id: int
    period: date
    metrics: pd.DataFrame
    stored_score: float | None
    visible_competitors: int
    _norm_frame: pd.DataFrame = field(repr=False)
    _lower: np.ndarray = field(repr=False)
    _method: str | pd.Series = field(repr=False)
    _rows: np.ndarray = field(repr=False)  # positions of the brand's rows in _norm_frame, metric order

    def _norms(self, values: np.ndarray) -> np.ndarray:
        frame = self._norm_frame.copy()
        frame.iloc[self._rows, frame.columns.get_loc("value")] = np.asarray(values, dtype=float)
        return normalize(frame, self._lower, self._method)[self._rows]

    def score(self, values: np.ndarray) -> float:
        """The DC score with the brand's metrics at `values` (aligned with `metrics`)."""
        return float(np.dot(self.metrics["e"].to_numpy(), self._norms(values)))

    def current_values(self) -> np.ndarray:
        return self.metrics["current"].to_numpy(dtype=float)

    def values_from(self, changes: dict[int, float]) -> np.ndarray:
        """The current values with some metrics (by id) replaced, each clipped to its slider range.

        Ids and values come from the browser: anything that is not a known metric id with a finite
        number leaves that metric at its current value (bad input changes nothing).
        """
        values = self.metrics["current"].copy()
        known = {}
        for key, value in changes.items():
            metric_id, number = finite(key), finite(value)
            if metric_id is not None and number is not None and metric_id in values.index:
                known[int(metric_id)] = number
        values.loc[list(known)] = list(known.values())
        return np.clip(values.to_numpy(dtype=float), self.metrics["low"].to_numpy(), self.metrics["high"].to_numpy())

    def beyond_feasible(self, values: np.ndarray) -> list[int]:
        """Metric ids set past their feasible best (stretch targets: better than the brand has ever
        improved in a month, towards the best visible competitor)."""
        m = self.metrics
        sign = np.where(m["direction"] == "higher", 1.0, -1.0)
        past = (np.asarray(values, dtype=float) - m["best"].to_numpy(float)) * sign > 1e-9 * np.maximum(
            1.0, np.abs(m["best"].to_numpy(float)))
        return [int(i) for i in m.index[past]]

    def breakdown(self, values: np.ndarray) -> pd.DataFrame:
        """Per section: score now and with `values`, and what each contributes to the DC-score change.

        Section score = Σ e·norm / Σ e over the section's metrics (the roll-up is linear), and the
        contributions sum exactly to the change of the DC score.
        """
        e = self.metrics["e"].to_numpy()
        frame = pd.DataFrame({
            "section": self.metrics["section"].to_numpy(),
            "e": e,
            "now": e * self._norms(self.current_values()),
            "new": e * self._norms(values),
        })
        out = frame.groupby("section", sort=False).sum()
        out["score_now"] = out["now"] / out["e"]
        out["score_new"] = out["new"] / out["e"]
        out["change"] = out["score_new"] - out["score_now"]
        out["contribution"] = out["new"] - out["now"]
        return out[["score_now", "score_new", "change", "contribution"]].reset_index()

    def options(self, fixed_effort: float = FIXED_EFFORT, levels: int = 4) -> tuple[MetricOptions, np.ndarray]:
        """The recommender's options over the metrics that can move, and their positions in `metrics`.

        Effort per unit is 1 / the brand's best historic monthly improvement, so effort reads as
        "best months' worth of work" and is comparable across units.
        """
        m = self.metrics
        movable = np.flatnonzero(((m["best"] - m["current"]).abs() > 1e-12).to_numpy() & (m["max_step"] > 0).to_numpy())
        sub = m.iloc[movable]
        opts = MetricOptions(
            names=[str(i) for i in sub.index], current=sub["current"].to_numpy(float), best=sub["best"].to_numpy(float),
            effort_per_unit=1.0 / sub["max_step"].to_numpy(float),
            fixed_effort=np.full(len(sub), float(fixed_effort)), levels=levels,
        )
        return opts, movable


def _require(conn: Connection, principal: Principal, brand_id: int, project_id: int) -> None:
    if not can_run(conn, principal, brand_id, project_id):
        deny(principal, RUN, ("brand", brand_id), f"no what-if on this brand in project {project_id}")


def load_whatif(conn: Connection, principal: Principal, brand_id: int, project_id: int,
                percentile_cap: float | None = None) -> WhatIf:
    """Everything a what-if on the pair needs, for the latest period with a stored DC score.

    `percentile_cap` (0–100): cap improvements at that percentile of the visible competitors
    instead of the best of them. Raises Forbidden (audited) when the principal may not.
    """
    brand_id, project_id = int(brand_id), int(project_id)
    _require(conn, principal, brand_id, project_id)
    latest = conn.execute(
        select(DCScore.period, DCScore.score)
        .where(DCScore.project_id == project_id, DCScore.brand_id == brand_id, DCScore.level == "total")
        .order_by(DCScore.period.desc()).limit(1)
    ).first()
    if latest is None:
        raise LookupError("the brand has no DC score in this project yet")
    period, stored = pd.Timestamp(latest[0]).date(), float(latest[1])

    inputs = load_inputs(conn, [project_id], periods=[period])
    weights = effective_weights(inputs).reset_index(drop=True)
    mine = weights[weights["brand_id"] == brand_id]
    catalogue = shown(brand_catalogue(conn, brand_id), principal)  # classified metrics stay as they are
    metrics = catalogue.loc[catalogue.index.intersection(mine["metric_id"])].copy()
    by_metric = mine.set_index("metric_id")
    metrics["current"] = by_metric["value"].reindex(metrics.index)
    metrics["e"] = by_metric["e"].reindex(metrics.index)
    rows = pd.Series(mine.index, index=mine["metric_id"]).reindex(metrics.index).to_numpy()

    # The brand's own history (for the step cap) and the visible competitors' latest values.
    # (brand, metric, period) is the primary key of metric_values, so each pivot cell holds one value.
    history = select_frame(
        conn,
        select(MetricValue.period, MetricValue.metric_id, MetricValue.raw_value)
        .where(MetricValue.brand_id == brand_id, MetricValue.period <= period,
               scope_filter(principal, RUN, MetricValue)),
        ["period", "metric_id", "value"], ["date", "int4", "float8"],
    ).pivot(index="period", columns="metric_id", values="value").sort_index().reindex(columns=metrics.index)
    history.index = pd.to_datetime(history.index)
    history = history.reindex(pd.date_range(history.index.min(), history.index.max(), freq="MS"))  # gaps stay NaN
    competitor_ids = select(ProjectBrand.brand_id).where(ProjectBrand.project_id == project_id,
                                                         ProjectBrand.role == "competitor")
    competitors = select_frame(
        conn,
        select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.raw_value)
        .join(Brand, Brand.id == MetricValue.brand_id)
        .where(MetricValue.period == period, MetricValue.brand_id.in_(competitor_ids),
               scope_filter(principal, READ_VALUES, Brand), scope_filter(principal, READ_VALUES, MetricValue)),
        ["brand_id", "metric_id", "value"], ["int4", "int4", "float8"],
    ).pivot(index="brand_id", columns="metric_id", values="value").reindex(columns=metrics.index)

    higher = (metrics["direction"] == "higher").to_numpy()
    sign = np.where(higher, 1.0, -1.0)
    current = metrics["current"].to_numpy(float)
    signed_steps = np.diff(history.to_numpy(float) * sign, axis=0)
    with np.errstate(invalid="ignore"):
        up = np.nan_to_num(np.nanmax(np.where(signed_steps > 0, signed_steps, 0.0), axis=0, initial=0.0))
        down = np.nan_to_num(np.nanmax(np.where(signed_steps < 0, -signed_steps, 0.0), axis=0, initial=0.0))
    comp = competitors.to_numpy(float) if len(competitors) else np.full((1, len(metrics)), np.nan)
    no_competitor = np.isnan(comp).all(axis=0)
    comp = np.where(no_competitor[None, :], (current + up * sign)[None, :], comp)  # only the step cap binds
    with warnings.catch_warnings():  # all-NaN history columns (one month of data) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        best = feasible_best(current, comp, history.to_numpy(float), higher, percentile_cap)
    competitor_best = np.where(no_competitor, np.nan, np.nanmax(comp * sign, axis=0) * sign)
    worst = current - down * sign
    lo_bound = metrics["min_value"].fillna(-np.inf).to_numpy(float)
    hi_bound = metrics["max_value"].fillna(np.inf).to_numpy(float)
    best = np.clip(best, lo_bound, hi_bound)
    worst = np.clip(worst, lo_bound, hi_bound)
    # A stretch target may reach the best visible competitor, past what the brand has ever managed.
    stretch = np.where(np.isnan(competitor_best) | ((competitor_best - best) * sign <= 0), best,
                       np.clip(np.nan_to_num(competitor_best), lo_bound, hi_bound))
    metrics["best"] = best
    metrics["stretch"] = stretch
    metrics["max_step"] = up
    metrics["competitor_best"] = competitor_best
    metrics["low"] = np.minimum.reduce([best, worst, stretch, current])
    metrics["high"] = np.maximum.reduce([best, worst, stretch, current])

    norm_frame = weights[["project_id", "period", "metric_id", "value"]].copy()
    norm_frame["period"] = 0  # one period: a constant code groups as fast as it gets
    method = inputs.method if inputs.method is not None and len(inputs.method) else "minmax"
    return WhatIf(brand_id, project_id, period, metrics.drop(columns=["min_value", "max_value"]), stored,
                  len(competitors), norm_frame, weights["lower"].to_numpy(), method,
                  rows.astype(int))


def recommend_plan(whatif: WhatIf, effort_budget: float, k: int, *, fixed_effort: float = FIXED_EFFORT,
                   levels: int = 4, seed: int = 0, pop_size: int = 30, n_gen: int = 30) -> dict:
    """Run the metric recommender for the brand: at most k metrics, total effort within the budget.

    Returns base_score, final_score, gain, effort, evaluations and `steps` in the order that gains
    most first, each with metric_id, metric, unit, current, target, effort, gain and score_after.
    Seeded, so the same question gets the same answer.
    """
    opts, movable = whatif.options(fixed_effort, levels)
    base_values = whatif.current_values()
    if not len(movable) or k < 1 or effort_budget <= 0:
        score = whatif.score(base_values)
        return {"base_score": score, "final_score": score, "gain": 0.0, "effort": 0.0, "steps": [], "evaluations": 1,
                "movable": len(movable)}

    def score_fn(values: np.ndarray) -> float:
        full = base_values.copy()
        full[movable] = values
        return whatif.score(full)

    result: Recommendation = recommend(opts, score_fn, float(effort_budget), int(k), seed=seed, pop_size=pop_size,
                                       n_gen=n_gen)
    meta = whatif.metrics
    steps = []
    for step in result.steps:
        metric_id = int(step["metric"])
        steps.append({**step, "metric_id": metric_id, "metric": meta.at[metric_id, "metric"],
                      "platform": meta.at[metric_id, "platform"], "unit": meta.at[metric_id, "unit"],
                      "section": meta.at[metric_id, "section"]})
    out = result.to_dict()
    out.update(steps=steps, movable=len(movable))
    out.pop("convergence", None)
    return out
