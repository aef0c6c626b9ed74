"""Result objects of the allocator: plain dataclasses with `to_dict()` for storage and JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.optimize.problem import AllocationProblem


def _f(x: Any) -> Any:
    """JSON-safe floats (inf/nan become None)."""
    if isinstance(x, np.ndarray):
        return [_f(v) for v in x.tolist()]
    if isinstance(x, float | np.floating):
        return float(x) if np.isfinite(x) else None
    return x


def status_words(status: str | None, method: str | None = None, outcome: float | None = None,
                 bound: float | None = None) -> str:
    """The status of an allocation in a marketer's words, for every page, report and export that shows it.

    Results saved before "envelope_bound" existed said "optimal" for envelope solutions; their method
    (ending in "-envelope") gives them away, and they are worded as unproven.
    """
    envelope = status == "envelope_bound" or (status == "optimal" and bound is None and "envelope" in (method or ""))
    if envelope:
        if bound and outcome is not None and bound > 0:
            gap = max(bound - outcome, 0.0) / bound * 100.0
            return (f"heuristic plan for S-shaped curves: at most {gap:.2g} % below an upper bound "
                    "on the best possible outcome")
        return "heuristic plan for S-shaped curves: not proven optimal"
    return {
        "optimal": "optimal: no other plan within the constraints predicts more",
        "feasible": "best plan found by search: meets every constraint, not proven optimal",
    }.get(status or "", status or "n/a")


def describe_status(result: Mapping[str, Any]) -> str:
    """`status_words` of a stored result dict (a run's summary or `AllocationResult.to_dict()`)."""
    return status_words(result.get("status"), result.get("method"), result.get("outcome"), result.get("outcome_bound"))


@dataclass
class AllocationResult:
    """One optimized allocation with everything a reviewer needs to trust it."""

    status: str  # "optimal" (exact / converged), "feasible" (heuristic best found), "envelope_bound" (see allocate)
    method: str
    budget: float
    allocation: np.ndarray
    outcome: float
    marginal_roi: np.ndarray
    multiplier: float | None  # λ: marginal ROI shared by the free cells (exact methods)
    binding: list[dict[str, Any]]
    brands: np.ndarray
    channels: np.ndarray
    current: np.ndarray | None = None
    current_outcome: float | None = None
    outcome_interval: tuple[float, float] | None = None
    current_outcome_interval: tuple[float, float] | None = None
    convergence: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    outcome_bound: float | None = None  # upper bound on the best outcome (the concave envelope's optimum)

    @property
    def gain(self) -> float | None:
        return None if self.current_outcome is None else self.outcome - self.current_outcome

    def cells(self) -> list[dict[str, Any]]:
        rows = []
        for i in range(len(self.allocation)):
            row = {
                "brand": str(self.brands[i]),
                "channel": str(self.channels[i]),
                "optimal": _f(self.allocation[i]),
                "marginal_roi": _f(self.marginal_roi[i]),
            }
            if self.current is not None:
                row["current"] = _f(self.current[i])
                row["change"] = _f(self.allocation[i] - self.current[i])
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "status_label": status_words(self.status, self.method, self.outcome, self.outcome_bound),
            "method": self.method,
            "budget": _f(self.budget),
            "outcome": _f(self.outcome),
            "outcome_bound": _f(self.outcome_bound),
            "outcome_interval": None if self.outcome_interval is None else _f(np.array(self.outcome_interval)),
            "current_outcome": _f(self.current_outcome),
            "current_outcome_interval": (
                None if self.current_outcome_interval is None else _f(np.array(self.current_outcome_interval))
            ),
            "gain": _f(self.gain),
            "multiplier": _f(self.multiplier),
            "binding": self.binding,
            "cells": self.cells(),
            "convergence": [_f(v) for v in self.convergence],
            "elapsed_s": self.elapsed_s,
            "notes": list(self.notes),
        }


@dataclass
class FrontierResult:
    """Outcome and marginal ROI across a budget sweep (one exact allocation per budget)."""

    budgets: np.ndarray
    outcomes: np.ndarray
    marginal_roi: np.ndarray  # dOutcome/dBudget at each budget (λ; one-sided at the feasible range's ends)
    allocations: np.ndarray  # (points, cells)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "budgets": _f(self.budgets),
            "outcomes": _f(self.outcomes),
            "marginal_roi": _f(self.marginal_roi),
            # +inf (JSON null above): at the smallest budget a cell without spend is infinitely steep at zero
            "marginal_roi_unbounded": np.isposinf(self.marginal_roi).tolist(),
            "average_roi": _f(np.divide(self.outcomes, self.budgets, where=self.budgets > 0,
                                        out=np.full_like(self.outcomes, np.nan))),
            "allocations": _f(self.allocations),
            "elapsed_s": self.elapsed_s,
        }


def interval(problem: AllocationProblem, x: np.ndarray, level: float = 0.9) -> tuple[float, float] | None:
    """Central interval of the predicted outcome of `x` across the problem's bootstrap draws."""
    if problem.draws is None:
        return None
    totals = problem.draws.response(x[None, :]).sum(axis=-1)
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(totals, [q, 1.0 - q])
    return float(lo), float(hi)


def binding_constraints(
    problem: AllocationProblem, x: np.ndarray, budget: float | None, tol: float = 1e-7
) -> list[dict[str, Any]]:
    """Constraints active at `x`: cells at a bound, group totals at a bound, and the total budget."""
    lo, hi = problem.cell_bounds()
    scale = max(float(np.sum(x)), 1.0)
    eps = tol * scale
    out: list[dict[str, Any]] = []
    locked = problem.locked if problem.locked is not None else np.zeros(problem.n, bool)
    for i in np.flatnonzero(locked):
        out.append({"kind": "cell", "name": problem.labels(i), "side": "locked", "value": _f(x[i])})
    free = ~locked
    for side, mask in (("lower", free & (x <= lo + eps)), ("upper", free & (x >= hi - eps) & (hi > lo))):
        for i in np.flatnonzero(mask):
            out.append({"kind": "cell", "name": problem.labels(i), "side": side, "value": _f(x[i])})
    for kind in ("brand", "channel"):
        names, idx, gl, gu = problem.group_bounds(kind)
        totals = np.bincount(idx, x, len(names))
        for g in np.flatnonzero((gl > 0) & (totals <= gl + eps)):
            out.append({"kind": kind, "name": str(names[g]), "side": "lower", "value": _f(totals[g])})
        for g in np.flatnonzero(np.isfinite(gu) & (totals >= gu - eps)):
            out.append({"kind": kind, "name": str(names[g]), "side": "upper", "value": _f(totals[g])})
    if budget is not None:
        out.append({"kind": "budget", "name": "total", "side": "equal", "value": _f(budget)})
    return out
