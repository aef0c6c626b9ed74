"""Exact budget allocation for concave response curves (the KKT conditions, solved directly).

At the optimum of max Σ fᵢ(xᵢ) s.t. Σ xᵢ = B, loᵢ ≤ xᵢ ≤ hiᵢ with concave fᵢ, every cell strictly
inside its bounds has the same marginal ROI λ, cells at a lower bound have fᵢ'(loᵢ) ≤ λ and cells at an
upper bound fᵢ'(hiᵢ) ≥ λ. So xᵢ(λ) = clip(fᵢ'⁻¹(λ), loᵢ, hiᵢ) and the total Σ xᵢ(λ) falls monotonically in
λ: one scalar root in ln λ (safeguarded Newton inside a shrinking bisection bracket) with all cells
inverted at once in numpy, O(n log 1/ε). Robyn (nloptr SLSQP) and PyMC-Marketing (scipy SLSQP) solve
the same problem with a dense quasi-Newton method that costs O(n³) per step.

Brand totals nest the same idea: brand b spends clip(X_b(λ), L_b, U_b); the outer root gives λ, then
each brand whose total is clipped gets its own multiplier λ_b by the same vectorized root (all brands
at once). Channel totals alone work the same way. When brand *and* channel totals are given and the
brand-only solution breaks a channel total, the coupled problem is solved by SLSQP with analytic
gradients started from that exact relaxation (status "optimal" only if SLSQP converges).

S-shaped cells (Hill n > 1, every logistic) are replaced by their concave envelope when
`allow_envelope=True`: the allocation is then the exact optimum of the envelope, whose value bounds the
real optimum from above. Evaluated on the real curves it is a heuristic (status "envelope_bound",
`outcome_bound` the envelope's value) unless no S-shaped cell is left on its envelope's ray, where the
bound is attained and the allocation is optimal. It also seeds the genetic search.

At the smallest (largest) feasible budget every group sits at its least (most) total, the root in ln λ
is not unique and the multiplier reported is the one-sided derivative of the best outcome: right-hand
at the smallest budget (+inf when a cell without spend is infinitely steep at zero), left-hand at the
largest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from core.optimize.curves import CurveArrays
from core.optimize.edges import edge_log_multiplier
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.progress import Monitor, ProgressFn
from core.optimize.results import AllocationResult, FrontierResult, binding_constraints, interval

LOG_LAM_SPAN = 350.0  # bracket for ln λ: marginal ROIs between e^-350 and e^350
SLSQP_NOT_CONVERGED = "SLSQP did not report convergence on the coupled brand and channel totals"
Evaluate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _root(evaluate: Evaluate, targets: np.ndarray, s0: np.ndarray, tol_abs: float, max_iter: int = 300) -> dict:
    """Per-group root of S_g(s_g) = T_g for decreasing S_g, all groups at once.

    Newton steps on s = ln λ are taken when they stay inside the bracket and at least halve the
    residual; otherwise the bracket is bisected. A group stops when its residual is within tol_abs
    or its bracket has collapsed (a jump of S, e.g. on the flat part of a concave envelope).
    """
    g = len(targets)
    a, b = np.full(g, -LOG_LAM_SPAN), np.full(g, LOG_LAM_SPAN)
    s = np.clip(np.asarray(s0, dtype=float), a + 1, b - 1)
    r_prev = np.full(g, np.inf)
    converged = np.zeros(g, bool)
    for _ in range(max_iter):
        total, slope = evaluate(s)
        r = total - targets
        converged = np.abs(r) <= tol_abs
        a = np.where(r > 0, s, a)
        b = np.where(r < 0, s, b)
        collapsed = (b - a) <= 1e-13 * np.maximum(1.0, np.abs(s))
        if np.all(converged | collapsed):
            break
        # A Newton step longer than the bracket leaves it: only shorter ones are computed (no overflow).
        short = (slope < 0) & (np.abs(r) < -slope * (b - a))
        newton = s - np.divide(r, slope, out=np.full(g, np.inf), where=short)
        use = short & (newton > a) & (newton < b) & (np.abs(r) <= 0.5 * np.abs(r_prev))
        s_next = np.where(use, newton, 0.5 * (a + b))
        s = np.where(converged | collapsed, s, s_next)
        r_prev = np.where(use | ~np.isfinite(r_prev), np.abs(r), np.inf)
    return {"s": s, "a": a, "b": b, "converged": converged, "residual": r, "slope": slope}


class _Cells:
    """Spend of every cell at a given ln λ per cell, clipped to its bounds (envelope cells included)."""

    def __init__(self, curves: CurveArrays, lo: np.ndarray, hi: np.ndarray) -> None:
        self.curves, self.lo, self.hi = curves, lo, hi

    def spend(self, s_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, dx = self.curves.inverse_marginal(s_cells)
        inside = (x > self.lo) & (x < self.hi)
        return np.clip(x, self.lo, self.hi), np.where(inside, dx, 0.0)


def _solve_groups(
    cells: _Cells, idx: np.ndarray, targets: np.ndarray, tol_abs: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cells' spend with Σ over each group equal to its target, each group at its own multiplier."""
    g = len(targets)

    def evaluate(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, dx = cells.spend(s[idx])
        return np.bincount(idx, x, g), np.bincount(idx, dx, g)

    count = np.maximum(np.bincount(idx, minlength=g), 1)
    with np.errstate(divide="ignore"):  # start at the mean ln marginal of an even split of each group's target
        guess = np.log(cells.curves.marginal(np.clip((targets / count)[idx], cells.lo, cells.hi)))
    guess = np.where(np.isfinite(guess), guess, 0.0)
    s0 = np.bincount(idx, guess, g) / count
    out = _root(evaluate, targets, s0, tol_abs)
    return _assemble(cells, idx, targets, out), out["s"]


def _assemble(cells: _Cells, idx: np.ndarray, targets: np.ndarray, out: dict) -> np.ndarray:
    """Final spend: a one-step Newton correction where the root converged, interpolation across a jump."""
    g = len(targets)
    s, conv = out["s"], out["converged"]
    x, dx = cells.spend(s[idx])
    total, slope = np.bincount(idx, x, g), np.bincount(idx, dx, g)
    r = total - targets
    # Newton's share of each cell, dx_i / Σ dx in [0, 1] (all dx ≤ 0): never overflows where Σ dx is tiny.
    share = np.divide(dx, slope[idx], out=np.zeros_like(dx), where=slope[idx] < 0)
    x = np.clip(x - r[idx] * share, cells.lo, cells.hi)
    if not np.all(conv):
        xa, _ = cells.spend(out["a"][idx])
        xb, _ = cells.spend(out["b"][idx])
        sa, sb = np.bincount(idx, xa, g), np.bincount(idx, xb, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip(np.where(sa > sb, (targets - sb) / (sa - sb), 0.0), 0.0, 1.0)
        jump = ~conv[idx]
        x = np.where(jump, xb + frac[idx] * (xa - xb), x)
    return x


def _nested(
    cells: _Cells, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray, budget: float, tol_abs: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """Group totals clip(X_g(λ), L_g, U_g) summing to the budget, then each group at its own λ_g."""
    g = len(lower)

    def group_totals(s: float) -> tuple[np.ndarray, np.ndarray]:
        x, dx = cells.spend(np.full(len(idx), s))
        return np.bincount(idx, x, g), np.bincount(idx, dx, g)

    def evaluate(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tot, dtot = group_totals(float(s[0]))
        free = (tot > lower) & (tot < upper)
        return np.array([np.clip(tot, lower, upper).sum()]), np.array([dtot[free].sum()])

    with np.errstate(divide="ignore"):
        guess = np.log(cells.curves.marginal(np.full(len(idx), budget / len(idx))))
    s0 = np.array([np.median(guess[np.isfinite(guess)]) if np.isfinite(guess).any() else 0.0])
    out = _root(evaluate, np.array([budget]), s0, tol_abs)
    if out["converged"][0]:
        tot, dtot = group_totals(float(out["s"][0]))
        t = np.clip(tot, lower, upper)
        free = (tot > lower) & (tot < upper)
        r = t.sum() - budget
        weight = np.where(free, dtot, 0.0)
        if weight.sum() < 0:
            t = np.clip(t - r * weight / weight.sum(), lower, upper)
    else:
        ta = np.clip(group_totals(float(out["a"][0]))[0], lower, upper)
        tb = np.clip(group_totals(float(out["b"][0]))[0], lower, upper)
        frac = (budget - tb.sum()) / (ta.sum() - tb.sum()) if ta.sum() > tb.sum() else 0.0
        t = tb + np.clip(frac, 0.0, 1.0) * (ta - tb)
    x, s_groups = _solve_groups(cells, idx, t, tol_abs)
    return x, float(out["s"][0]), s_groups


def _effective_curves(problem: AllocationProblem, allow_envelope: bool) -> CurveArrays:
    if not np.all(problem.curves.concave()) and not allow_envelope:
        raise ValueError(
            "S-shaped curves (Hill shape > 1, or logistic): the exact allocator solves their concave envelope "
            "only; pass allow_envelope=True for that upper bound or use genetic.optimize_hard for the real curves"
        )
    return problem.curves


def _exact_x(
    problem: AllocationProblem, budget: float, allow_envelope: bool, tol: float
) -> tuple[np.ndarray, float, str, list[str]]:
    """The optimal allocation for one budget, its multiplier ln λ, the method used and notes."""
    curves = _effective_curves(problem, allow_envelope)
    lo, hi0 = problem.cell_bounds()
    b_min, b_max = problem.total_range()
    if budget < b_min * (1 - 1e-12) - 1e-12:
        raise InfeasibleError(f"budget {budget:.6g} is below the {b_min:.6g} the lower bounds and minimum totals need")
    if budget > b_max * (1 + 1e-12) + 1e-12:
        raise InfeasibleError(f"budget {budget:.6g} exceeds the {b_max:.6g} the upper bounds and maximum totals allow")
    hi = np.minimum(hi0, np.maximum(budget - (lo.sum() - lo), lo))  # no cell can take more than what is left
    cells = _Cells(curves, lo, hi)
    tol_abs = tol * max(budget, 1e-300)
    notes: list[str] = []
    has_b, has_c = bool(problem.brand_bounds), bool(problem.channel_bounds)
    if has_b and has_c:
        return _exact_coupled(problem, curves, cells, budget, tol_abs)
    if not has_b and not has_c:
        groups = (np.zeros(problem.n, dtype=np.intp), np.zeros(1), np.full(1, np.inf))
        x, s_groups = _solve_groups(cells, groups[0], np.array([budget]), tol_abs)
        s, method = float(s_groups[0]), "exact-lagrange"
    else:
        kind = "brand" if has_b else "channel"
        _, idx, gl, gu = problem.group_bounds(kind)
        groups = (idx, gl, gu)
        x, s, s_groups = _nested(cells, idx, gl, gu, budget, tol_abs)
        method = f"exact-nested-{kind}"
    for edge, side in ((b_min, 1), (b_max, -1)):
        if abs(budget - edge) <= tol_abs:
            s = edge_log_multiplier(curves, lo, hi0, groups, s_groups, side)
            notes.append(f"at the {'smallest' if side > 0 else 'largest'} feasible budget the marginal ROI is the "
                         f"{'right' if side > 0 else 'left'}-hand derivative of the best outcome")
    return x, s, method, notes


def _exact_coupled(
    problem: AllocationProblem, curves: CurveArrays, cells: _Cells, budget: float, tol_abs: float
) -> tuple[np.ndarray, float, str, list[str]]:
    """Brand and channel totals together: the brand-nested solution, or SLSQP from it when it breaks a channel total."""
    _, idx, gl, gu = problem.group_bounds("brand")
    x, s, _ = _nested(cells, idx, gl, gu, budget, tol_abs)
    _, cidx, cl, cu = problem.group_bounds("channel")
    ct = np.bincount(cidx, x, len(cl))
    if not (np.any(ct < cl - tol_abs) or np.any(ct > cu + tol_abs)):
        return x, s, "exact-nested-brand", ["brand-nested exact solution already satisfies the channel totals"]
    x, ok = _coupled_slsqp(problem, curves, cells.lo, cells.hi, budget, x)
    free = (x > cells.lo + tol_abs) & (x < cells.hi - tol_abs)
    s = float(np.log(np.median(curves.marginal(x)[free]))) if free.any() else float("nan")
    return x, s, "slsqp-from-exact-relaxation", [] if ok else [SLSQP_NOT_CONVERGED]


def _coupled_slsqp(
    problem: AllocationProblem, curves: CurveArrays, lo: np.ndarray, hi: np.ndarray, budget: float, x0: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Brand and channel totals together: SLSQP with analytic gradients from the exact relaxation."""
    floor = np.where(curves.steep_at_zero(), np.maximum(lo, 1e-9 * budget / problem.n), lo)  # f' is infinite at 0
    scale = max(float(curves.response(x0).sum()), 1e-300)
    a_ub, b_ub = problem.group_rows()
    cons = [{"type": "eq", "fun": lambda x: np.array([x.sum() - budget]), "jac": lambda x: np.ones((1, len(x)))}]
    if len(b_ub):
        cons.append({"type": "ineq", "fun": lambda x: b_ub - a_ub @ x, "jac": lambda x: -a_ub})
    res = minimize(
        lambda x: -curves.response(x).sum() / scale,
        np.clip(x0, floor, hi),
        jac=lambda x: -curves.marginal(x) / scale,
        bounds=list(zip(floor, np.where(np.isfinite(hi), hi, None), strict=True)),
        constraints=cons,
        method="SLSQP",
        options={"maxiter": 1000, "ftol": 1e-14},
    )
    x = np.clip(res.x, lo, hi)
    feasible = abs(x.sum() - budget) <= 1e-6 * budget and (len(b_ub) == 0 or np.all(a_ub @ x <= b_ub + 1e-6 * budget))
    if not feasible:
        raise InfeasibleError("no allocation meets the budget with both the brand and the channel totals")
    return x, bool(res.success)


def build_result(
    problem: AllocationProblem,
    x: np.ndarray,
    budget: float,
    method: str,
    status: str,
    multiplier: float | None,
    started: float,
    notes: Sequence[str] = (),
    convergence: Sequence[float] = (),
    bound: float | None = None,
) -> AllocationResult:
    """Package an allocation with its outcome, interval, marginal ROI, binding constraints and current gap."""
    current = problem.current
    return AllocationResult(
        status=status,
        method=method,
        budget=float(budget),
        allocation=x,
        outcome=float(problem.curves.response(x).sum()),
        marginal_roi=problem.curves.marginal(x),
        multiplier=multiplier,
        binding=binding_constraints(problem, x, budget),
        brands=np.asarray(problem.brands),
        channels=np.asarray(problem.channels),
        current=current,
        current_outcome=None if current is None else float(problem.curves.response(current).sum()),
        outcome_interval=interval(problem, x),
        current_outcome_interval=None if current is None else interval(problem, current),
        convergence=list(convergence),
        elapsed_s=time.perf_counter() - started,
        notes=list(notes),
        outcome_bound=bound,
    )


def maximize_outcome(
    problem: AllocationProblem, budget: float, *, allow_envelope: bool = False, tol: float = 1e-12
) -> AllocationResult:
    """The allocation of `budget` with the largest predicted outcome (exact for concave curves).

    With S-shaped cells (allow_envelope) the status says what the result is: "optimal" only when the
    envelope's optimum is attained by the real curves, else "envelope_bound" with that optimum as
    `outcome_bound`, an upper bound on any allocation's outcome.
    """
    started = time.perf_counter()
    x, s, method, notes = _exact_x(problem, float(budget), allow_envelope, tol)
    status, bound = "feasible" if SLSQP_NOT_CONVERGED in notes else "optimal", None
    if not np.all(problem.curves.concave()):
        method += "-envelope"
        status, bound = _envelope_status(problem.curves, x, method, notes)
    return build_result(problem, x, budget, method, status, float(np.exp(s)), started, notes, bound=bound)


def _envelope_status(curves: CurveArrays, x: np.ndarray, method: str, notes: list[str]) -> tuple[str, float | None]:
    """Status and upper bound of an envelope solution evaluated on the real curves (appends its note)."""
    real = float(curves.response(x).sum())
    if method.startswith("slsqp"):  # SLSQP ran on the real curves: a local optimum, no bound
        notes.append("S-shaped curves with brand and channel totals: a local optimum of the real curves, "
                     "started from the optimum of their concave envelopes")
        return "feasible", None
    bound = float(curves.envelope_response(x).sum())
    if real >= bound * (1 - 1e-12):
        notes.append("every S-shaped cell sits at zero or on the concave part of its curve, where the envelope is "
                     "the curve: the envelope's optimum is attained, so the allocation is optimal")
        return "optimal", bound
    gap = (bound - real) / bound * 100.0 if bound > 0 else 0.0
    notes.append(f"S-shaped cells solved through their concave envelopes: the allocation is a heuristic, its outcome "
                 f"on the real curves ({real:.6g}) at most {gap:.2g} % below the upper bound {bound:.6g}")
    return "envelope_bound", bound


def minimize_budget(
    problem: AllocationProblem, target: float, *, tol: float = 1e-10, max_iter: int = 100
) -> AllocationResult:
    """The smallest budget whose optimal allocation reaches `target` outcome.

    The best outcome V(B) is concave and increasing with dV/dB = λ, so Newton on B from the smallest
    feasible budget climbs monotonically to the root (one exact allocation per step).
    """
    started = time.perf_counter()
    b_min, b_max = problem.total_range()
    v_min = problem.curves.response(_exact_x(problem, b_min, False, 1e-12)[0]).sum()
    if target <= v_min:
        res = maximize_outcome(problem, b_min)
        res.notes.append(f"the smallest feasible budget already reaches {v_min:.6g} ≥ target")
        return res
    _, hi = problem.cell_bounds()
    ceiling = float(np.sum(np.where(np.isfinite(hi), problem.curves.response(hi), problem.curves.beta)))
    if np.isfinite(b_max):
        ceiling = min(ceiling, float(problem.curves.response(_exact_x(problem, b_max, False, 1e-12)[0]).sum()))
    if target > ceiling * (1 + 1e-12):
        raise InfeasibleError(
            f"target {target:.6g} is above the reachable maximum {ceiling:.6g} under the bounds and totals"
        )
    def value(budget: float) -> tuple[float, np.ndarray, float, str, list[str]]:
        x, s, method, notes = _exact_x(problem, budget, False, 1e-12)
        return float(problem.curves.response(x).sum()), x, s, method, notes

    lo_b, hi_b = b_min, b_max
    if not np.isfinite(hi_b):  # grow an upper bracket: V(B) reaches any target below the ceiling
        hi_b = max(2.0 * b_min, float(np.sum(problem.curves.half_saturation)))
        for _ in range(200):
            if value(hi_b)[0] >= target:
                break
            lo_b, hi_b = hi_b, 2.0 * hi_b
        else:
            raise InfeasibleError(f"target {target:.6g} is only approached asymptotically (ceiling {ceiling:.6g})")
    b = lo_b
    for _ in range(max_iter):
        v, x, s, method, notes = value(b)
        if abs(v - target) <= tol * max(abs(target), 1.0):
            break
        if v < target:
            lo_b = b
        else:
            hi_b = b
        lam = float(np.exp(s))  # dV/dB = λ (+inf at the smallest budget when a cell is steep at zero)
        newton = b + (target - v) / lam if lam > 0 else np.nan  # from below, concavity keeps Newton below the root
        b = newton if np.isfinite(newton) and lo_b < newton < hi_b else 0.5 * (lo_b + hi_b)
    else:
        raise InfeasibleError(f"target {target:.6g} not reached within {max_iter} budget steps (last {v:.6g})")
    status = "feasible" if SLSQP_NOT_CONVERGED in notes else "optimal"
    return build_result(problem, x, b, f"{method}-min-budget", status, float(np.exp(s)), started, notes)


def budget_frontier(
    problem: AllocationProblem,
    budgets: Sequence[float] | np.ndarray,
    *,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> FrontierResult:
    """Outcome, marginal ROI and allocation at every budget of a sweep (exact, one root per budget)."""
    started = time.perf_counter()
    mon = Monitor(progress, cancel)
    budgets = np.asarray(budgets, dtype=float)
    outcomes, lams, allocs = [], [], []
    for k, b in enumerate(budgets):
        mon.report(k / len(budgets), f"budget {k + 1} of {len(budgets)}")
        x, s, _, _ = _exact_x(problem, float(b), False, 1e-12)
        outcomes.append(problem.curves.response(x).sum())
        lams.append(np.exp(s))
        allocs.append(x)
    mon.report(1.0, "frontier done")
    return FrontierResult(budgets, np.array(outcomes), np.array(lams), np.array(allocs), time.perf_counter() - started)
