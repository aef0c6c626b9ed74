"""What a flighting plan is compared with on the page: a flat plan, last year's pattern, history's carry-over.

All three are scored on the same weekly model as the plan (model.WeeklyModel), so the differences are
timing alone:

- **flat**: each brand × channel's planned total spread as evenly as its weekly limits allow (blackouts,
  caps and bookings respected), the same channel totals, so "uplift vs flat" is what the timing earns;
- **last year's pattern**: the budget spent in the shape of the same weeks a year before (52 weeks back;
  the latest weeks when the history is shorter), mix and timing as they were, scaled to the budget;
  weekly limits are not applied (it is last year's plan, not a feasible alternative);
- **carry-over in**: the outcome the spend history alone brings into the horizon (the plan at zero), drawn
  as its own band. The curves saturate, so it is not an exact share of the plan's outcome, but it is
  what the weeks would earn with no new spend.
"""

from __future__ import annotations

import numpy as np

from core.flighting.model import WeeklyModel
from core.flighting.problem import FlightingProblem

YEAR = 52


def flat(problem: FlightingProblem, plan: np.ndarray) -> np.ndarray:
    """Each series' planned total spread as evenly as its weekly limits allow: clip(c, lo, hi) per week with
    the level c (bisection, per series) that spends the total (blackouts, bookings and caps respected)."""
    lo, hi = problem.bounds()
    total = plan.sum(axis=1, keepdims=True)
    a, b = np.zeros_like(total), np.full_like(total, float(np.max(np.where(np.isfinite(hi), hi, 0.0)))) + total
    for _ in range(200):
        c = 0.5 * (a + b)
        over = np.clip(c, lo, hi).sum(axis=1, keepdims=True) > total
        a, b = np.where(over, a, c), np.where(over, c, b)
    return np.clip(0.5 * (a + b), lo, hi)


def last_year_window(history: np.ndarray, weeks: int) -> np.ndarray:
    """The history's weeks a year before the plan's weeks (series × weeks); the latest weeks if it is shorter."""
    h = np.asarray(history, dtype=float)
    depth = h.shape[1]
    if depth >= YEAR and weeks <= YEAR:
        return h[:, depth - YEAR: depth - YEAR + weeks]
    return h[:, max(depth - weeks, 0):]


def last_year_plan(history: np.ndarray, weeks: int, budget: float) -> np.ndarray:
    """The budget in last year's shape (mix and timing); even across series and weeks with no history."""
    window = last_year_window(history, weeks)
    shaped = np.zeros((window.shape[0], weeks))
    shaped[:, : window.shape[1]] = window
    total = shaped.sum()
    if total <= 0:
        return np.full(shaped.shape, budget / max(shaped.size, 1))
    return shaped * (budget / total)


def _weekly(model: WeeklyModel, x: np.ndarray) -> tuple[list[float], float]:
    inside, after = model.outcome_parts(x)
    return inside.sum(axis=0).tolist(), float(inside.sum() + after.sum())


def comparisons(problem: FlightingProblem, plan: np.ndarray) -> dict:
    """Weekly outcome (all series together) of the plan, the flat plan, last year's pattern and history's
    carry-over alone, with each plan's total outcome (after the horizon too when carry-over out counts)."""
    model = problem.model()
    out: dict = {}
    history = problem.history if problem.history is not None else np.zeros((problem.shape[0], 0))
    for name, x in (("plan", plan), ("flat", flat(problem, plan)),
                    ("last_year", last_year_plan(history, problem.weeks, problem.budget)),
                    ("carryover", np.zeros(problem.shape))):
        weekly, total = _weekly(model, x)
        out[name] = {"weekly": weekly, "outcome": total}
        if name in ("flat", "last_year"):
            out[name]["spend"] = x.sum(axis=0).tolist()
    out["budget_marginal"] = budget_marginal(problem, model, plan)
    return out


def budget_marginal(problem: FlightingProblem, model: WeeklyModel, plan: np.ndarray) -> float | None:
    """What one more unit of budget adds, read off the plan: the median marginal outcome of the weeks free to
    move (strictly inside their limits). For an optimal plan these are all equal to the budget's shadow price;
    for a heuristic plan (no prices) it is the estimate the page words as "about"."""
    lo, hi = problem.bounds()
    scale = max(float(np.abs(plan).max(initial=0.0)), 1.0)
    free = (plan > lo + 1e-6 * scale) & (plan < hi - 1e-6 * scale)
    if not free.any():
        return None
    return float(np.median(model.gradient(plan)[free]))
