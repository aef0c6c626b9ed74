"""Vectorized DC-score computation over long frames; no database, no loops over rows.

Definitions (docs/SCORING.md):

* Normalization happens within one project × period × metric across the project's brands.
  min–max maps the worst value to 0 and the best to 100 (inverted when lower is better);
  percentile rank maps rank r of n (ties averaged) to 100·(r−1)/(n−1). When every brand has
  the same value, or only one brand reports, there is nothing to tell them apart and every
  brand gets 50 (parity), never NaN.
* Platform score = weighted mean of its metrics' normalized values, section score = weighted
  mean of its platforms, DC score = weighted mean of sections. A missing value drops out and the
  remaining weights renormalize. What counts as "expected" is what any brand of the project
  reports in that period, so a metric nobody reports is not held against anyone.
* Coverage is the share of the expected weight tree a brand's data fills:
  cov(platform) = Σ present metric weights / Σ expected metric weights, and at the levels above
  it is the weighted mean of the children's coverage over the expected children.
* Because the roll-up is linear, DC = Σ_m e_m · n_m with effective weights e_m (the product of
  the three renormalized weights), and a change between two periods splits exactly into
  per-metric contributions e1·n1 − e0·n0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("minmax", "percentile")
PARITY = 50.0

# Columns of the long frame of raw values every function here takes.
VALUE_COLUMNS = ["project_id", "period", "brand_id", "metric_id", "value"]


@dataclass(frozen=True)
class ScoreInputs:
    """Raw values plus the catalogue that says how to roll them up.

    values:   project_id, period, brand_id, metric_id, value
    metrics:  index metric_id; columns platform_id, section_id, weight, direction ('higher'|'lower')
    platform_weights: Series platform_id → weight
    section_weights:  frame project_id, section_id, weight (missing pairs weigh 1)
    method:   Series project_id → 'minmax' | 'percentile' (missing projects use min–max)
    """

    values: pd.DataFrame
    metrics: pd.DataFrame
    platform_weights: pd.Series
    section_weights: pd.DataFrame | None = None
    method: pd.Series | None = None


def _group_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, int]:
    """One dense integer code per distinct combination of `columns`, in order of appearance.

    Mixed-radix arithmetic on the columns (non-negative integer ids used as they are, anything
    else factorized first) and one hash factorize of int64: far faster than hashing tuples,
    which is what a MultiIndex would do.
    """
    combined = np.zeros(len(frame), dtype=np.int64)
    for column in columns:
        values = frame[column].to_numpy()
        if values.dtype.kind in "iu" and (len(values) == 0 or values.min() >= 0):
            codes, radix = values.astype(np.int64), int(values.max(initial=0)) + 1
        else:
            codes, uniques = pd.factorize(values)
            radix = max(len(uniques), 1)
        combined = combined * radix + codes
    dense, uniques = pd.factorize(combined)
    return dense.astype(np.int64), len(uniques)


def _first_rows(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the first row of each group (codes are dense and in order of appearance)."""
    first = np.empty(n_groups, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def normalize(values: pd.DataFrame, lower_is_better: np.ndarray, method: str | pd.Series = "minmax") -> np.ndarray:
    """Normalized 0–100 value for every row of `values` (see module docstring).

    `lower_is_better` is per row; `method` is one method for all rows, or a Series mapping
    project_id → method (projects not in it use min–max).
    """
    raw = values["value"].to_numpy(dtype=float)
    codes, n_groups = _group_codes(values, ["project_id", "period", "metric_id"])
    lower = np.asarray(lower_is_better, dtype=bool)
    result = np.empty(len(raw))
    if isinstance(method, str):
        methods = {method}
        minmax_rows = np.full(len(raw), method == "minmax")
    else:
        methods = set(method.unique())
        minmax_rows = ~values["project_id"].isin(method.index[method == "percentile"]).to_numpy()
    unknown = methods - set(METHODS)
    if unknown:
        raise ValueError(f"unknown normalization method(s): {sorted(unknown)}")

    if minmax_rows.any():
        lo = np.full(n_groups, np.inf)
        hi = np.full(n_groups, -np.inf)
        np.minimum.at(lo, codes, raw)
        np.maximum.at(hi, codes, raw)
        span = (hi - lo)[codes]
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(span > 0, (raw - lo[codes]) / np.where(span > 0, span, 1.0) * 100.0, PARITY)
        result[minmax_rows] = np.clip(np.where(lower, 100.0 - scaled, scaled), 0.0, 100.0)[minmax_rows]

    if (~minmax_rows).any():
        rank = pd.Series(raw).groupby(codes).rank(method="average").to_numpy()
        count = np.bincount(codes, minlength=n_groups)[codes].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(count > 1, (rank - 1.0) / np.maximum(count - 1.0, 1.0) * 100.0, PARITY)
        result[~minmax_rows] = np.where(lower, 100.0 - pct, pct)[~minmax_rows]
    return result


def _attach_catalogue(inputs: ScoreInputs) -> pd.DataFrame:
    """The value frame joined with metric meta, section weights and the per-project method."""
    frame = inputs.values[VALUE_COLUMNS].copy()
    meta = inputs.metrics
    missing = ~frame["metric_id"].isin(meta.index)
    if missing.any():
        unknown = sorted(frame.loc[missing, "metric_id"].unique())[:5]
        raise ValueError(f"values reference metrics missing from the catalogue: {unknown}")
    idx = meta.index.get_indexer(frame["metric_id"])
    frame["platform_id"] = meta["platform_id"].to_numpy()[idx]
    frame["section_id"] = meta["section_id"].to_numpy()[idx]
    frame["w_metric"] = meta["weight"].to_numpy(dtype=float)[idx]
    frame["lower"] = (meta["direction"].to_numpy() == "lower")[idx]
    frame["w_platform"] = inputs.platform_weights.reindex(frame["platform_id"]).fillna(1.0).to_numpy(dtype=float)
    if inputs.section_weights is not None and len(inputs.section_weights):
        sw = inputs.section_weights
        # One int64 key per (project, section) pair: an Index lookup, not a MultiIndex reindex.
        radix = int(max(sw["section_id"].max(), frame["section_id"].to_numpy().max(initial=0))) + 1
        keys = pd.Index(sw["project_id"].to_numpy(np.int64) * radix + sw["section_id"].to_numpy(np.int64))
        at = keys.get_indexer(frame["project_id"].to_numpy(np.int64) * radix
                              + frame["section_id"].to_numpy(np.int64))
        weights = np.append(sw["weight"].to_numpy(dtype=float), 1.0)  # position -1: pair not listed
        frame["w_section"] = np.where(np.isnan(weights[at]), 1.0, weights[at])
    else:
        frame["w_section"] = 1.0
    return frame


def _methods(inputs: ScoreInputs) -> str | pd.Series:
    return inputs.method if inputs.method is not None and len(inputs.method) else "minmax"


def _rollup(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Platform, section and total scores with coverage from a frame carrying `norm`.

    Works on integer group codes with np.bincount, which is what keeps a million values fast.
    """
    # Expected metrics: any brand in the same project × period reports them.
    pp = ["project_id", "period"]
    expected = frame[[*pp, "section_id", "platform_id", "metric_id", "w_metric", "w_platform", "w_section"]]
    expected = expected.drop_duplicates([*pp, "metric_id"])
    exp_platform = expected.groupby([*pp, "section_id", "platform_id"], sort=False).agg(
        w_expected=("w_metric", "sum"), w_platform=("w_platform", "first"), w_section=("w_section", "first")
    ).reset_index()

    # Platform level: weighted mean over present metrics, coverage against expected weight.
    keys_p = [*pp, "brand_id", "section_id", "platform_id"]
    codes, n = _group_codes(frame, keys_p)
    w = frame["w_metric"].to_numpy()
    wsum = np.bincount(codes, weights=w, minlength=n)
    wn = np.bincount(codes, weights=w * frame["norm"].to_numpy(), minlength=n)
    first = _first_rows(codes, n)
    platform = frame.iloc[first][keys_p].reset_index(drop=True)
    platform["score"] = wn / wsum
    platform = platform.merge(exp_platform, on=[*pp, "section_id", "platform_id"], how="left", validate="m:1")
    platform["coverage"] = wsum / platform["w_expected"].to_numpy()

    # Section level: expected platforms are those any brand reports in the project × period.
    exp_section = exp_platform.groupby([*pp, "section_id"], sort=False).agg(
        w_expected=("w_platform", "sum"), w_section=("w_section", "first")
    ).reset_index()
    section = _weighted_parent(
        platform, [*pp, "brand_id", "section_id"], "w_platform", exp_section, [*pp, "section_id"]
    )
    exp_total = exp_section.groupby(pp, sort=False).agg(w_expected=("w_section", "sum")).reset_index()
    total = _weighted_parent(section, [*pp, "brand_id"], "w_section", exp_total, pp)
    return {"platform": platform, "section": section, "total": total}


def _weighted_parent(children: pd.DataFrame, keys: list[str], weight: str, expected: pd.DataFrame,
                     expected_keys: list[str]) -> pd.DataFrame:
    """Weighted mean of children's scores and coverage, renormalized over present children."""
    codes, n = _group_codes(children, keys)
    w = children[weight].to_numpy(dtype=float)
    wsum = np.bincount(codes, weights=w, minlength=n)
    score = np.bincount(codes, weights=w * children["score"].to_numpy(), minlength=n) / wsum
    covered = np.bincount(codes, weights=w * children["coverage"].to_numpy(), minlength=n)
    first = _first_rows(codes, n)
    parent = children.iloc[first][keys].reset_index(drop=True)
    extra = [c for c in expected.columns if c not in expected_keys and c != "w_expected"]
    parent = parent.merge(expected, on=expected_keys, how="left", validate="m:1")
    parent["score"] = score
    parent["coverage"] = covered / parent["w_expected"].to_numpy()
    return parent[keys + extra + ["score", "coverage"]]


def compute_scores(inputs: ScoreInputs) -> pd.DataFrame:
    """Scores for every project × period × brand at platform, section and total level.

    Returns columns project_id, period, brand_id, level, node_id, score, coverage, where node_id
    is the platform or section id, and 0 for the total.
    """
    if inputs.values.empty:
        return pd.DataFrame(columns=["project_id", "period", "brand_id", "level", "node_id", "score", "coverage"])
    frame = _attach_catalogue(inputs)
    # Periods are date objects; group on small integer codes and map back at the end.
    period_codes, periods = pd.factorize(frame["period"].to_numpy())
    frame["period"] = period_codes
    frame["norm"] = normalize(frame, frame["lower"].to_numpy(), _methods(inputs))
    levels = _rollup(frame)
    parts = []
    for level, node in (("platform", "platform_id"), ("section", "section_id"), ("total", None)):
        part = levels[level]
        out = part[["project_id", "period", "brand_id"]].copy()
        out["period"] = np.asarray(periods, dtype=object)[part["period"].to_numpy()]
        out["level"] = level
        out["node_id"] = part[node].to_numpy() if node else 0
        out["score"] = part["score"].to_numpy()
        out["coverage"] = np.clip(part["coverage"].to_numpy(), 0.0, 1.0)
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def effective_weights(inputs: ScoreInputs) -> pd.DataFrame:
    """Per value row: its normalized value `norm` and effective weight `e` (DC = Σ e·norm).

    e = w_metric / Σ present metric weights of its platform · w_platform / Σ present platform
    weights of its section · w_section / Σ present section weights of the brand, all per project ×
    period × brand; each sum by np.bincount over integer group codes (a page asks for this on every
    chart, so it stays in numpy rather than pandas groupby and joins).
    """
    frame = _attach_catalogue(inputs)
    frame["norm"] = normalize(frame, frame["lower"].to_numpy(), _methods(inputs))
    brand = ["project_id", "period", "brand_id"]
    w_metric = frame["w_metric"].to_numpy(dtype=float)
    w_platform = frame["w_platform"].to_numpy(dtype=float)
    w_section = frame["w_section"].to_numpy(dtype=float)
    platform, n_platforms = _group_codes(frame, [*brand, "platform_id"])
    section, n_sections = _group_codes(frame, [*brand, "section_id"])
    owner, n_brands = _group_codes(frame, brand)
    metric_sum = np.bincount(platform, weights=w_metric, minlength=n_platforms)[platform]
    # Each present platform (section) counted once: its first row stands for it.
    first_platform = _first_rows(platform, n_platforms)
    platform_sum = np.bincount(section[first_platform], weights=w_platform[first_platform], minlength=n_sections)
    first_section = _first_rows(section, n_sections)
    section_sum = np.bincount(owner[first_section], weights=w_section[first_section], minlength=n_brands)
    frame["e"] = w_metric / metric_sum * w_platform / platform_sum[section] * w_section / section_sum[owner]
    return frame


def decompose_change(inputs: ScoreInputs, brand_id: int, project_id: int, period_from, period_to) -> pd.DataFrame:
    """What moved one brand's DC score between two periods, metric by metric.

    contribution = e1·n1 − e0·n0 (a metric missing in a period counts 0 there) splits into
    value_effect = ē·Δn (the brand's normalized value moved) and weight_effect = n̄·Δe (coverage
    changed the weights); the contributions sum exactly to the change of the DC score.
    """
    values = inputs.values
    if pd.api.types.is_datetime64_any_dtype(values["period"]):
        period_from, period_to = pd.Timestamp(period_from), pd.Timestamp(period_to)
    mask = (values["project_id"] == project_id) & values["period"].isin([period_from, period_to])
    sub = ScoreInputs(values[mask], inputs.metrics, inputs.platform_weights, inputs.section_weights, inputs.method)
    frame = effective_weights(sub)
    frame = frame[frame["brand_id"] == brand_id]
    cols = ["metric_id", "value", "norm", "e"]
    before = frame[frame["period"] == period_from][cols].set_index("metric_id")
    after = frame[frame["period"] == period_to][cols].set_index("metric_id")
    out = before.merge(after, how="outer", left_index=True, right_index=True, suffixes=("_from", "_to"))
    out[["norm_from", "e_from", "norm_to", "e_to"]] = out[["norm_from", "e_from", "norm_to", "e_to"]].fillna(0.0)
    out["contribution"] = out["e_to"] * out["norm_to"] - out["e_from"] * out["norm_from"]
    out["value_effect"] = (out["e_to"] + out["e_from"]) / 2 * (out["norm_to"] - out["norm_from"])
    out["weight_effect"] = (out["norm_to"] + out["norm_from"]) / 2 * (out["e_to"] - out["e_from"])
    meta = inputs.metrics
    out["platform_id"] = meta["platform_id"].reindex(out.index).to_numpy()
    out["section_id"] = meta["section_id"].reindex(out.index).to_numpy()
    return out.reset_index().sort_values("contribution", key=np.abs, ascending=False, ignore_index=True)


def competitive_gaps(values: pd.DataFrame, roles: pd.DataFrame, metrics: pd.DataFrame,
                     method: str = "minmax") -> pd.DataFrame:
    """Each own brand's gap per metric to the best competitor and to the competitor average.

    `roles`: project_id, brand_id, role. Gaps are signed so positive means ahead, in raw units
    (direction-aware) and in normalized points. Rows without any competitor value are dropped.
    """
    frame = values[VALUE_COLUMNS].merge(roles[["project_id", "brand_id", "role"]], on=["project_id", "brand_id"])
    lower = (metrics["direction"].reindex(frame["metric_id"]).to_numpy() == "lower")
    frame["norm"] = normalize(frame, lower, method)
    frame["lower"] = lower
    keys = ["project_id", "period", "metric_id"]
    comp = frame[frame["role"] == "competitor"]
    signed = np.where(comp["lower"], -comp["value"], comp["value"])
    best = comp.assign(signed=signed).groupby(keys).agg(
        best_signed=("signed", "max"), competitor_avg=("value", "mean"),
        best_norm=("norm", "max"), competitor_avg_norm=("norm", "mean"),
    )
    own = frame[frame["role"] == "own"].join(best, on=keys, how="inner")
    sign = np.where(own["lower"], -1.0, 1.0)
    own["best_competitor"] = own["best_signed"] * sign
    own["gap_to_best"] = (own["value"] - own["best_competitor"]) * sign
    own["gap_to_avg"] = (own["value"] - own["competitor_avg"]) * sign
    own["gap_to_best_points"] = own["norm"] - own["best_norm"]
    own["gap_to_avg_points"] = own["norm"] - own["competitor_avg_norm"]
    return own.drop(columns=["best_signed", "role", "lower"]).reset_index(drop=True)
