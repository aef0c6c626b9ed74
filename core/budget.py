"""The budget what-if, from the database to a JSON result: brands × channels, curves, last year's spend.

`run_budget(db, user_id, inputs)` is what the optimization job (core.jobs.builtin) calls, whether the
optimizer page or the API submitted it. It takes the *user id* (the job's owner, never a browser
value), loads that user's Principal and re-authorizes every brand, because a job runs with no request
around it. Inputs from a browser are validated by `parse_inputs`; nothing else is trusted.

Units. Stored curves answer "outcome per period for a constant spend rate per period" (weekly for
the demo). Everything here is in *annual* terms: a curve β·hill(x; K, n) per period with P periods a
year becomes P·β·hill(A; P·K, n) for an annual spend A, so budgets, bounds, current spend (the sum of
the last 12 months), outcomes and intervals all read in the same yearly money, and marginal ROI is
unchanged. Brands with weekly and monthly data can then share one problem.

Engines (core.optimize): concave curves without hard constraints → exact (KKT); S-shaped curves,
on/off minimum spend, at most k active channels or whole spend units → the genetic search seeded by
the exact envelope optimum; brand/channel totals with S-curves → the exact envelope optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.frames import rows_frame
from core.input_ranges import (
    BUDGET,
    FRONTIER_POINTS,
    GENERATIONS,
    MAX_ACTIVE,
    MAX_CHANGE_PCT,
    MONEY,
    SEED,
    TARGET,
    UNIT,
    NumberRange,
    RangeError,
    unit_steps_problem,
)
from core.models import Brand, Channel, Organization, ResponseCurve, Spend, join_channel
from core.optimize.allocate import budget_frontier, maximize_outcome, minimize_budget
from core.optimize.curves import CurveArrays, CurveParams
from core.optimize.genetic import optimize_hard
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.progress import Cancelled, Monitor, ProgressFn
from core.optimize.results import AllocationResult, _f
from core.optimize.risk import risk_front
from core.read_cache import cached_read
from core.response_curves import FitDataError, fit_brand, stored_curves
from core.security import Action, Principal, authorize, load_principal, record, scope_filter
from core.spreadsheets import csv_bytes, xlsx_bytes

RUN = "scenario:run"
SCENARIOS = {"max_outcome": "Maximize outcome for a budget", "min_budget": "Smallest budget for a target outcome"}
SOURCES = {"fitted": "Fitted curves", "truth": "Demo truth curves (the generating parameters, demo only)"}
PERIODS_PER_YEAR = {"week": 52, "month": 12}
CURVE_POINTS = 40
MAX_CELLS = 120
DEFAULTS: dict[str, Any] = {"scenario": "max_outcome", "curve_source": "fitted", "generations": 120,
                            "risk_front": True, "frontier_points": 11, "seed": 0}
# Fitting on demand: fewer bootstrap refits than the CLI's 100 keeps a first run under a minute.
ON_DEMAND_BOOTSTRAP = 30
ON_DEMAND_STARTS = 3

__all__ = ["BudgetInputError", "Cancelled", "catalogue", "export_bytes", "parse_inputs", "preview", "result_tables",
           "run_budget"]


class BudgetInputError(ValueError):
    """Inputs a person must fix (the message says what); raised before any work is done."""


# ------------------------------------------------------------------------------------------------ inputs


@dataclass
class BudgetInputs:
    """Validated inputs; annual money everywhere, None where the person left a field empty."""

    brand_ids: list[int]
    channels: list[str]
    scenario: str = "max_outcome"
    curve_source: str = "fitted"
    budget: float | None = None
    target: float | None = None
    max_change_pct: float | None = None
    cells: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    brand_bounds: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)
    channel_bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    max_active_per_brand: int | None = None
    unit: float | None = None
    generations: int = 120
    risk_front: bool = True
    frontier_points: int = 11
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, as stored with a scenario and read back by `parse_inputs`."""
        return {
            "brand_ids": self.brand_ids, "channels": self.channels, "scenario": self.scenario,
            "curve_source": self.curve_source, "budget": self.budget, "target": self.target,
            "max_change_pct": self.max_change_pct,
            "cells": [{"brand_id": b, "channel": c, **v} for (b, c), v in self.cells.items()],
            "brand_bounds": [{"brand_id": b, "lower": lo, "upper": hi} for b, (lo, hi) in self.brand_bounds.items()],
            "channel_bounds": [{"channel": c, "lower": lo, "upper": hi} for c, (lo, hi) in self.channel_bounds.items()],
            "max_active_per_brand": self.max_active_per_brand, "unit": self.unit, "generations": self.generations,
            "risk_front": self.risk_front, "frontier_points": self.frontier_points, "seed": self.seed,
        }


def _num(value: Any, rng: NumberRange, name: str | None = None) -> float | None:
    """A number in its range (core.input_ranges) from a form, a grid cell or JSON; None when left empty."""
    try:
        return rng.read(value, name)
    except RangeError as exc:
        raise BudgetInputError(str(exc)) from None


def _bounds(row: dict, name: str) -> tuple[float | None, float | None]:
    lo, hi = _num(row.get("lower"), MONEY, f"{name} minimum"), _num(row.get("upper"), MONEY, f"{name} maximum")
    if lo is not None and hi is not None and lo > hi:
        raise BudgetInputError(f"{name}: minimum {lo:,.0f} exceeds maximum {hi:,.0f}")
    return lo, hi


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _check_unit(budget: float | None, unit: float | None, *, at_least_one: bool = True) -> None:
    """Refuse a unit that splits the budget into no whole unit or into an absurd number of them."""
    problem = None if budget is None or unit is None else unit_steps_problem(budget, unit, at_least_one=at_least_one)
    if problem:
        raise BudgetInputError(problem)


def parse_inputs(raw: dict[str, Any]) -> BudgetInputs:
    """Validate a browser's (or a stored scenario's) inputs; BudgetInputError says what is wrong."""
    if not isinstance(raw, dict):
        raise BudgetInputError("no inputs")
    try:
        brand_ids = sorted({int(b) for b in raw.get("brand_ids") or []})
    except (TypeError, ValueError):
        raise BudgetInputError("brands: expected brand ids") from None
    channels = sorted({str(c) for c in raw.get("channels") or [] if str(c).strip()})
    if not brand_ids:
        raise BudgetInputError("choose at least one brand")
    if not channels:
        raise BudgetInputError("choose at least one channel")
    if len(brand_ids) * len(channels) > MAX_CELLS:
        raise BudgetInputError(f"at most {MAX_CELLS} brand × channel cells per run")
    scenario = raw.get("scenario") or DEFAULTS["scenario"]
    if scenario not in SCENARIOS:
        raise BudgetInputError(f"unknown scenario type {scenario!r}")
    source = raw.get("curve_source") or DEFAULTS["curve_source"]
    if source not in SOURCES:
        raise BudgetInputError(f"unknown curve source {source!r}")
    out = BudgetInputs(brand_ids=brand_ids, channels=channels, scenario=scenario, curve_source=source,
                       budget=_num(raw.get("budget"), BUDGET), target=_num(raw.get("target"), TARGET))
    if scenario == "min_budget" and not out.target:
        raise BudgetInputError("the smallest-budget scenario needs a target outcome")
    out.max_change_pct = _num(raw.get("max_change_pct"), MAX_CHANGE_PCT)
    wanted = set(brand_ids)
    for row in raw.get("cells") or []:
        if not isinstance(row, dict):
            continue
        try:
            key = (int(row.get("brand_id")), str(row.get("channel")))
        except (TypeError, ValueError):
            continue
        if key[0] not in wanted or key[1] not in channels:
            continue  # rows of brands or channels no longer selected
        name = f"{row.get('brand') or key[0]} / {key[1]}"
        lo, hi = _bounds(row, name)
        entry = {"lower": lo, "upper": hi, "locked": bool(row.get("locked")),
                 "min_spend": _num(row.get("min_spend"), MONEY, f"{name} minimum when on")}
        if any(v not in (None, False) for v in entry.values()):
            out.cells[key] = entry
    for row in raw.get("brand_bounds") or []:
        if isinstance(row, dict) and str(row.get("brand_id", "")).isdigit() and int(row["brand_id"]) in wanted:
            lo, hi = _bounds(row, f"brand {row.get('brand') or row['brand_id']} total")
            if lo is not None or hi is not None:
                out.brand_bounds[int(row["brand_id"])] = (lo, hi)
    for row in raw.get("channel_bounds") or []:
        if isinstance(row, dict) and str(row.get("channel")) in channels:
            lo, hi = _bounds(row, f"channel {row['channel']} total")
            if lo is not None or hi is not None:
                out.channel_bounds[str(row["channel"])] = (lo, hi)
    out.max_active_per_brand = _num(raw.get("max_active_per_brand"), MAX_ACTIVE)
    out.unit = _num(raw.get("unit"), UNIT)
    if scenario == "max_outcome":  # the smallest-budget scenario finds its budget (checked in _min_budget)
        _check_unit(out.budget, out.unit)
    out.generations = _or(_num(raw.get("generations"), GENERATIONS), DEFAULTS["generations"])
    out.frontier_points = _or(_num(raw.get("frontier_points"), FRONTIER_POINTS), DEFAULTS["frontier_points"])
    out.seed = _or(_num(raw.get("seed"), SEED), DEFAULTS["seed"])
    risk = raw.get("risk_front", DEFAULTS["risk_front"])
    out.risk_front = bool(risk[0] if isinstance(risk, list) and risk else risk)
    return out


# ------------------------------------------------------------------------------------------------ data


@cached_read()
def catalogue(db: Database, principal: Principal) -> dict[str, Any]:
    """What the principal may optimize: brands with spend history, their channels, curve sources."""
    with db.session() as s:
        rows = s.execute(
            select(Brand.id, Brand.name, Organization.name.label("organization"))
            .join(Organization, Organization.id == Brand.organization_id)
            .where(scope_filter(principal, RUN, Brand), Brand.id.in_(select(Spend.brand_id).distinct()))
            .order_by(Organization.name, Brand.name)
        ).all()
        ids = [r.id for r in rows]
        kinds = s.execute(select(ResponseCurve.brand_id, ResponseCurve.kind).where(ResponseCurve.brand_id.in_(ids))
                          .distinct()).all() if ids else []
        channels = sorted(s.scalars(join_channel(select(Channel.name), Spend).where(
            Spend.brand_id.in_(ids), scope_filter(principal, RUN, Channel)).distinct())) if ids else []
    have = {(b, k) for b, k in kinds}
    brands = [{"id": r.id, "name": r.name, "organization": r.organization, "fitted": (r.id, "fitted") in have,
               "truth": (r.id, "truth") in have} for r in rows]
    return {"brands": brands, "channels": channels, "truth_available": any(b["truth"] for b in brands)}


def _authorize_brands(db: Database, principal: Principal, brand_ids: Sequence[int]) -> None:
    for brand_id in brand_ids:
        authorize(principal, RUN, ("brand", brand_id))


@dataclass
class _Spend:
    annual: dict[tuple[int, str], float]
    granularity: dict[int, str]
    window: dict[int, tuple[str, str, int]]  # brand → first, last period, periods in the window
    notes: list[str]


def last_year_spend(session: Session, brand_ids: Sequence[int]) -> _Spend:
    """Each brand's spend per channel over its last 12 months of data (52 weeks or 12 months)."""
    rows = session.execute(join_channel(
        select(Spend.brand_id, Channel.name.label("channel"), Spend.period, Spend.granularity, Spend.amount), Spend)
        .where(Spend.brand_id.in_(list(brand_ids)))
    ).all()
    df = rows_frame(rows, ["brand_id", "channel", "period", "granularity", "amount"])
    notes: list[str] = []
    if df.empty:
        return _Spend({}, {}, {}, notes)
    grain = df.groupby("brand_id")["granularity"].agg(lambda g: g.mode().iat[0])
    per_year = grain.map(PERIODS_PER_YEAR)
    df["rank"] = df.groupby("brand_id")["period"].rank(method="dense", ascending=False)
    recent = df[df["rank"] <= df["brand_id"].map(per_year)]
    n_periods = recent.groupby("brand_id")["period"].nunique()
    totals = recent.groupby(["brand_id", "channel"])["amount"].sum()
    scale = per_year / n_periods  # fewer than a year of data: scaled up to a year
    for brand_id in n_periods.index[n_periods < per_year.loc[n_periods.index]]:
        notes.append(f"brand {brand_id}: only {n_periods[brand_id]} {grain[brand_id]}s of spend; scaled to a year")
    annual = {(int(b), str(c)): float(v * scale[b]) for (b, c), v in totals.items()}
    window = {int(b): (str(g["period"].min()), str(g["period"].max()), int(g["period"].nunique()))
              for b, g in recent.groupby("brand_id")}
    return _Spend(annual, {int(b): str(g) for b, g in grain.items()}, window, notes)


@dataclass
class _Cell:
    brand_id: int
    brand: str
    channel: str
    current: float  # annual
    params: CurveParams  # annual units
    draws: np.ndarray | None  # (draws, 4): beta, decay, K, n in annual units
    fitted_max: float | None  # the largest annual rate the curve saw in its fit


def _annual(params: CurveParams, periods: int) -> CurveParams:
    return CurveParams(beta=params.beta * periods, decay=params.decay,
                       half_saturation=params.half_saturation * periods, shape=params.shape)


def _load_cells(db: Database, inputs: BudgetInputs, mon: Monitor | None, fit_span: tuple[float, float]) -> tuple[
        list[_Cell], _Spend, list[str]]:
    """Curves and last year's spend for every selected cell; fits missing curves when asked to."""
    notes: list[str] = []
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(inputs.brand_ids))).all())
        spend = last_year_spend(s, inputs.brand_ids)
        curves = {b: stored_curves(s, b, inputs.curve_source) for b in inputs.brand_ids}
    missing = [b for b in inputs.brand_ids if not curves[b]]
    if missing and inputs.curve_source == "truth":
        raise BudgetInputError("no demo truth curves for: " + ", ".join(names.get(b, str(b)) for b in missing))
    if missing and mon is None:
        notes.append("fitted curves missing for: " + ", ".join(names.get(b, str(b)) for b in missing)
                     + " (they are fitted when the run starts)")
    elif missing:
        lo, hi = fit_span
        for i, brand_id in enumerate(missing):
            a = lo + (hi - lo) * i / len(missing)
            b = lo + (hi - lo) * (i + 1) / len(missing)
            label = names.get(brand_id, str(brand_id))

            def scaled(fraction: float, message: str, a: float = a, b: float = b, label: str = label) -> None:
                mon.report(a + (b - a) * fraction, f"fitting {label}: {message}")

            try:
                fit_brand(db, brand_id, n_bootstrap=ON_DEMAND_BOOTSTRAP, n_starts=ON_DEMAND_STARTS, progress=scaled,
                          cancel=mon)
            except FitDataError as exc:
                raise BudgetInputError(f"cannot fit curves for {label}: {exc}") from None
            with db.session() as s:
                curves[brand_id] = stored_curves(s, brand_id, "fitted")
        notes.append("fitted on demand (bootstrap " + str(ON_DEMAND_BOOTSTRAP) + "): "
                     + ", ".join(names.get(b, str(b)) for b in missing))
    cells: list[_Cell] = []
    skipped = []
    for brand_id in inputs.brand_ids:
        periods = PERIODS_PER_YEAR.get(spend.granularity.get(brand_id, "week"), 52)
        for channel in inputs.channels:
            if channel not in curves[brand_id]:
                skipped.append(f"{names.get(brand_id, brand_id)} / {channel}")
                continue
            params, diag = curves[brand_id][channel]
            draws = np.asarray(diag.get("bootstrap_draws") or [], dtype=float)
            if draws.ndim == 2 and len(draws):
                draws = draws.copy()
                draws[:, 0] *= periods
                draws[:, 2] *= periods
            else:
                draws = None
            rng = diag.get("fitted_range") or {}
            cells.append(_Cell(brand_id, names.get(brand_id, str(brand_id)), channel,
                               spend.annual.get((brand_id, channel), 0.0), _annual(params, periods), draws,
                               rng["max"] * periods if rng.get("max") is not None else None))
    if skipped:
        notes.append("no curve (no spend history) for: " + ", ".join(skipped))
    if not cells and mon is None and missing:
        return cells, spend, notes + spend.notes  # a preview before the run fits them
    if not cells:
        raise BudgetInputError("none of the chosen brand × channel cells has a response curve")
    return cells, spend, notes + spend.notes


def _draws(cells: list[_Cell]) -> CurveArrays | None:
    if any(c.draws is None for c in cells):
        return None
    n = min(len(c.draws) for c in cells)
    stack = np.stack([c.draws[:n] for c in cells], axis=1)  # (draws, cells, 4)
    return CurveArrays(stack[..., 0], stack[..., 2], stack[..., 3])


def build_problem(cells: list[_Cell], inputs: BudgetInputs) -> AllocationProblem:
    """The AllocationProblem in annual money, with every bound, lock and hard-case option of the inputs."""
    n = len(cells)
    current = np.array([c.current for c in cells])
    lower, upper = np.zeros(n), np.full(n, np.inf)
    locked, min_spend = np.zeros(n, bool), np.zeros(n)
    for i, c in enumerate(cells):
        entry = inputs.cells.get((c.brand_id, c.channel), {})
        lower[i] = entry.get("lower") or 0.0
        upper[i] = np.inf if entry.get("upper") is None else entry["upper"]
        locked[i] = bool(entry.get("locked"))
        min_spend[i] = entry.get("min_spend") or 0.0
    labels = {c.brand_id: c.brand for c in cells}

    def totals(given: dict, label: Callable[[Any], str]) -> dict[str, tuple[float, float]]:
        return {label(k): (lo or 0.0, np.inf if hi is None else hi) for k, (lo, hi) in given.items()}

    return AllocationProblem(
        curves=CurveArrays.from_params([c.params for c in cells]),
        brands=[c.brand for c in cells], channels=[c.channel for c in cells], current=current,
        lower=lower, upper=upper, locked=locked if locked.any() else None,
        max_change=None if inputs.max_change_pct is None else inputs.max_change_pct / 100.0,
        brand_bounds=totals({k: v for k, v in inputs.brand_bounds.items() if k in labels}, lambda k: labels[k]),
        channel_bounds=totals({k: v for k, v in inputs.channel_bounds.items()
                               if k in {c.channel for c in cells}}, str),
        min_spend=min_spend if min_spend.any() else None,
        max_active_per_brand=inputs.max_active_per_brand, unit=inputs.unit, draws=_draws(cells),
    )


@cached_read()
def preview(db: Database, principal: Principal, brand_ids: Sequence[int], channels: Sequence[str],
            curve_source: str = "fitted") -> dict[str, Any]:
    """Last year's spend per cell, brand and channel, its predicted outcome: the defaults of the form."""
    inputs = parse_inputs({"brand_ids": list(brand_ids), "channels": list(channels), "curve_source": curve_source})
    _authorize_brands(db, principal, inputs.brand_ids)
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(inputs.brand_ids))).all())
        spend = last_year_spend(s, inputs.brand_ids)
    cells_out = [{"brand_id": b, "brand": names.get(b, str(b)), "channel": c, "current": spend.annual.get((b, c), 0.0)}
                 for b in inputs.brand_ids for c in inputs.channels]
    outcome, notes = None, list(spend.notes)
    try:
        cells, _, load_notes = _load_cells(db, inputs, None, (0.0, 0.0))
        notes += load_notes
        if not any("fitted curves missing" in n for n in load_notes):
            curves = CurveArrays.from_params([c.params for c in cells])
            outcome = float(curves.response(np.array([c.current for c in cells])).sum())
    except BudgetInputError as exc:
        notes.append(str(exc))
    frame = pd.DataFrame(cells_out)
    window = [f"{names.get(b, b)}: {w[0]} … {w[1]} ({w[2]} periods)" for b, w in spend.window.items()]
    return {
        "cells": cells_out,
        "brands": [{"brand_id": int(b), "brand": names.get(int(b), str(b)), "current": float(v)}
                   for b, v in frame.groupby("brand_id")["current"].sum().items()],
        "channels": [{"channel": str(c), "current": float(v)}
                     for c, v in frame.groupby("channel")["current"].sum().items()],
        "budget": float(frame["current"].sum()),
        "current_outcome": outcome,
        "window": window,
        "notes": notes,
    }


# ------------------------------------------------------------------------------------------------ run


def _scaled(progress: ProgressFn | None, a: float, b: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(a + (b - a) * fraction, message)


def _engine(problem: AllocationProblem, inputs: BudgetInputs, budget: float, progress: ProgressFn | None,
            cancel: Any, generations: int | None = None) -> AllocationResult:
    """The best allocation of `budget` by the engine the problem needs (see the module docstring)."""
    concave = bool(np.all(problem.curves.concave()))
    grouped = bool(problem.brand_bounds or problem.channel_bounds)
    if not problem.has_hard_constraints and (concave or grouped):
        result = maximize_outcome(problem, budget, allow_envelope=not concave)
        if not concave:
            result.notes.append("S-shaped curves with brand or channel totals: the exact optimum of their concave "
                                "envelope, evaluated on the real curves")
        return result
    if grouped:
        raise BudgetInputError("brand or channel totals cannot be combined with minimum-when-on spend, an active "
                               "channel limit or whole spend units; remove one of them")
    return optimize_hard(problem, budget, n_gen=generations or inputs.generations, seed=inputs.seed,
                         pop_size=40, progress=progress, cancel=cancel)


def _min_budget(problem: AllocationProblem, inputs: BudgetInputs, target: float, mon: Monitor,
                progress: ProgressFn | None, cancel: Any) -> AllocationResult:
    """Smallest budget reaching `target`: exact for concave curves, else bisection on the budget."""
    if np.all(problem.curves.concave()) and not problem.has_hard_constraints:
        return minimize_budget(problem, target)
    lo, hi = problem.total_range()
    if not math.isfinite(hi):
        hi = max(lo, float(np.sum(problem.current)) or 1.0)
        for _ in range(12):
            if _engine(problem, inputs, hi, None, cancel, 30).outcome >= target:
                break
            lo, hi = hi, hi * 2.0
        else:
            raise InfeasibleError(f"target {target:,.0f} is not reached even with a budget of {hi:,.0f}")
    elif _engine(problem, inputs, hi, None, cancel, 30).outcome < target:
        raise InfeasibleError(f"target {target:,.0f} is above what the bounds allow (budget up to {hi:,.0f})")
    steps = 14
    for k in range(steps):
        mon.report(k / steps * 0.6, f"searching the budget: {lo:,.0f} … {hi:,.0f}")
        if hi - lo <= 0.002 * hi:
            break
        mid = 0.5 * (lo + hi)
        if _engine(problem, inputs, mid, None, cancel, 30).outcome >= target:
            hi = mid
        else:
            lo = mid
    if problem.unit:
        _check_unit(hi, problem.unit, at_least_one=False)
        hi = math.ceil(hi / problem.unit - 1e-9) * problem.unit
    result = _engine(problem, inputs, hi, _scaled(progress, 0.6, 1.0), cancel)
    result.notes.append("smallest budget found by bisection (tolerance 0.2 %) over the budget")
    return result


def _frontier(problem: AllocationProblem, budget: float, points: int, progress: ProgressFn | None,
              cancel: Any) -> dict[str, Any]:
    """Best outcome across budgets from half to one and a half times the chosen one."""
    lo, hi = problem.total_range()
    budgets = np.unique(np.clip(np.linspace(0.5, 1.5, points) * budget, lo, hi))
    budgets = budgets[budgets > 0]
    concave = bool(np.all(problem.curves.concave()))
    note = None
    if concave and not problem.has_hard_constraints:
        front = budget_frontier(problem, budgets, progress=progress, cancel=cancel)
        outcomes, lam = front.outcomes, front.marginal_roi
    else:
        mon = Monitor(progress, cancel)
        outcomes, lam = [], []
        for k, b in enumerate(budgets):
            mon.report(k / len(budgets), f"frontier {k + 1} of {len(budgets)}")
            res = maximize_outcome(problem, float(b), allow_envelope=True)
            outcomes.append(res.outcome)
            lam.append(res.multiplier)
        outcomes, lam = np.array(outcomes), np.array(lam, dtype=float)
        note = "frontier from the exact optimum of the concave envelope at each budget"
        if problem.has_hard_constraints:
            note += " (without on/off, active-channel and unit constraints)"
    return {"budgets": _f(budgets), "outcomes": _f(outcomes), "marginal_roi": _f(lam), "note": note}


def _curve_points(cells: list[_Cell], optimal: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for c, x_opt in zip(cells, optimal, strict=True):
        top = max(c.current, float(x_opt), c.params.half_saturation) * 1.6
        xs = np.linspace(0.0, top, CURVE_POINTS)
        out.append({"brand": c.brand, "channel": c.channel, "spend": _f(xs), "outcome": _f(c.params.response(xs)),
                    "shape": c.params.shape})
    return out


def _interval(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else _f(np.array(pair))


def _uplift_interval(problem: AllocationProblem, x: np.ndarray, level: float = 0.9) -> list[float] | None:
    if problem.draws is None or problem.current is None:
        return None
    diff = (problem.draws.response(x[None, :]).sum(-1) - problem.draws.response(problem.current[None, :]).sum(-1))
    q = (1 - level) / 2
    return _f(np.quantile(diff, [q, 1 - q]))


def run_budget(db: Database, user_id: int, raw_inputs: dict[str, Any], *, progress: ProgressFn | None = None,
               cancel: Any = None, job_id: str | None = None) -> dict[str, Any]:
    """Run one budget scenario for `user_id` (re-authorized here) and return a JSON-able result.

    Raises BudgetInputError or InfeasibleError (a person can act on the message), Forbidden, Cancelled.
    """
    principal = load_principal(db, int(user_id))
    inputs = parse_inputs(raw_inputs)
    _authorize_brands(db, principal, inputs.brand_ids)
    mon = Monitor(progress, cancel)
    mon.report(0.0, "loading curves and last year's spend")
    cells, spend, notes = _load_cells(db, inputs, mon, (0.02, 0.35))
    problem = build_problem(cells, inputs)
    start = 0.35 if any("fitted on demand" in n for n in notes) else 0.05
    mon.report(start, "optimizing")
    budget = float(problem.current.sum()) if inputs.budget is None else inputs.budget
    if inputs.unit and inputs.scenario == "max_outcome":
        _check_unit(budget, inputs.unit)  # last year's spend, when no budget was given
        budget = round(budget / inputs.unit) * inputs.unit
    main = _scaled(progress, start, 0.7)
    if inputs.scenario == "max_outcome":
        result = _engine(problem, inputs, budget, main, cancel)
    else:
        result = _min_budget(problem, inputs, float(inputs.target), Monitor(main, cancel), main, cancel)
    mon.report(0.7, "budget frontier")
    frontier = _frontier(problem, result.budget, inputs.frontier_points, _scaled(progress, 0.7, 0.8), cancel)
    risk = None
    if inputs.risk_front and problem.draws is None:
        notes.append("no risk front: the curves carry no bootstrap draws (truth curves, or fitted without bootstrap)")
    elif inputs.risk_front and (problem.brand_bounds or problem.channel_bounds):
        notes.append("no risk front: it does not take brand or channel totals")
    elif inputs.risk_front:
        mon.report(0.8, "risk front")
        front = risk_front(problem, result.budget, n_gen=min(60, inputs.generations), pop_size=40, seed=inputs.seed,
                           progress=_scaled(progress, 0.8, 0.98), cancel=cancel)
        risk = {"points": [{k: p[k] for k in ("mean", "sd", "p5", "p95", "point_outcome")} for p in front.points()],
                "n_draws": front.n_draws}
    mon.report(0.99, "writing the result")
    x = result.allocation
    current_mroi = problem.curves.marginal(problem.current)
    lo_b, hi_b = problem.cell_bounds()
    cell_rows = []
    for i, c in enumerate(cells):
        change = float(x[i] - c.current)
        cell_rows.append({
            "brand_id": c.brand_id, "brand": c.brand, "channel": c.channel, "current": _f(c.current),
            "optimal": _f(float(x[i])), "change": _f(change),
            "change_pct": _f(change / c.current * 100.0) if c.current > 0 else None,
            "marginal_roi": _f(float(result.marginal_roi[i])), "current_marginal_roi": _f(float(current_mroi[i])),
            "lower": _f(float(lo_b[i])), "upper": _f(float(hi_b[i])),
            "extrapolated": bool(c.fitted_max is not None and x[i] > 1.5 * c.fitted_max),
        })
    if any(r["extrapolated"] for r in cell_rows):
        notes.append("some optimal spends lie well beyond the spend their curve was fitted on (marked ⚠)")
    uplift = None if result.gain is None else float(result.gain)
    current_outcome = result.current_outcome
    summary = {
        "version": 1,
        "scenario": inputs.scenario, "scenario_label": SCENARIOS[inputs.scenario],
        "curve_source": inputs.curve_source, "curve_source_label": SOURCES[inputs.curve_source],
        "inputs": inputs.to_dict(),
        "status": result.status, "method": result.method,
        "budget": _f(result.budget), "current_budget": _f(float(problem.current.sum())),
        "target": inputs.target,
        "outcome": _f(result.outcome), "outcome_interval": _interval(result.outcome_interval),
        "current_outcome": _f(current_outcome), "current_outcome_interval": _interval(result.current_outcome_interval),
        "uplift": _f(uplift),
        "uplift_pct": _f(uplift / current_outcome * 100.0) if uplift is not None and current_outcome else None,
        "uplift_interval": _uplift_interval(problem, x),
        "roi": _f(result.outcome / result.budget) if result.budget else None,
        "cells": cell_rows,
        "binding": result.binding,
        "curves": _curve_points(cells, x),
        "frontier": frontier,
        "risk_front": risk,
        "window": {str(b): list(w) for b, w in spend.window.items()},
        "notes": notes + list(result.notes) + ([frontier["note"]] if frontier.get("note") else []),
        "elapsed_s": result.elapsed_s,
        "run_by": principal.user_id,
        "job_id": job_id,
    }
    record(db, Action.SCENARIO_RUN, actor=principal, organization_id=principal.organization_id,
           target=("job", job_id) if job_id else None,
           data={"brands": inputs.brand_ids, "channels": inputs.channels, "scenario": inputs.scenario,
                 "curve_source": inputs.curve_source, "budget": summary["budget"], "outcome": summary["outcome"]})
    mon.report(1.0, "done")
    return summary


# ------------------------------------------------------------------------------------------------ export


def result_tables(result: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The result as tables: allocation, summary, binding constraints, frontier (for CSV/XLSX)."""
    cells = pd.DataFrame(result.get("cells") or [])
    cols = ["brand", "channel", "current", "optimal", "change", "change_pct", "marginal_roi", "current_marginal_roi",
            "lower", "upper"]
    allocation = cells[[c for c in cols if c in cells.columns]]
    summary = pd.DataFrame([
        {"item": k, "value": result.get(k)} for k in ("scenario_label", "curve_source_label", "method", "status",
                                                      "budget", "current_budget", "outcome", "current_outcome",
                                                      "uplift", "uplift_pct", "roi")
    ] + [{"item": f"{k} (90 % interval)", "value": " … ".join(f"{v:,.0f}" for v in result[k])}
         for k in ("outcome_interval", "uplift_interval") if result.get(k)]
      + [{"item": "note", "value": n} for n in result.get("notes") or []])
    frontier = pd.DataFrame({k: (result.get("frontier") or {}).get(k) or [] for k in ("budgets", "outcomes",
                                                                                     "marginal_roi")})
    return {"Allocation": allocation, "Summary": summary,
            "Binding": pd.DataFrame(result.get("binding") or [], columns=["kind", "name", "side", "value"]),
            "Frontier": frontier}


def export_bytes(result: dict[str, Any], fmt: str) -> bytes:
    """CSV (the allocation table) or XLSX (every table, one sheet each)."""
    tables = result_tables(result)
    if fmt == "csv":
        return csv_bytes(tables["Allocation"])
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}")
    return xlsx_bytes(tables)
