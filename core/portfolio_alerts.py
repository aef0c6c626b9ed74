"""Alerts on the portfolio views: own brands whose DC score dropped, metrics that break with their history.

Split from core.portfolio (the read models they build on): the alert rules and their thresholds
live here, the projects, rankings and trends there.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from core.frames import rows_frame, select_frame
from core.models import Brand, Metric, MetricValue
from core.portfolio import _as_date, _own_in_scope, project_periods
from core.read_cache import cached_read
from core.security import Principal

# A DC-score drop of at least this many points month on month, and a metric whose latest change sits
# this many robust standard deviations from the brand's usual monthly change (organizations may set
# their own, core.settings).
DROP_THRESHOLD = 5.0
ANOMALY_Z = 3.5
# Fewer monthly changes than this and there is no "usual" to compare with.
MIN_HISTORY = 6


def score_drop_alerts(ranking: pd.DataFrame, threshold: float = DROP_THRESHOLD) -> pd.DataFrame:
    """Own brands whose DC score fell by at least `threshold` points month on month, worst first."""
    own = ranking[(ranking["role"] == "own") & (ranking["change_1m"] <= -abs(threshold))]
    return own.sort_values("change_1m")[["brand_id", "brand", "score", "change_1m"]].reset_index(drop=True)



def _group_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of `values` per group code (NaN for an empty group). `groups` must be sorted, so each
    group is one run: the runs become rows of a NaN-padded matrix, sorted row-wise in one call."""
    counts = np.bincount(groups, minlength=n_groups)
    if not len(values):
        return np.full(n_groups, np.nan)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    matrix = np.full((n_groups, int(counts.max())), np.nan)
    matrix[groups, np.arange(len(values)) - starts[groups]] = values
    matrix.sort(axis=1)  # NaN padding sorts last
    rows, safe = np.arange(n_groups), np.maximum(counts, 1)
    low, high = matrix[rows, (safe - 1) // 2], matrix[rows, safe // 2]
    return np.where(counts > 0, (low + high) / 2, np.nan)



@cached_read()
def metric_anomalies(conn: Connection, principal: Principal, project_id: int, period: date | None = None,
                     z_threshold: float = ANOMALY_Z) -> pd.DataFrame:
    """Metric values of the own brands in scope whose latest month breaks with the brand's history.

    The test is a robust z-score (Iglewicz–Hoaglin: median and 1.4826·MAD, mean absolute deviation
    when the MAD is 0) of the latest month-on-month change against the brand's earlier monthly
    changes of that metric. Changes, not levels: metric series trend, and the level of a trending
    series sits far from its own median without anything unusual happening. Changes are taken on a
    log scale for series that are always positive (counts and money grow multiplicatively).

    Columns: brand_id, brand, metric_id, metric, unit, direction, period, value, previous, typical
    (the value the usual change would have given), z. Sorted by |z|, largest first.

    Every series of every own brand is read (tens of thousands of values on a large portfolio), so
    the statistics run on sorted numpy arrays with integer group codes rather than pandas groupby.
    """
    columns = ["brand_id", "brand", "metric_id", "metric", "unit", "direction", "period", "value", "previous",
               "typical", "z"]
    if period is None:
        periods = project_periods(conn, principal, project_id)
        if not periods:
            return pd.DataFrame(columns=columns)
        period = periods[-1]
    period = _as_date(period)
    values = select_frame(
        conn,
        select(MetricValue.brand_id, MetricValue.metric_id, MetricValue.period, MetricValue.raw_value)
        .where(MetricValue.period <= period, *_own_in_scope(principal, project_id, MetricValue)),
        ["brand_id", "metric_id", "period", "value"], ["int4", "int4", "date", "float8"],
    )
    if values.empty:
        return pd.DataFrame(columns=columns)
    brand = values["brand_id"].to_numpy(np.int64)
    metric = values["metric_id"].to_numpy(np.int64)
    month = values["period"].to_numpy().astype("datetime64[M]").astype(np.int64)
    raw = values["value"].to_numpy(float)
    key = (brand * (int(metric.max()) + 1) + metric) * (int(month.max()) + 1) + (month - int(month.min()))
    if (np.diff(key) < 0).any():  # read by primary key, rows usually come sorted; no ORDER BY promises it
        order = np.argsort(key, kind="stable")
        brand, metric, month, raw = brand[order], metric[order], month[order], raw[order]
    # One code per (brand, metric) series, in sorted order; a row continues its series when the code repeats.
    new_series = np.ones(len(raw), dtype=bool)
    new_series[1:] = (brand[1:] != brand[:-1]) | (metric[1:] != metric[:-1])
    series = np.cumsum(new_series) - 1
    n_series = int(series[-1]) + 1
    positive = (np.minimum.reduceat(raw, np.flatnonzero(new_series)) > 0)[series]
    y = np.where(positive, np.log(np.where(positive, raw, 1.0)), raw)
    previous = np.full(len(raw), np.nan)
    change = np.full(len(raw), np.nan)
    previous[1:] = np.where(new_series[1:], np.nan, raw[:-1])
    # A change counts only between consecutive months; a gap in the series is not a month's move.
    consecutive = ~new_series[1:] & (month[1:] - month[:-1] == 1)
    change[1:] = np.where(consecutive, y[1:] - y[:-1], np.nan)

    latest = np.datetime64(period, "M").astype(np.int64)
    history = (month < latest) & ~np.isnan(change)
    h_series, h_change = series[history], change[history]
    count = np.bincount(h_series, minlength=n_series)
    median = _group_median(h_series, h_change, n_series)
    deviation = np.abs(h_change - median[h_series])
    mad = _group_median(h_series, deviation, n_series)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_deviation = np.bincount(h_series, weights=deviation, minlength=n_series) / count
    scale = np.where(mad > 0, 1.4826 * mad, 1.2533 * mean_deviation)

    current = (month == latest) & ~np.isnan(change)
    current &= (count[series] >= MIN_HISTORY) & (scale[series] > 0)
    rows = np.flatnonzero(current)
    at = series[rows]
    z = (change[rows] - median[at]) / scale[at]
    hit = np.abs(z) >= z_threshold
    rows, at, z = rows[hit], at[hit], z[hit]
    typical = np.where(positive[rows], previous[rows] * np.exp(median[at]), previous[rows] + median[at])
    found = pd.DataFrame({
        "brand_id": brand[rows], "metric_id": metric[rows], "value": raw[rows], "previous": previous[rows],
        "typical": typical, "z": z,
    })
    found["period"] = period
    meta = rows_frame(
        conn.execute(select(Metric.id, Metric.name, Metric.unit, Metric.direction)  # the flagged metrics only
                     .where(Metric.id.in_([int(m) for m in found["metric_id"].unique()]))).all(),
        columns=["metric_id", "metric", "unit", "direction"],
    )
    names = rows_frame(conn.execute(select(Brand.id, Brand.name).where(Brand.id.in_(found["brand_id"].tolist())))
                         .all(), columns=["brand_id", "brand"])
    found = found.merge(meta, on="metric_id").merge(names, on="brand_id")
    order = found["z"].abs().sort_values(ascending=False, kind="stable").index
    return found.loc[order, columns].reset_index(drop=True)

