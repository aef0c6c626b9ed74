"""Cells of a budget run: each chosen brand × channel with its curve and last year's spend, in annual money.

Split from core.budget so that module is the run (engines, frontier, result) and this one the data it
starts from: reading curves and spend, fitting missing curves on demand, and the AllocationProblem
built from them and the inputs (core.budget_inputs). See core.budget for the units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.budget_inputs import BudgetInputError, BudgetInputs
from core.db import Database
from core.frames import rows_frame
from core.models import Brand, Channel, Spend, join_channel
from core.optimize.curves import CurveArrays, CurveParams
from core.optimize.problem import AllocationProblem
from core.optimize.progress import Monitor
from core.plan_limits import no_curves, no_truth_curves
from core.response_curves import FitDataError, fit_brand, stored_curves

PERIODS_PER_YEAR = {"week": 52, "month": 12}
# Fitting on demand: fewer bootstrap refits than the CLI's 100 keeps a first run under a minute.
ON_DEMAND_BOOTSTRAP = 30
ON_DEMAND_STARTS = 3
MISSING_NOTE = "No fitted curves yet for "
FITTED_NOTE = "fitted on demand"

__all__ = ["FITTED_NOTE", "MISSING_NOTE", "Cell", "SpendYear", "build_problem", "last_year_spend", "load_cells"]


@dataclass
class SpendYear:
    """Last year's spend, annual per (brand, channel), with each brand's granularity and window."""

    annual: dict[tuple[int, str], float]
    granularity: dict[int, str]
    window: dict[int, tuple[str, str, int]]  # brand → first, last period, periods in the window
    notes: list[str]


def last_year_spend(session: Session, brand_ids: Sequence[int]) -> SpendYear:
    """Each brand's spend per channel over its last 12 months of data (52 weeks or 12 months)."""
    names = dict(session.execute(select(Brand.id, Brand.name).where(Brand.id.in_(list(brand_ids)))).all())
    rows = session.execute(join_channel(
        select(Spend.brand_id, Channel.name.label("channel"), Spend.period, Spend.granularity, Spend.amount), Spend)
        .where(Spend.brand_id.in_(list(brand_ids)))
    ).all()
    df = rows_frame(rows, ["brand_id", "channel", "period", "granularity", "amount"])
    notes: list[str] = []
    if df.empty:
        return SpendYear({}, {}, {}, notes)
    grain = df.groupby("brand_id")["granularity"].agg(lambda g: g.mode().iat[0])
    per_year = grain.map(PERIODS_PER_YEAR)
    df["rank"] = df.groupby("brand_id")["period"].rank(method="dense", ascending=False)
    recent = df[df["rank"] <= df["brand_id"].map(per_year)]
    n_periods = recent.groupby("brand_id")["period"].nunique()
    totals = recent.groupby(["brand_id", "channel"])["amount"].sum()
    scale = per_year / n_periods  # fewer than a year of data: scaled up to a year
    for brand_id in n_periods.index[n_periods < per_year.loc[n_periods.index]]:
        notes.append(f"{names.get(int(brand_id), brand_id)}: only {n_periods[brand_id]} {grain[brand_id]}s of spend, "
                     "scaled up to a year.")
    annual = {(int(b), str(c)): float(v * scale[b]) for (b, c), v in totals.items()}
    window = {int(b): (str(g["period"].min()), str(g["period"].max()), int(g["period"].nunique()))
              for b, g in recent.groupby("brand_id")}
    return SpendYear(annual, {int(b): str(g) for b, g in grain.items()}, window, notes)


@dataclass
class Cell:
    """One brand × channel of a run, everything in annual money."""

    brand_id: int
    brand: str
    channel: str
    current: float  # annual
    params: CurveParams  # annual units
    draws: np.ndarray | None  # (draws, 4): beta, decay, K, n in annual units
    fitted_max: float | None  # the largest annual rate the curve saw in its fit


def _annual(params: CurveParams, periods: int) -> CurveParams:
    """P·β·sat(A/P; K, n) = P·β·sat(A; P·K, n) for both families (each reads x/K only); the family is kept."""
    return replace(params, beta=params.beta * periods, half_saturation=params.half_saturation * periods)


def _fit_missing(db: Database, missing: list[int], names: dict[int, str], mon: Monitor,
                 fit_span: tuple[float, float]) -> dict[int, dict]:
    """Fit the brands without stored curves, each reporting progress in its share of `fit_span`."""
    lo, hi = fit_span
    fitted = {}
    for i, brand_id in enumerate(missing):
        a = lo + (hi - lo) * i / len(missing)
        b = lo + (hi - lo) * (i + 1) / len(missing)
        label = names.get(brand_id, str(brand_id))

        def scaled(fraction: float, message: str, a: float = a, b: float = b, label: str = label) -> None:
            mon.report(a + (b - a) * fraction, f"fitting {label}: {message}")

        try:
            fit_brand(db, brand_id, n_bootstrap=ON_DEMAND_BOOTSTRAP, n_starts=ON_DEMAND_STARTS, progress=scaled,
                      cancel=mon, trigger="optimizer")
        except FitDataError as exc:
            raise BudgetInputError(f"cannot fit curves for {label}: {exc}") from None
        with db.session() as s:
            fitted[brand_id] = stored_curves(s, brand_id, "fitted")
    return fitted


def _cell(brand_id: int, brand: str, channel: str, current: float, curve: tuple[CurveParams, dict],
          periods: int) -> Cell:
    """One cell in annual units: the curve, its bootstrap draws and the largest rate it was fitted on."""
    params, diag = curve
    draws = np.asarray(diag.get("bootstrap_draws") or [], dtype=float)
    if draws.ndim == 2 and len(draws):
        draws = draws.copy()
        draws[:, 0] *= periods
        draws[:, 2] *= periods
    else:
        draws = None
    fitted_max = (diag.get("fitted_range") or {}).get("max")
    return Cell(brand_id, brand, channel, current, _annual(params, periods), draws,
                None if fitted_max is None else fitted_max * periods)


def load_cells(db: Database, inputs: BudgetInputs, mon: Monitor | None, fit_span: tuple[float, float]) -> tuple[
        list[Cell], SpendYear, list[str]]:
    """Curves and last year's spend for every selected cell; fits missing curves when asked to (`mon`
    given: a run), else notes them (a preview)."""
    notes: list[str] = []
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(inputs.brand_ids))).all())
        spend = last_year_spend(s, inputs.brand_ids)
        curves = {b: stored_curves(s, b, inputs.curve_source) for b in inputs.brand_ids}
    missing = [b for b in inputs.brand_ids if not curves[b]]
    listed = ", ".join(names.get(b, str(b)) for b in missing)
    if missing and inputs.curve_source == "truth":
        raise no_truth_curves([names.get(b, str(b)) for b in missing])
    if missing and mon is None:
        notes.append(MISSING_NOTE + listed + ": the run fits them first (about a minute a brand) and keeps them.")
    elif missing:
        curves.update(_fit_missing(db, missing, names, mon, fit_span))
        notes.append(f"{listed}: curves {FITTED_NOTE} for this run from the brand's history "
                     f"({ON_DEMAND_BOOTSTRAP} bootstrap refits give the ranges), kept for the next run.")
    cells: list[Cell] = []
    skipped = []
    for brand_id in inputs.brand_ids:
        periods = PERIODS_PER_YEAR.get(spend.granularity.get(brand_id, "week"), 52)
        brand = names.get(brand_id, str(brand_id))
        for channel in inputs.channels:
            if channel in curves[brand_id]:
                cells.append(_cell(brand_id, brand, channel, spend.annual.get((brand_id, channel), 0.0),
                                   curves[brand_id][channel], periods))
            elif curves[brand_id]:  # a brand not fitted yet (a preview) has no curve at all, not a gap
                skipped.append(f"{brand} / {channel}")
    if skipped:
        notes.append("No spend history, so no curve and nothing planned, for: " + ", ".join(skipped) + ".")
    if not cells and not (mon is None and missing):  # a preview before the run fits them may have none
        raise no_curves([names.get(b, str(b)) for b in inputs.brand_ids], inputs.channels)
    return cells, spend, notes + spend.notes


def _draws(cells: list[Cell]) -> CurveArrays | None:
    if any(c.draws is None for c in cells):
        return None
    n = min(len(c.draws) for c in cells)
    stack = np.stack([c.draws[:n] for c in cells], axis=1)  # (draws, cells, 4)
    logistic = np.array([c.params.family == "logistic" for c in cells], dtype=bool)  # a draw keeps its cell's family
    return CurveArrays(stack[..., 0], stack[..., 2], stack[..., 3], logistic)


def build_problem(cells: list[Cell], inputs: BudgetInputs) -> AllocationProblem:
    """The AllocationProblem in annual money, with every bound, lock and hard-case option of the inputs."""
    n = len(cells)
    current = np.array([c.current for c in cells])
    lower, upper = np.zeros(n), np.full(n, np.inf)
    locked, min_spend = np.zeros(n, bool), np.zeros(n)
    bounds = inputs.cell_map()
    for i, c in enumerate(cells):
        entry = bounds.get((c.brand_id, c.channel))
        if entry is not None:
            lower[i] = entry.lower or 0.0
            upper[i] = np.inf if entry.upper is None else entry.upper
            locked[i] = entry.locked
            min_spend[i] = entry.min_spend or 0.0
    labels = {c.brand_id: c.brand for c in cells}

    def totals(given: dict, label: Callable[[Any], str]) -> dict[str, tuple[float, float]]:
        return {label(k): (lo or 0.0, np.inf if hi is None else hi) for k, (lo, hi) in given.items()}

    return AllocationProblem(
        curves=CurveArrays.from_params([c.params for c in cells]),
        brands=[c.brand for c in cells], channels=[c.channel for c in cells], current=current,
        lower=lower, upper=upper, locked=locked if locked.any() else None,
        max_change=None if inputs.max_change_pct is None else inputs.max_change_pct / 100.0,
        brand_bounds=totals({k: v for k, v in inputs.brand_totals().items() if k in labels}, lambda k: labels[k]),
        channel_bounds=totals({k: v for k, v in inputs.channel_totals().items()
                               if k in {c.channel for c in cells}}, str),
        min_spend=min_spend if min_spend.any() else None,
        max_active_per_brand=inputs.max_active_per_brand, unit=inputs.unit, draws=_draws(cells),
    )
