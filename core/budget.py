"""The budget what-if, from the database to a JSON result: brands × channels, curves, last year's spend.

`run_budget(db, user_id, inputs)` is what the optimization job (core.jobs.builtin) calls, whether the
optimizer page or the API submitted it. It takes the *user id* (the job's owner, never a browser
value), loads that user's Principal and re-authorizes every brand, because a job runs with no request
around it. Inputs are read by `BudgetInputs.read` (core.budget_inputs, the one schema of a run, also
the API's); the cells a run starts from are loaded by core.budget_cells.

Units. Stored curves answer "outcome per period for a constant spend rate per period" (weekly for
the demo). Everything here is in *annual* terms: a curve β·sat(x; K, n) per period (Hill or logistic)
with P periods a year becomes P·β·sat(A; P·K, n) for an annual spend A, so budgets, bounds, current spend (the sum of
the last 12 months), outcomes and intervals all read in the same yearly money, and marginal ROI is
unchanged. Brands with weekly and monthly data can then share one problem.

Engines (core.optimize): concave curves without hard constraints → exact (KKT); S-shaped curves,
on/off minimum spend, at most k active channels or whole spend units → the genetic search seeded by
the exact envelope optimum; brand/channel totals with S-curves → the exact envelope optimum, a heuristic
whose status ("envelope_bound") and `outcome_bound` say how far below an upper bound it can be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from core.budget_cells import FITTED_NOTE, MISSING_NOTE, Cell, build_problem, last_year_spend, load_cells
from core.budget_inputs import ROAS_SCENARIOS, SCENARIOS, SOURCES, BudgetInputError, BudgetInputs, check_unit
from core.classified_export import watermarked
from core.db import Database
from core.formatting import Units
from core.models import Brand, Channel, Organization, ResponseCurve, Spend, join_channel
from core.optimize.allocate import budget_frontier, maximize_outcome, minimize_budget
from core.optimize.curves import CurveArrays
from core.optimize.efficiency import TargetRoasError, exact_plan, heuristic_plan
from core.optimize.explain import explain_plan
from core.optimize.genetic import optimize_hard
from core.optimize.odds import plan_odds
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.progress import Cancelled, Monitor, ProgressFn
from core.optimize.results import AllocationResult, _f, describe_status, status_words
from core.optimize.risk import risk_front
from core.plan_limits import check_budget, check_limits, check_target, engine_refusal, roas_note, roas_refusal
from core.read_cache import cached_read
from core.security import Action, Principal, authorize, load_principal, record, scope_filter
from core.settings import brand_units
from core.spreadsheets import csv_bytes, xlsx_bytes

RUN = "scenario:run"
CURVE_POINTS = 40
NO_DRAWS_NOTE = ("No risk front: it needs the uncertainty of fitted curves, and these curves carry none "
                 "(the demo truth curves are exact).")

__all__ = ["SCENARIOS", "SOURCES", "BudgetInputError", "BudgetInputs", "Cancelled", "catalogue", "export_bytes",
           "preview", "result_tables", "run_budget"]


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


@cached_read()
def preview(db: Database, principal: Principal, brand_ids: Sequence[int], channels: Sequence[str],
            curve_source: str = "fitted") -> dict[str, Any]:
    """Last year's spend per cell, brand and channel, its predicted outcome: the defaults of the form."""
    inputs = BudgetInputs.read({"brand_ids": list(brand_ids), "channels": list(channels), "curve_source": curve_source})
    _authorize_brands(db, principal, inputs.brand_ids)
    with db.session() as s:
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(inputs.brand_ids))).all())
        spend = last_year_spend(s, inputs.brand_ids)
        units = brand_units(s, inputs.brand_ids)
    cells_out = [{"brand_id": b, "brand": names.get(b, str(b)), "channel": c, "current": spend.annual.get((b, c), 0.0)}
                 for b in inputs.brand_ids for c in inputs.channels]
    outcome, notes, draws = None, list(spend.notes), False
    try:
        cells, _, load_notes = load_cells(db, inputs, None, (0.0, 0.0))
        notes += load_notes
        missing = any(n.startswith(MISSING_NOTE) for n in load_notes)
        draws = missing or all(c.draws is not None for c in cells)  # a fit on demand keeps bootstrap draws
        if not missing:
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
        "draws": draws,  # the curves carry their uncertainty: intervals and the risk front can be computed
        "window": window,
        "notes": list(dict.fromkeys(notes)),
        "units": units.as_dict(),
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
                                "envelopes, evaluated on the real curves (the genetic search does not take totals)")
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
        check_unit(hi, problem.unit, at_least_one=False)
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
    notes = []
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
        hard = " (without on/off, active-channel and unit constraints)" if problem.has_hard_constraints else ""
        notes.append("frontier from the optimum of the concave envelopes at each budget, evaluated on the real curves: "
                     f"a heuristic for S-shaped curves, not a proven best{hard}")
    unbounded = np.isposinf(lam)
    if unbounded.any():
        notes.append(f"marginal ROI unbounded at a budget of {budgets[unbounded][0]:,.0f}, the smallest allowed: "
                     "a channel without spend there returns more than any fixed ROI on its first unit")
    return {"budgets": _f(budgets), "outcomes": _f(outcomes), "marginal_roi": _f(lam),
            "marginal_roi_unbounded": unbounded.tolist(), "note": "; ".join(notes) or None}


def _curve_points(cells: list[Cell], optimal: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for c, x_opt in zip(cells, optimal, strict=True):
        top = max(c.current, float(x_opt), c.params.half_saturation) * 1.6
        xs = np.linspace(0.0, top, CURVE_POINTS)
        out.append({"brand": c.brand, "channel": c.channel, "spend": _f(xs), "outcome": _f(c.params.response(xs)),
                    "shape": c.params.shape, "family": c.params.family})
    return out


def _interval(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else _f(np.array(pair))


def _uplift_interval(problem: AllocationProblem, x: np.ndarray, level: float = 0.9) -> list[float] | None:
    if problem.draws is None or problem.current is None:
        return None
    diff = (problem.draws.response(x[None, :]).sum(-1) - problem.draws.response(problem.current[None, :]).sum(-1))
    q = (1 - level) / 2
    return _f(np.quantile(diff, [q, 1 - q]))


def _target_roas(problem: AllocationProblem, inputs: BudgetInputs, progress: ProgressFn | None, cancel: Any,
                 units: Units) -> AllocationResult:
    """The target-ROAS plans (core.optimize.efficiency): exact for concave curves, else bisection over the engine."""
    check_limits(problem, units)
    target = float(inputs.target_roas)
    try:
        if np.all(problem.curves.concave()) and not problem.has_hard_constraints:
            return exact_plan(problem, inputs.scenario, target)
        return heuristic_plan(problem, inputs.scenario, target, lambda b, effort: _engine(
            problem, inputs, b, progress if effort == "final" else None, cancel, 30 if effort == "quick" else None))
    except TargetRoasError as exc:
        raise roas_refusal(problem, exc, units) from None


def _plan(problem: AllocationProblem, inputs: BudgetInputs, budget: float, progress: ProgressFn | None,
          cancel: Any, units: Units) -> AllocationResult:
    """The plan the scenario asks for, once the limits are checked and any refusal worded (core.plan_limits)."""
    try:
        if inputs.scenario in ROAS_SCENARIOS:
            return _target_roas(problem, inputs, progress, cancel, units)
        if inputs.scenario == "max_outcome":
            return _engine(problem, inputs, check_budget(problem, budget, units), progress, cancel)
        target = float(inputs.target)

        def best_at(most: float) -> float:  # the best outcome at the most the limits allow, in whole units
            units = math.floor(most / inputs.unit + 1e-9) * inputs.unit if inputs.unit else most
            return _engine(problem, inputs, units, None, cancel, 30).outcome

        check_target(problem, target, best_at, units)
        return _min_budget(problem, inputs, target, Monitor(progress, cancel), progress, cancel)
    except InfeasibleError as exc:
        raise engine_refusal(exc) from None


def run_budget(db: Database, user_id: int, raw_inputs: BudgetInputs | dict[str, Any], *,
               progress: ProgressFn | None = None, cancel: Any = None, job_id: str | None = None) -> dict[str, Any]:
    """Run one budget scenario for `user_id` (re-authorized here) and return a JSON-able result.

    Raises BudgetInputError or core.plan_limits.PlanError (a person can act on the message), Forbidden, Cancelled.
    """
    principal = load_principal(db, int(user_id))
    inputs = BudgetInputs.read(raw_inputs)
    _authorize_brands(db, principal, inputs.brand_ids)
    mon = Monitor(progress, cancel)
    mon.report(0.0, "loading curves and last year's spend")
    cells, spend, notes = load_cells(db, inputs, mon, (0.02, 0.35))
    problem = build_problem(cells, inputs)
    start = 0.35 if any(FITTED_NOTE in n for n in notes) else 0.05
    mon.report(start, "optimizing")
    budget = float(problem.current.sum()) if inputs.budget is None else inputs.budget
    if inputs.unit and inputs.scenario == "max_outcome":
        check_unit(budget, inputs.unit)  # last year's spend, when no budget was given
        budget = round(budget / inputs.unit) * inputs.unit
    main = _scaled(progress, start, 0.7)
    with db.session() as s:  # the currency the run's money is in: its messages, and its result (and saved scenario)
        units = brand_units(s, inputs.brand_ids)
    result = _plan(problem, inputs, budget, main, cancel, units)
    target_note = None if inputs.scenario not in ROAS_SCENARIOS else roas_note(
        problem, inputs.scenario, inputs.target_roas, result.budget, result.outcome, units)
    mon.report(0.7, "budget frontier")
    frontier = _frontier(problem, result.budget, inputs.frontier_points, _scaled(progress, 0.7, 0.8), cancel)
    risk = None
    if inputs.risk_front and problem.draws is None:
        notes.append(NO_DRAWS_NOTE)
    elif inputs.risk_front and (problem.brand_bounds or problem.channel_bounds):
        notes.append("No risk front: it cannot take brand or channel totals; remove them to see it.")
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
        notes.append("Some planned spends lie well beyond any spend their curve was fitted on (marked ⚠): "
                     "treat those predictions with care.")
    uplift = None if result.gain is None else float(result.gain)
    current_outcome = result.current_outcome
    summary = {
        "version": 1,
        "scenario": inputs.scenario, "scenario_label": SCENARIOS[inputs.scenario],
        "curve_source": inputs.curve_source, "curve_source_label": SOURCES[inputs.curve_source],
        "inputs": inputs.model_dump(mode="json"),
        "status": result.status, "method": result.method,
        "status_label": status_words(result.status, result.method, result.outcome, result.outcome_bound),
        "outcome_bound": _f(result.outcome_bound),
        "budget": _f(result.budget), "current_budget": _f(float(problem.current.sum())),
        "target": inputs.target, "target_roas": inputs.target_roas, "target_note": target_note,
        "outcome": _f(result.outcome), "outcome_interval": _interval(result.outcome_interval),
        "current_outcome": _f(current_outcome), "current_outcome_interval": _interval(result.current_outcome_interval),
        "uplift": _f(uplift),
        "uplift_pct": _f(uplift / current_outcome * 100.0) if uplift is not None and current_outcome else None,
        "uplift_interval": _uplift_interval(problem, x),
        "explanation": explain_plan(problem, result, units=units),
        "odds": plan_odds(problem.draws, x, problem.current),
        "roi": _f(result.outcome / result.budget) if result.budget else None,
        "cells": cell_rows,
        "binding": result.binding,
        "curves": _curve_points(cells, x),
        "frontier": frontier,
        "risk_front": risk,
        "window": {str(b): list(w) for b, w in spend.window.items()},
        "notes": list(dict.fromkeys(notes)),  # in a marketer's words; how the engine got there is below
        "method_notes": list(result.notes) + ([frontier["note"]] if frontier.get("note") else []),
        "elapsed_s": result.elapsed_s,
        "run_by": principal.user_id,
        "job_id": job_id,
    }
    summary["units"] = units.as_dict()
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
    units = Units.of(result.get("units"))
    items = [(k, result.get(k)) for k in ("scenario_label", "curve_source_label", "method")]
    items += [("currency", units.currency or "not chosen"), ("outcome", units.outcome_name)]
    if result.get("target_roas") is not None:
        items += [("target ROAS", units.roas(result["target_roas"]))]
        items += [("note", result["target_note"])] if result.get("target_note") else []
    items += [("status", describe_status(result))]
    items += [(k, result.get(k)) for k in ("budget", "current_budget", "outcome", "outcome_bound", "current_outcome",
                                           "uplift", "uplift_pct", "roi")]
    items += [(f"{k} (90 % interval)", " … ".join(f"{v:,.0f}" for v in result[k]))
              for k in ("outcome_interval", "uplift_interval") if result.get(k)]
    items += [("note", n) for n in result.get("notes") or []]
    items += [("method note", n) for n in result.get("method_notes") or []]
    summary = pd.DataFrame([{"item": k, "value": v} for k, v in items])
    front = result.get("frontier") or {}
    frontier = pd.DataFrame({k: front.get(k) or [] for k in ("budgets", "outcomes", "marginal_roi")})
    if any(front.get("marginal_roi_unbounded") or []):  # words, not a blank, where the marginal ROI is unbounded
        frontier["marginal_roi"] = [("unbounded" if u else v) for u, v in
                                    zip(front["marginal_roi_unbounded"], frontier["marginal_roi"], strict=True)]
    return {"Allocation": allocation, "Summary": summary,
            "Binding": pd.DataFrame(result.get("binding") or [], columns=["kind", "name", "side", "value"]),
            "Frontier": frontier}


def export_bytes(result: dict[str, Any], fmt: str, watermark: str | None = None) -> bytes:
    """CSV (the allocation table) or XLSX (every table, one sheet each, money in the run's currency);
    a classified plan's `watermark` line (core.classified_export) is the first column of every table."""
    tables = {name: watermarked(frame, watermark) for name, frame in result_tables(result).items()}
    if fmt == "csv":
        return csv_bytes(tables["Allocation"])
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}")
    units = Units.of(result.get("units"))
    money, roas = units.xlsx_money(), units.xlsx_roas()
    formats = {"Allocation": {**dict.fromkeys(("current", "optimal", "change", "lower", "upper"), money),
                              **dict.fromkeys(("marginal_roi", "current_marginal_roi"), roas)},
               "Binding": {"value": money},
               "Frontier": {"budgets": money, "outcomes": units.xlsx_outcome(), "marginal_roi": roas}}
    return xlsx_bytes(tables, formats)
