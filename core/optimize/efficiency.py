"""Target-efficiency plans: the budget is an output, found from a target ROAS T (outcome per unit of spend).

Two questions a marketer asks beside "most outcome for this budget" and "least budget for this outcome":

- **marginal_roas** — spend until the marginal ROAS of every cell falls to T: maximize Σ fᵢ(xᵢ) − T·Σ xᵢ
  under the cell bounds and the brand/channel totals. For concave curves the KKT conditions give each
  free cell fᵢ'(xᵢ) = T directly, xᵢ = clip(fᵢ'⁻¹(T), loᵢ, hiᵢ), so no search at all; a binding total holds
  its group at that total with its own multiplier (the exact allocator's group solve). With brand *and*
  channel totals the problem is coupled: the same concave program is solved by SLSQP (as the allocator
  solves its coupled case).
- **overall_roas** — the largest budget B whose best plan's overall ROAS V(B)/B stays ≥ T. V is concave,
  so h(B) = V(B) − T·B is concave: the budgets meeting the target form one interval whose left part rises
  to the marginal_roas budget B_m (where h' = 0) and whose right end is the root of h past B_m, found by
  Newton from above (concavity keeps every step right of the root) inside a bisection bracket.

"Overall ROAS" counts only the modelled media outcome: the curves' outcome over the spend they are given,
not any baseline the curves do not model. Both plans are the exact max-outcome plan at the budget found
(`maximize_outcome`), so the rest of a run (explanation, frontier, binding limits) reads them unchanged.

S-shaped curves and the hard constraints (minimum when on, active channels, whole units) go through the
run's own engine with bisection on the budget: heuristic, and never labelled optimal (`heuristic_plan`).
A target out of reach raises `TargetRoasError`; core.plan_limits words it with the organization's currency.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from core.input_ranges import MAX_MONEY
from core.optimize.allocate import _Cells, _exact_x, _solve_groups, maximize_outcome
from core.optimize.edges import _envelope_slope
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.results import AllocationResult

SCENARIOS = ("marginal_roas", "overall_roas")
STEPS = 200  # bisection and Newton steps on the budget (each an exact allocation)
HEURISTIC_STEPS = 14  # engine runs of the bisection for S-shaped curves (tolerance 0.2 %, as the smallest budget's)
# (budget, effort) → the engine's plan at that budget; effort "quick" (30 generations, for a search), "full" (the
# run's own effort) or "final" (the run's effort, reporting progress: the plan shown).
PlanAt = Callable[[float, str], AllocationResult]
SETTLE_STEPS = 5  # full-effort runs that settle a marginal plan on the target (0.5 %) after the quick search


class TargetRoasError(InfeasibleError):
    """A target ROAS no plan meets: `kind` says why ("high", "low", "overall"); `best` is the best return
    the limits allow (first-unit return or overall ROAS), `budget` where it is reached, `cell` its label."""

    def __init__(self, kind: str, target: float, best: float, budget: float = 0.0, cell: str = "") -> None:
        super().__init__(f"target ROAS {target:.6g} out of reach ({kind}; best {best:.6g} at budget {budget:.6g})")
        self.kind, self.target, self.best, self.budget, self.cell = kind, target, best, budget, cell


def first_unit_return(problem: AllocationProblem) -> tuple[float, int]:
    """The most any cell that may still grow returns on its next unit above its floor (an S-shaped cell by its
    concave envelope: the best average return it can reach), and that cell's index (-1: none may grow)."""
    lo, hi = problem.cell_bounds()
    slope = _envelope_slope(problem.curves, lo, 1)
    slope = np.where(hi > lo * (1 + 1e-12), slope, -np.inf)
    i = int(np.argmax(slope))
    return (float(slope[i]), i) if np.isfinite(slope[i]) or slope[i] > 0 else (-math.inf, -1)


def _check_first_unit(problem: AllocationProblem, scenario: str, target: float) -> None:
    """Refuse a target no cell returns on its next unit. For overall ROAS only without floors: spend forced by a
    floor can earn more on average than at its margin, so there the overall check decides (`overall_budget`)."""
    if scenario == "overall_roas" and np.any(problem.cell_bounds()[0] > 0):
        return
    best, i = first_unit_return(problem)
    if i >= 0 and target >= best * (1 - 1e-12):
        raise TargetRoasError("high", target, best, cell=problem.labels(i))


def _value(problem: AllocationProblem, budget: float) -> tuple[float, float]:
    """(best outcome V(B), its slope λ = V'(B)) by the exact allocator."""
    x, s, _, _ = _exact_x(problem, budget, False, 1e-12)
    return float(problem.curves.response(x).sum()), float(np.exp(s))


def _upper(problem: AllocationProblem, start: float, beyond: Callable[[float], bool], target: float) -> float:
    """A budget past which the plan stops (`beyond(b)` true), doubling from `start`; refused above MAX_MONEY."""
    _, b_max = problem.total_range()
    if math.isfinite(b_max):
        return b_max
    b = max(start, float(np.sum(problem.curves.half_saturation)), 1.0)
    while not beyond(b):
        if b >= MAX_MONEY:
            raise TargetRoasError("low", target, target, MAX_MONEY)
        b = min(2.0 * b, MAX_MONEY)
    return b


def _bisect_slope(problem: AllocationProblem, target: float, slope: Callable[[float], float]) -> float:
    """The budget where a falling slope(B) crosses `target`, clipped to the feasible range."""
    b_min, _ = problem.total_range()
    if slope(b_min) <= target:
        return b_min
    b_hi = _upper(problem, 2.0 * b_min, lambda b: slope(b) < target, target)
    if slope(b_hi) >= target:
        return b_hi
    lo, hi = b_min, b_hi
    for _ in range(STEPS):
        if hi - lo <= 1e-13 * hi:
            break
        mid = 0.5 * (lo + hi)
        if slope(mid) >= target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def marginal_budget(problem: AllocationProblem, target: float) -> float:
    """The budget at which the best plan's marginal ROAS falls to `target` (concave curves, exact)."""
    lo, hi = problem.cell_bounds()
    b_min, b_max = problem.total_range()
    if problem.brand_bounds and problem.channel_bounds:
        return min(max(_coupled_net(problem, target, lo, hi), b_min), b_max)
    cells = _Cells(problem.curves, lo, hi)
    x, _ = cells.spend(np.full(problem.n, math.log(target)))
    for kind, given in (("brand", problem.brand_bounds), ("channel", problem.channel_bounds)):
        if given:
            _, idx, gl, gu = problem.group_bounds(kind)
            g = len(gl)
            least, most = np.bincount(idx, lo, g), np.bincount(idx, hi, g)
            totals = np.clip(np.bincount(idx, x, g), np.maximum(gl, least), np.minimum(gu, most))
            x, _ = _solve_groups(cells, idx, totals, 1e-13 * max(float(totals.sum()), 1e-300))
    budget = float(x.sum())
    if not math.isfinite(budget) or budget > MAX_MONEY:
        raise TargetRoasError("low", target, target, MAX_MONEY)
    return min(max(budget, b_min), b_max)


def _coupled_net(problem: AllocationProblem, target: float, lo: np.ndarray, hi: np.ndarray) -> float:
    """Brand and channel totals together: max Σf − T·Σx under the bounds and totals by SLSQP (a concave program,
    analytic gradients) from the brand-only exact plan; its total spend is the budget."""
    brands = AllocationProblem(problem.curves, problem.brands, problem.channels, lower=lo, upper=hi,
                               brand_bounds=problem.brand_bounds)
    x0 = np.full(problem.n, marginal_budget(brands, target) / problem.n)
    floor = np.where(problem.curves.steep_at_zero(), np.maximum(lo, 1e-12 * max(float(x0.sum()), 1.0)), lo)
    scale = max(float(problem.curves.response(np.maximum(x0, floor)).sum()), 1e-300)
    a_ub, b_ub = problem.group_rows()
    res = minimize(lambda x: -(problem.curves.response(x).sum() - target * x.sum()) / scale,
                   np.clip(x0, floor, hi), jac=lambda x: -(problem.curves.marginal(x) - target) / scale,
                   bounds=list(zip(floor, np.where(np.isfinite(hi), hi, None), strict=True)), method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda x: b_ub - a_ub @ x, "jac": lambda x: -a_ub}],
                   options={"maxiter": 1000, "ftol": 1e-15})
    return float(np.clip(res.x, lo, hi).sum())


def overall_budget(problem: AllocationProblem, target: float, b_m: float) -> float:
    """The largest budget with V(B) ≥ target·B, right of the marginal budget `b_m` (concave curves, exact)."""
    def h(b: float) -> tuple[float, float]:
        v, lam = _value(problem, b)
        return v - target * b, lam - target

    h_m = h(b_m)[0] if b_m > 0 else -math.inf
    if h_m < 0:
        v = _value(problem, b_m)[0] if b_m > 0 else 0.0
        raise TargetRoasError("overall", target, v / b_m if b_m > 0 else 0.0, b_m)
    hi = _upper(problem, 2.0 * b_m, lambda b: h(b)[0] < 0, target)
    if h(hi)[0] >= 0:
        return hi
    a, b = b_m, hi  # h(a) ≥ 0 > h(b)
    for _ in range(STEPS):
        hb, slope = h(b)
        newton = b - hb / slope if slope < 0 else math.nan  # from above, a concave h keeps Newton right of the root
        step = newton if a < newton < b else 0.5 * (a + b)
        if h(step)[0] >= 0:
            a = step
        else:
            b = step
        if b - a <= 1e-11 * b:
            break
    for probe in (b * (1 - 1e-9), a * (1 - 1e-9)):  # just left of the root: the ROAS meets T, not a rounding below
        if probe >= b_m and _value(problem, probe)[0] / probe >= target:
            return probe
    return a


def _labelled(result: AllocationResult, scenario: str, target: float) -> AllocationResult:
    result.method += "-" + scenario.replace("_", "-")
    what = ("spend stops where every free cell's marginal ROAS equals the target" if scenario == "marginal_roas"
            else "the largest budget whose plan's overall ROAS (modelled outcome over spend) meets the target")
    result.notes.append(f"target ROAS {target:.6g}: {what}")
    return result


def exact_plan(problem: AllocationProblem, scenario: str, target: float) -> AllocationResult:
    """The target-ROAS plan for concave curves without hard constraints: exact (module docstring)."""
    _check_first_unit(problem, scenario, target)
    budget = marginal_budget(problem, target)
    if scenario == "overall_roas":
        budget = overall_budget(problem, target, budget)
    return _labelled(maximize_outcome(problem, budget), scenario, target)


def heuristic_plan(problem: AllocationProblem, scenario: str, target: float, plan_at: PlanAt) -> AllocationResult:
    """S-shaped curves or hard constraints: the budget by bisection over the engine's plans, never called optimal.

    The marginal budget starts where the concave envelopes' marginal ROAS falls to the target (their best
    outcome is concave in the budget, so that slope falls) and is bisected on the engine's quick plans (30
    generations) until their free cells return the target; the overall budget is bisected on those plans'
    ROAS from there. The final plan is the engine's full run at that budget.
    """
    _check_first_unit(problem, scenario, target)
    b_m = _bisect_slope(problem, target,
                        lambda b: float(maximize_outcome(problem, b, allow_envelope=True).multiplier or 0.0))
    budget = b_m if scenario == "overall_roas" else _marginal_heuristic(problem, target, b_m, plan_at)
    if scenario == "overall_roas":
        budget = _overall_heuristic(problem, target, b_m, plan_at)
    if problem.unit:
        budget = math.floor(budget / problem.unit + 1e-9) * problem.unit
    result = plan_at(budget, "final")
    if scenario == "marginal_roas":
        result = _settle(problem, target, budget, result, plan_at)
    result = _labelled(result, scenario, target)
    if result.status == "optimal":  # the budget itself came from a heuristic search
        result.status = "envelope_bound" if "envelope" in result.method else "feasible"
        result.outcome_bound = result.outcome_bound if result.outcome_bound is not None else result.outcome
    result.notes.append("S-shaped curves or hard constraints: the budget found by bisection over the engine's "
                        "plans (tolerance 0.2 %), a heuristic")
    return result


def free_marginal(problem: AllocationProblem, x: np.ndarray) -> float:
    """The marginal ROAS the cells strictly inside their bounds (and switched on) share: their median, which is
    their common value when the plan meets the KKT conditions for its active set; NaN when no cell is free."""
    lo, hi = problem.cell_bounds()
    eps = 1e-9 * max(float(np.sum(x)), 1.0)
    free = (x > lo + eps) & (x < hi - eps) & (x > eps)
    return float(np.median(problem.curves.marginal(x)[free])) if free.any() else math.nan


def _marginal_heuristic(problem: AllocationProblem, target: float, b_m: float, plan_at: PlanAt) -> float:
    """From the envelopes' budget, bisect on the engine's own plans until their free cells' marginal ROAS is the
    target: on the real S-curves the plan at the envelopes' budget can stop at another return."""
    b_min, b_max = problem.total_range()

    def above(b: float) -> bool:  # True: the plan at b still returns more than the target at its margin
        m = free_marginal(problem, plan_at(b, "quick").allocation)
        return bool(m > target) if math.isfinite(m) else b < b_m

    lo, hi = b_m, b_m
    top = min(b_max, MAX_MONEY)
    if above(b_m):
        while hi < top and above(hi):
            lo, hi = hi, min(hi * 1.5 if hi > 0 else 1.0, top)
        if hi >= top and above(hi):
            if top < b_max:
                raise TargetRoasError("low", target, target, MAX_MONEY)
            return b_max
    else:
        while lo > b_min and not above(lo):
            lo, hi = max(lo / 1.5, b_min), lo
        if lo <= b_min and not above(lo):
            return b_min
    for _ in range(HEURISTIC_STEPS):
        if hi - lo <= 0.002 * hi:
            break
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if above(mid) else (lo, mid)
    return 0.5 * (lo + hi)


def _settle(problem: AllocationProblem, target: float, budget: float, result: AllocationResult,
            plan_at: PlanAt) -> AllocationResult:
    """Full-effort plans near the searched budget until their free cells return the target within 0.5 %
    (a full run can stop at another return than the quick ones it was searched with): secant steps on the
    budget inside a bracket, the closest plan kept."""
    b_min, b_max = problem.total_range()
    lo, hi = b_min, b_max
    best, gap = result, math.inf
    points: list[tuple[float, float]] = []
    b, plan = budget, result
    for _ in range(SETTLE_STEPS + 1):
        m = free_marginal(problem, plan.allocation)
        if not math.isfinite(m):
            return best
        if abs(m / target - 1) < gap:
            best, gap = plan, abs(m / target - 1)
        if gap <= 0.005:
            return best
        lo, hi = (max(lo, b), hi) if m > target else (lo, min(hi, b))
        points.append((b, m))
        if len(points) >= 2 and points[-1][1] != points[-2][1]:
            (b0, m0), (b1, m1) = points[-2:]
            b = b1 + (target - m1) * (b1 - b0) / (m1 - m0)
        else:
            b = b * (1.05 if m > target else 0.95)
        b = b if lo < b < hi else (0.5 * (lo + hi) if math.isfinite(hi) else 2.0 * lo)
        plan = plan_at(b, "full")
    return best


def _overall_heuristic(problem: AllocationProblem, target: float, b_m: float, plan_at: PlanAt) -> float:
    def meets(b: float) -> bool:
        return b > 0 and plan_at(b, "quick").outcome >= target * b

    if not meets(b_m):
        outcome = plan_at(b_m, "quick").outcome if b_m > 0 else 0.0
        raise TargetRoasError("overall", target, outcome / b_m if b_m > 0 else 0.0, b_m)
    hi = _upper(problem, 2.0 * b_m, lambda b: not meets(b), target)
    if meets(hi):
        return hi
    lo = b_m
    for _ in range(HEURISTIC_STEPS):
        if hi - lo <= 0.002 * hi:
            break
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    return lo
