"""Generate the demo portfolio as arrays and frames, without touching a database.

Everything is vectorized over brands × metrics × periods (and brands × channels × weeks), and
every random draw comes from a generator derived from (seed, component), so one seed gives the
same numbers whatever else changes, and tests can check the generating process directly.

Metric values. For brand b, metric m, month t a latent score

    z = s_m·(strength_b·load_m + offset_bm + trend_bm·τ_t) + season_m(month of year) + AR(1) noise

(s_m = +1 when higher is better, −1 when lower is better, so a strong or improving brand is
better on every metric) is squashed with a logistic into the metric's typical band, on a log
scale for counts. The band lies strictly inside [min_value, max_value], so every value passes
the import range check. Anomalies shift z by ±3 in one month (a jump of ~20 noise sd).

Marketing mix (weekly spend, revenue, true curves, controls): see core.demo.mmm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.demo.catalogue import (
    CHANNELS,
    METRICS,
    ORGANIZATIONS,
    PLATFORMS,
    SECTION_WEIGHTS,
    ChannelSpec,
    MetricSpec,
    benchmark_brand_names,
)
from core.demo.mmm import CONTROL_NAMES, generate_mmm, generate_spend
from core.demo.streams import STREAM_ANOMALIES, STREAM_METRICS, ar1, stream

DEFAULT_END_MONTH = date(2026, 10, 1)
DEFAULT_MONTHS = 36
BENCHMARK_PROJECT_SIZE = 50


@dataclass
class Portfolio:
    """A generated portfolio. Brands, metrics and channels are referred to by row position.

    values[b, m, t] is the raw value of brand b, metric m (METRICS order), month t.
    spend[o, c, w] is the weekly spend of own brand o (row in `mmm_brands`), channel c, week w.
    controls[o, k, w] is control `control_names[k]` of own brand o in week w.
    """

    seed: int
    mode: str  # "demo" | "benchmark"
    periods: list[date]
    weeks: list[date]
    organizations: pd.DataFrame  # name, slug
    projects: pd.DataFrame  # org, name, category, section_weights
    brands: pd.DataFrame  # org, name, category
    members: pd.DataFrame  # project, brand, role
    metrics: tuple[MetricSpec, ...]
    values: np.ndarray
    anomalies: list[dict] = field(default_factory=list)
    channels: tuple[ChannelSpec, ...] = CHANNELS
    mmm_brands: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    spend: np.ndarray = field(default_factory=lambda: np.zeros((0, len(CHANNELS), 0)))
    revenue: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    units: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    curves: list[dict] = field(default_factory=list)  # brand, channel, params, diagnostics
    controls: np.ndarray = field(default_factory=lambda: np.zeros((0, len(CONTROL_NAMES), 0)))
    control_names: tuple[str, ...] = CONTROL_NAMES

    @property
    def n_values(self) -> int:
        return int(self.values.size)

    def metric_value_frame(self) -> pd.DataFrame:
        """Long frame brand, metric (code), period, raw_value — for tests and inspection."""
        n_b, n_m, n_t = self.values.shape
        b, m, t = np.meshgrid(np.arange(n_b), np.arange(n_m), np.arange(n_t), indexing="ij")
        codes = np.array([spec.code for spec in self.metrics], dtype=object)
        return pd.DataFrame({
            "brand": self.brands["name"].to_numpy()[b.ravel()],
            "org": self.brands["org"].to_numpy()[b.ravel()],
            "metric": codes[m.ravel()],
            "period": np.array(self.periods, dtype=object)[t.ravel()],
            "raw_value": self.values.ravel(),
        })


def month_starts(end_month: date, months: int = DEFAULT_MONTHS) -> list[date]:
    """The `months` first-of-month dates ending with `end_month`'s month."""
    end = end_month.year * 12 + end_month.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(end - months + 1, end + 1)]


def week_starts(periods: list[date]) -> list[date]:
    """Mondays of every week that overlaps the months in `periods`."""
    first = periods[0] - timedelta(days=periods[0].weekday())
    last_month = periods[-1]
    next_month = date(last_month.year + last_month.month // 12, last_month.month % 12 + 1, 1)
    n = (next_month - first).days // 7 + (1 if (next_month - first).days % 7 else 0)
    return [first + timedelta(weeks=i) for i in range(n)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def metric_arrays(metrics: tuple[MetricSpec, ...] = METRICS) -> dict[str, np.ndarray]:
    """Catalogue columns as arrays, for broadcasting over the value cube."""
    return {
        "sign": np.array([1.0 if m.direction == "higher" else -1.0 for m in metrics]),
        "lo": np.array([m.typical_low for m in metrics]),
        "hi": np.array([m.typical_high for m in metrics]),
        "min": np.array([m.min_value for m in metrics]),
        "max": np.array([m.max_value for m in metrics]),
        "log": np.array([m.scale == "log" for m in metrics]),
        "decimals": np.array([m.decimals for m in metrics]),
        "section": np.array([_SECTION_OF_PLATFORM[m.platform] for m in metrics], dtype=object),
    }


_SECTION_OF_PLATFORM = {p.name: p.section for p in PLATFORMS}


def _to_values(z: np.ndarray, arr: dict[str, np.ndarray]) -> np.ndarray:
    """Map latent scores into each metric's typical band (log band for counts), rounded."""
    u = _sigmoid(z)
    lo, hi = arr["lo"][None, :, None], arr["hi"][None, :, None]
    log = arr["log"][None, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = lo + (hi - lo) * u
        logged = np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u)
    values = np.where(log, logged, linear)
    scale = 10.0 ** arr["decimals"][None, :, None]
    values = np.round(values * scale) / scale
    return np.clip(values, arr["min"][None, :, None], arr["max"][None, :, None])


def generate_metric_values(
    seed: int, n_brands: int, periods: list[date], metrics: tuple[MetricSpec, ...] = METRICS, *,
    n_anomalies: int = 12, anomaly_brands: np.ndarray | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """The brands × metrics × periods value cube and the anomalies injected into it.

    Anomalies are drawn among `anomaly_brands` (default: all), at most one per brand × metric,
    never in the first third of the history (so a detector has a baseline), and two of them in
    the latest month. A spike moves the value up, a drop down; which one depends on where the
    series sits, so the jump is always large.
    """
    rng = stream(seed, STREAM_METRICS)
    arr = metric_arrays(metrics)
    n_m, n_t = len(metrics), len(periods)
    sign = arr["sign"]
    strength = rng.normal(0.0, 0.8, n_brands)
    load = rng.uniform(0.5, 1.2, n_m)
    offset = rng.normal(0.0, 0.6, (n_brands, n_m))
    trend = rng.normal(0.0, 0.6, n_brands)[:, None] + rng.normal(0.0, 0.3, (n_brands, n_m))
    tau = (np.arange(n_t) - (n_t - 1) / 2) / max(n_t - 1, 1)
    # Marketplace and paid media peak in the festive season (Oct–Nov); the rest peak anywhere.
    festive = np.isin(arr["section"], ["Marketplace", "Digital Spends"])
    peak = np.where(festive, rng.uniform(9.5, 11.0, n_m), rng.uniform(0.0, 12.0, n_m))
    amp = np.where(festive, rng.uniform(0.2, 0.45, n_m), rng.uniform(0.05, 0.25, n_m))
    month = np.array([p.month for p in periods], dtype=float)
    season = amp[:, None] * np.cos(2 * np.pi * (month[None, :] - peak[:, None]) / 12.0)
    phi, sd = 0.5, 0.15
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi**2), (n_brands, n_m, n_t))
    noise = ar1(shocks, phi)
    level = strength[:, None] * load[None, :] + offset
    z = sign[None, :, None] * (level[:, :, None] + trend[:, :, None] * tau[None, None, :])
    z = z + season[None, :, :] + noise

    anomalies = _pick_anomalies(seed, z, n_anomalies, anomaly_brands)
    expected = _to_values(z, arr)
    for a in anomalies:
        z[a["b"], a["m"], a["t"]] += a["shift"]
    values = _to_values(z, arr)
    records = [
        {
            "brand_index": a["b"],
            "metric": metrics[a["m"]].code,
            "period": periods[a["t"]],
            "kind": "spike" if a["shift"] > 0 else "drop",
            "effect": "better" if a["shift"] * sign[a["m"]] > 0 else "worse",
            "expected": float(expected[a["b"], a["m"], a["t"]]),
            "actual": float(values[a["b"], a["m"], a["t"]]),
        }
        for a in anomalies
    ]
    return values, records


def _pick_anomalies(seed: int, z: np.ndarray, n: int, brands: np.ndarray | None) -> list[dict]:
    n_b, n_m, n_t = z.shape
    if n <= 0 or n_t < 3:
        return []
    rng = stream(seed, STREAM_ANOMALIES)
    pool = np.arange(n_b) if brands is None else np.asarray(brands)
    n = min(n, pool.size * n_m)
    cells = rng.choice(pool.size * n_m, size=n, replace=False)
    b, m = pool[cells // n_m], cells % n_m
    t = rng.integers(n_t // 3, n_t, size=n)
    t[: min(2, n)] = n_t - 1
    # Move the latent score towards the far side of the band: up from a low point, down from a high one.
    shift = np.where(z[b, m, t] < 0, 1.0, -1.0) * rng.uniform(2.8, 3.6, n)
    return [{"b": int(b[i]), "m": int(m[i]), "t": int(t[i]), "shift": float(shift[i])} for i in range(n)]


def generate_demo(seed: int = 42, end_month: date | None = None, *, months: int = DEFAULT_MONTHS,
                  brands_per_role: int | None = None, n_anomalies: int = 12) -> Portfolio:
    """The default demo: the organizations of the catalogue, their projects and brands, values
    for every brand, and marketing-mix data for every own brand.

    `brands_per_role` keeps only the first k own and k competitor brands of each project (tests).
    """
    periods = month_starts(end_month or DEFAULT_END_MONTH, months)
    weeks = week_starts(periods)
    orgs, projects, brands, members = [], [], [], []
    brand_index: dict[tuple[str, str], int] = {}
    for org in ORGANIZATIONS:
        orgs.append({"name": org.name, "slug": org.slug})
        for p_pos, proj in enumerate(org.projects):
            weights = dict(SECTION_WEIGHTS)
            # Sensible but not identical per project: the second leans on social, the first on marketplace.
            if p_pos % 2:
                weights.update({"Marketplace": 0.25, "Socialwatch": 0.30})
            projects.append({"org": org.name, "name": proj.name, "category": proj.category,
                             "section_weights": weights})
            own = proj.own[:brands_per_role] if brands_per_role else proj.own
            comp = proj.competitors[:brands_per_role] if brands_per_role else proj.competitors
            for role, names in (("own", own), ("competitor", comp)):
                for name in names:
                    key = (org.name, name)
                    if key not in brand_index:
                        brand_index[key] = len(brands)
                        brands.append({"org": org.name, "name": name, "category": proj.category})
                    members.append({"project": len(projects) - 1, "brand": brand_index[key], "role": role})
    members_df = pd.DataFrame(members)
    own_idx = np.unique(members_df.loc[members_df["role"] == "own", "brand"].to_numpy())
    values, anomalies = generate_metric_values(seed, len(brands), periods, n_anomalies=n_anomalies,
                                               anomaly_brands=own_idx)
    brands_df = pd.DataFrame(brands)
    for a in anomalies:
        a["brand"] = brands_df.at[a["brand_index"], "name"]
        a["organization"] = brands_df.at[a["brand_index"], "org"]
    # Brand size and list price: electronics cost more per unit than soaps.
    size_rng = stream(seed, 0)
    size = size_rng.lognormal(0.0, 0.5, own_idx.size)
    is_electronics = brands_df["org"].to_numpy()[own_idx] == ORGANIZATIONS[-1].name
    price = np.where(is_electronics, size_rng.uniform(900, 6000, own_idx.size), size_rng.uniform(60, 600, own_idx.size))
    spend = generate_spend(seed, own_idx.size, weeks, size)
    revenue, units, truths, controls = generate_mmm(seed, weeks, spend, np.round(price))
    curves = [{"brand": int(own_idx[i]), **curve} for i, brand_curves in enumerate(truths) for curve in brand_curves]
    return Portfolio(
        seed=seed, mode="demo", periods=periods, weeks=weeks,
        organizations=pd.DataFrame(orgs), projects=pd.DataFrame(projects), brands=brands_df,
        members=members_df, metrics=METRICS, values=values, anomalies=anomalies,
        mmm_brands=own_idx, spend=spend, revenue=revenue, units=units, curves=curves, controls=controls,
    )


def generate_benchmark(n_brands: int, seed: int = 42, end_month: date | None = None, *,
                       months: int = DEFAULT_MONTHS, n_anomalies: int | None = None) -> Portfolio:
    """The scale portfolio: one organization, `n_brands` brands in projects of about 50, half own
    and half competitors, metric values only (no marketing-mix data)."""
    if n_brands < 2:
        raise ValueError("the benchmark portfolio needs at least 2 brands")
    periods = month_starts(end_month or DEFAULT_END_MONTH, months)
    n_projects = max(1, round(n_brands / BENCHMARK_PROJECT_SIZE))
    project = np.arange(n_brands) * n_projects // n_brands  # contiguous blocks of ~50
    first_in_project = np.searchsorted(project, project)
    project_size = np.bincount(project)[project]
    role = np.where(np.arange(n_brands) - first_in_project < project_size // 2, "own", "competitor")
    org = "Benchmark Holdings"
    names = benchmark_brand_names(n_brands)
    brands = pd.DataFrame({"org": org, "name": names, "category": [f"Category {p + 1}" for p in project]})
    projects = pd.DataFrame({
        "org": org, "name": [f"Benchmark project {p + 1:03d}" for p in range(n_projects)],
        "category": [f"Category {p + 1}" for p in range(n_projects)],
        "section_weights": [dict(SECTION_WEIGHTS) for _ in range(n_projects)],
    })
    members = pd.DataFrame({"project": project, "brand": np.arange(n_brands), "role": role})
    n_anom = max(12, n_brands // 10) if n_anomalies is None else n_anomalies
    values, anomalies = generate_metric_values(seed, n_brands, periods, n_anomalies=n_anom,
                                               anomaly_brands=np.flatnonzero(role == "own"))
    for a in anomalies:
        a["brand"], a["organization"] = names[a["brand_index"]], org
    return Portfolio(
        seed=seed, mode="benchmark", periods=periods, weeks=[],
        organizations=pd.DataFrame([{"name": org, "slug": "benchmark"}]), projects=projects,
        brands=brands, members=members, metrics=METRICS, values=values, anomalies=anomalies,
        spend=np.zeros((0, len(CHANNELS), 0)),
    )
