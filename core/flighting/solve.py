"""Solve a flighting problem: exactly when it is concave, heuristically (and said so) when it is not.

Concave curves (Hill n ≤ 1) make the outcome concave in the weekly spends (model.py), so the interior-
point method (ipm.py) reaches the optimum; the plan is then checked by the KKT conditions from the plan
alone (kkt.py) and is "optimal" only if they hold to 1e-6.

A minimum weekly spend when on (x = 0 or x ≥ m) is not convex. Its convex relaxation (0 ≤ x) is solved
first; if no week lands strictly between 0 and m that plan is optimal. Otherwise each such week is
switched on (floor m) or off (cap 0) by which side it is nearer, the fixed pattern is solved exactly, and
the better of that and the "every week with spend stays on" pattern is returned as "heuristic": optimal
for its on/off weeks, not proven optimal over all of them.

S-shaped curves (Hill n > 1, logistic) go through flighting.heuristic: the concave envelope's optimum
seeds a genetic search; its plans are never labelled optimal.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from core.flighting.ipm import solve_ipm
from core.flighting.kkt import kkt_residual
from core.flighting.model import WeeklyModel
from core.flighting.problem import FlightingProblem, Group
from core.flighting.result import FlightingResult, package
from core.optimize.problem import InfeasibleError

KKT_TOL = 1e-6
Progress = Callable[[float, str], None]


def _steps(progress: Progress | None, what: str) -> Callable[[int], None] | None:
    """The interior-point method's per-step hook: progress that creeps towards 1 (about 15–25 steps)."""
    if progress is None:
        return None
    return lambda it: progress(min(it / 25.0, 0.95), f"{what}: step {it}")


def _exact(model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, groups: list[Group], tol: float,
           progress: Progress | None = None) -> tuple:
    res = solve_ipm(model, lo, hi, groups, tol=tol, step=_steps(progress, "planning the weeks"))
    return res, kkt_residual(model, lo, hi, groups, res.x)


def solve(problem: FlightingProblem, *, tol: float = 1e-10, progress: Progress | None = None) -> FlightingResult:
    """The plan with the largest outcome for `problem` (raises InfeasibleError with a reason to act on).

    `progress(fraction, message)` is called as the solve goes; a job's reporter raises Cancelled from it
    when the person pressed Cancel, which stops the solve there."""
    started = time.perf_counter()
    lo, hi, groups = problem.validate()
    model = problem.model()
    if not model.concave.all():
        from core.flighting.heuristic import solve_s_shaped  # pymoo loads only for S-shaped curves

        return solve_s_shaped(problem, model, lo, hi, groups, started, progress)
    res, kkt = _exact(model, lo, hi, groups, tol, progress)
    on_min = problem.on_minimum()
    optional = (lo <= 0) & (on_min > 0) & (hi > 0)
    xs = problem.budget / max(int((hi > lo).sum()), 1)
    between = optional & (res.x > 1e-7 * xs) & (res.x < on_min * (1 - 1e-9))
    if not between.any():
        x = res.x
        dust = optional & (x > 0) & (x < on_min)  # interior-point dust (≤ 1e-7 of a week's spend): switched off
        if dust.any():
            x = np.where(dust, 0.0, x)
            room = np.where(~optional | (x >= on_min), hi - x, 0.0)
            i = np.unravel_index(np.argmax(room), x.shape)
            x[i] += res.x[dust].sum()  # the budget stays exact; far below the check's tolerance
            kkt = kkt_residual(model, lo, hi, groups, x)
        status = "optimal" if kkt.ok else "not_converged"  # the plan's own KKT check decides, not the solver
        notes = [] if status == "optimal" else [f"the optimality check is off by {kkt.max_violation:.2g}"]
        return package(problem, model, x, status, "interior-point", started, kkt, res.iterations, notes)
    return _on_off(problem, model, lo, hi, groups, res.x, optional, on_min, started, tol, progress)


def _on_off(problem: FlightingProblem, model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, groups: list[Group],
            relaxed: np.ndarray, optional: np.ndarray, on_min: np.ndarray, started: float, tol: float,
            progress: Progress | None = None) -> FlightingResult:
    """Fix each optional week on (floor m) or off (cap 0) and solve the patterns exactly; keep the best."""
    xs = problem.budget / max(int((hi > lo).sum()), 1)
    best = None
    for on in (relaxed >= 0.5 * on_min, relaxed > 1e-7 * xs):
        lo_p = np.where(optional & on, on_min, lo)
        hi_p = np.where(optional & ~on, 0.0, hi)
        try:
            FlightingProblem._check_totals(problem, lo_p, hi_p, groups)
        except InfeasibleError:
            continue
        res, kkt = _exact(model, lo_p, hi_p, groups, tol, progress)
        value = model.outcome(res.x)
        if best is None or value > best[0]:
            best = (value, res, kkt)
    if best is None:
        raise InfeasibleError("the minimum weekly spends when a channel is on cannot be met with these budgets: "
                              "lower a minimum or change the budget")
    _, res, kkt = best
    weeks_on = int((optional & (res.x > 0)).sum())
    notes = [f"minimum weekly spends when on: {weeks_on} optional weeks on; the plan is optimal for those weeks "
             f"(checked, off by {kkt.max_violation:.1g}), not proven best over every on/off choice"]
    return package(problem, model, res.x, "heuristic", "interior-point-on-off", started, kkt, res.iterations, notes)
