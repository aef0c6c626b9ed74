"""Shadow prices of an allocation's binding constraints: what relaxing each one by a unit is worth.

For max Σ fᵢ(xᵢ) with concave fᵢ under linear constraints, the best outcome V is concave in every
constraint's limit, and its one-sided derivative there (relaxing the limit) is the optimum of a linear
program over first-order moves d of the allocation: max ∇f·d subject to the constraints active at x,
with the relaxed one moved by one unit (Σ d = 0 unless the budget is the one relaxed). By LP duality
that is the smallest KKT multiplier of the constraint, so it stays exact where the multipliers are not
unique (a cell pinned by both bounds, a brand whose cells all sit at bounds, the ends of the budget).

Without a binding brand or channel total the LP has a closed form (an exchange: one unit into the cell
with the best marginal return that may grow, out of the one with the worst that may shrink); with one,
a small HiGHS LP per binding constraint. `finite_difference` re-solves the problem with the limit
relaxed, the check the tests and `benchmarks/explain.py` hold the shadow prices to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linprog

from core.optimize.allocate import _exact_x
from core.optimize.problem import AllocationProblem

ACTIVE_TOL = 1e-9  # relative to the budget: a cell or total this close to a limit presses against it


@dataclass(frozen=True)
class Limit:
    """One constraint that can be relaxed: a cell's cap or floor, a brand or channel total, the budget.

    `index` is the cell's (cap, floor) or the group's position in `AllocationProblem.group_bounds`
    (brand, channel); -1 for the budget. `side` is "upper" for caps, maximum totals and the budget,
    "lower" for floors and minimum totals: relaxing raises an upper limit and lowers a lower one.
    """

    kind: str  # "cap" | "floor" | "brand" | "channel" | "budget"
    index: int
    side: str


@dataclass
class ActiveSet:
    """Which limits the allocation presses against, and the gradient the shadow prices read."""

    x: np.ndarray
    grad: np.ndarray  # marginal return per cell (concave envelope's slope for S-shaped cells)
    lo: np.ndarray
    hi: np.ndarray
    at_cap: np.ndarray
    at_floor: np.ndarray
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # kind → (idx, names, up, down)
    unbounded: np.ndarray  # cells whose first unit returns without limit (pinned at zero, Hill shape < 1)
    pinned: np.ndarray  # cells held where they are (an S-shaped cell a search left off): no limit of theirs binds

    @property
    def grouped(self) -> bool:
        """Whether a brand or channel total binds (the exchange formula then no longer holds)."""
        return any(up.any() or down.any() for _, _, up, down in self.groups.values())


def envelope_gradient(problem: AllocationProblem, x: np.ndarray) -> np.ndarray:
    """Marginal return per cell; an S-shaped cell below its tangent point counts by its envelope's slope."""
    curves = problem.curves
    ray = ~curves.concave() & (x < curves.tangent_point())
    return np.where(ray, curves.marginal_cap(), curves.marginal(x))


def active_set(problem: AllocationProblem, x: np.ndarray, budget: float, pinned: np.ndarray | None = None) -> ActiveSet:
    """The limits `x` presses against (within ACTIVE_TOL of the budget); `pinned` cells may not move at all
    (an S-shaped cell a search left off: the analysis then holds which cells are on)."""
    lo, hi = problem.cell_bounds()
    eps = ACTIVE_TOL * max(float(budget), 1.0)
    at_cap, at_floor = x >= hi - eps, x <= lo + eps
    pinned = np.zeros(len(x), bool) if pinned is None else np.asarray(pinned, bool)
    at_cap, at_floor = at_cap | pinned, at_floor | pinned
    grad = envelope_gradient(problem, x)
    unbounded = ~np.isfinite(grad)
    groups = {}
    for kind in ("brand", "channel"):
        names, idx, gl, gu = problem.group_bounds(kind)
        totals = np.bincount(idx, x, len(names))
        groups[kind] = (idx, names, np.isfinite(gu) & (totals >= gu - eps), (gl > 0) & (totals <= gl + eps))
    return ActiveSet(x, np.where(unbounded, 0.0, grad), lo, hi, at_cap, at_floor, groups, unbounded, pinned)


def binding_limits(active: ActiveSet) -> list[Limit]:
    """Every limit the allocation presses against that could be relaxed (a floor of zero cannot)."""
    out = [Limit("budget", -1, "upper")]
    own = ~active.pinned
    out += [Limit("cap", int(i), "upper") for i in np.flatnonzero(active.at_cap & own)]
    out += [Limit("floor", int(i), "lower") for i in np.flatnonzero(active.at_floor & own & (active.lo > 0))]
    for kind, (_, _, up, down) in active.groups.items():
        out += [Limit(kind, int(g), "upper") for g in np.flatnonzero(up)]
        out += [Limit(kind, int(g), "lower") for g in np.flatnonzero(down)]
    return out


def _exchange(active: ActiveSet, limit: Limit) -> float | None:
    """The LP's optimum in closed form when no total binds: the best unit-for-unit exchange, or 0."""
    g = active.grad
    can_grow, can_shrink = ~active.at_cap, ~active.at_floor
    if limit.kind == "budget":  # one more unit, into the best cell that may grow
        return float(g[can_grow].max()) if can_grow.any() else None
    others = np.arange(len(g)) != limit.index
    if limit.kind == "cap":
        source = others & can_shrink
        return max(0.0, float(g[limit.index] - g[source].min())) if source.any() else 0.0
    sink = others & can_grow
    return max(0.0, float(g[sink].max() - g[limit.index])) if sink.any() else 0.0


def _lp(active: ActiveSet, limit: Limit) -> float | None:
    """max ∇f·d over first-order moves with `limit` relaxed by one unit; None if no move is feasible.

    Moves are boxed to [−1, 1] per cell: a unit relaxation needs no more (the constraint matrix is a
    network's, its vertices are 0/±1), and the box keeps rounding differences between the free cells'
    marginal returns from reading as an unbounded gain.
    """
    n = len(active.x)
    lower = np.where(active.at_floor, 0.0, -1.0)
    upper = np.where(active.at_cap, 0.0, 1.0)
    if limit.kind == "cap":
        upper[limit.index] = 1.0
    elif limit.kind == "floor":
        lower[limit.index] = -1.0
    rows, rhs = [], []
    for kind, (idx, names, up, down) in active.groups.items():
        for gi in range(len(names)):
            member = (idx == gi).astype(float)
            relaxed = float(limit.kind == kind and limit.index == gi)
            if up[gi]:
                rows.append(member)
                rhs.append(relaxed if limit.side == "upper" else 0.0)
            if down[gi]:
                rows.append(-member)
                rhs.append(relaxed if limit.side == "lower" else 0.0)
    res = linprog(
        -active.grad,
        A_ub=np.array(rows) if rows else None,
        b_ub=np.array(rhs) if rows else None,
        A_eq=np.ones((1, n)),
        b_eq=[float(limit.kind == "budget")],
        bounds=list(zip(lower, upper, strict=True)),
        method="highs",
    )
    return float(-res.fun) if res.status == 0 else None


def improving_move(active: ActiveSet) -> float:
    """The best first-order gain of a budget-neutral move within the active limits: ~0 where the KKT
    conditions hold (each move boxed to one unit per cell); 0 when nothing may move."""
    value = _lp(active, Limit("none", -1, "none"))
    return 0.0 if value is None else value


def shadow_price(active: ActiveSet, limit: Limit) -> float | None:
    """dV per unit of relaxing `limit` (one-sided); +inf when it lets spend into a cell infinitely steep at
    zero; None when the limit cannot be relaxed alone (no other limit gives way)."""
    if limit.kind in ("cap", "budget") and _lets_in_unbounded(active, limit):
        return float("inf")
    return _lp(active, limit) if active.grouped else _exchange(active, limit)


def _lets_in_unbounded(active: ActiveSet, limit: Limit) -> bool:
    """Whether relaxing `limit` lets spend into a cell whose first unit returns without limit."""
    if limit.kind == "cap":
        return bool(active.unbounded[limit.index])
    return bool((active.unbounded & ~active.at_cap).any())  # the smallest budget: its next unit goes there


def shadow_prices(problem: AllocationProblem, x: np.ndarray, budget: float) -> list[tuple[Limit, float | None]]:
    """Every binding limit of the allocation `x` of `budget` with its shadow price."""
    active = active_set(problem, np.asarray(x, dtype=float), budget)
    return [(limit, shadow_price(active, limit)) for limit in binding_limits(active)]


# ------------------------------------------------------------------------------------------------ check


def flattened(problem: AllocationProblem) -> AllocationProblem:
    """The same problem with locks and the change cap folded into explicit per-cell limits."""
    lo, hi = problem.cell_bounds()
    return replace(problem, lower=lo, upper=hi, locked=None, max_change=None, draws=None)


def relaxed(problem: AllocationProblem, budget: float, limit: Limit, step: float) -> tuple[AllocationProblem, float]:
    """`problem` (flattened) and `budget` with `limit` relaxed by `step`."""
    flat = flattened(problem)
    if limit.kind == "budget":
        return flat, budget + step
    if limit.kind in ("cap", "floor"):
        bound = "upper" if limit.kind == "cap" else "lower"
        values = getattr(flat, bound).copy()
        values[limit.index] += step if limit.kind == "cap" else -step
        return replace(flat, **{bound: values}), budget
    names, _, gl, gu = problem.group_bounds(limit.kind)
    field = "brand_bounds" if limit.kind == "brand" else "channel_bounds"
    totals = dict(getattr(problem, field))
    g = limit.index
    totals[str(names[g])] = (gl[g], gu[g] + step) if limit.side == "upper" else (gl[g] - step, gu[g])
    return replace(flat, **{field: totals}), budget


def finite_difference(problem: AllocationProblem, budget: float, limit: Limit, step: float) -> float:
    """(V(limit relaxed by step) − V) / step, each V an exact re-solve of the (concave) problem."""
    base = flattened(problem)
    v0 = float(base.curves.response(_exact_x(base, budget, False, 1e-13)[0]).sum())
    other, b = relaxed(problem, budget, limit, step)
    v1 = float(other.curves.response(_exact_x(other, b, False, 1e-13)[0]).sum())
    return (v1 - v0) / step
