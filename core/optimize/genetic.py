"""Genetic search for the hard allocation cases the exact allocator cannot take.

S-shaped curves (Hill n > 1, logistic), on/off channels with a minimum spend when on, at most k active
channels per brand and whole spend units make the problem non-concave and combinatorial. pymoo's GA searches it with a
repair operator that maps every individual onto a feasible allocation (so no penalty tuning), seeded
with the exact optimum of the concave envelope. Each generation's best active set is then polished
exactly (envelope.polish), a memetic step that makes the search land on a local KKT point.
Deterministic for a given seed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.optimize import minimize as pymoo_minimize
from scipy.optimize import minimize as scipy_minimize

from core.optimize.allocate import _exact_x, build_result
from core.optimize.envelope import polish
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.progress import Cancelled, Monitor, ProgressFn
from core.optimize.results import AllocationResult


class FeasibleRepair:
    """Maps any vector onto the feasible set: bounds, on/off minimums, k active per brand, budget, units."""

    def __init__(self, problem: AllocationProblem, budget: float) -> None:
        if problem.brand_bounds or problem.channel_bounds:
            raise ValueError(
                "the genetic allocator does not take brand or channel totals; use allocate.maximize_outcome"
            )
        self.problem, self.budget = problem, float(budget)
        lo, hi = problem.cell_bounds()
        self.lo, self.hi = lo, np.minimum(hi, budget)
        m = np.zeros(problem.n) if problem.min_spend is None else problem.min_spend
        self.optional = (lo <= 0) & (m > 0)  # may be switched off
        self.on_min = np.maximum(lo, m)
        if np.any(self.on_min > self.hi):
            i = int(np.flatnonzero(self.on_min > self.hi)[0])
            raise InfeasibleError(f"cell {problem.labels(i)}: minimum spend when on exceeds its upper bound")
        self.k = problem.max_active_per_brand
        self.unit = problem.unit
        self.forced = lo > 0
        self.brand_cells = [np.flatnonzero(problem.brand_index == b) for b in range(len(problem.brand_names))]
        self.value_rate = problem.curves.marginal_cap()  # best return per unit: used to pick cells to switch on
        self.value_rate = np.where(np.isfinite(self.value_rate), self.value_rate, problem.curves.beta * 1e6)
        self._check_reachable()

    def _check_reachable(self) -> None:
        must = float(self.lo.sum())
        if must > self.budget * (1 + 1e-12):
            raise InfeasibleError(f"budget {self.budget:.6g} is below the {must:.6g} the lower bounds need")
        cap = 0.0
        for cells in self.brand_cells:
            forced = cells[self.forced[cells]]
            rest = cells[~self.forced[cells]]
            room = self.hi[forced].sum()
            if self.k is not None:
                if len(forced) > self.k:
                    raise InfeasibleError(
                        f"brand {self.problem.brands[cells[0]]}: {len(forced)} cells have a positive lower bound "
                        f"but at most {self.k} may be active"
                    )
                rest = rest[np.argsort(-self.hi[rest])][: self.k - len(forced)]
            cap += room + self.hi[rest].sum()
        if cap < self.budget * (1 - 1e-12):
            raise InfeasibleError(f"budget {self.budget:.6g} exceeds the {cap:.6g} the bounds and active limits allow")
        if self.unit is not None and abs(self.budget / self.unit - round(self.budget / self.unit)) > 1e-9:
            raise InfeasibleError(f"budget {self.budget:.6g} is not a whole number of spend units ({self.unit:g})")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=float), self.lo, self.hi)
        on = (x >= 0.5 * self.on_min) & (x > 0) | self.forced
        on &= ~(self.optional & (x < 0.5 * self.on_min))
        if self.k is not None:
            on = self._limit_active(x, on)
        x = np.where(on, np.maximum(x, self.on_min), np.where(self.optional, 0.0, self.lo))
        x = self._match_budget(x, on)
        if self.unit is not None:
            x = self._to_units(x, on)
        return x

    def _limit_active(self, x: np.ndarray, on: np.ndarray) -> np.ndarray:
        for cells in self.brand_cells:
            live = cells[on[cells]]
            if len(live) > self.k:
                order = live[np.lexsort((-x[live], ~self.forced[live]))]  # forced first, then by spend
                on[order[self.k :]] = False
        return on

    def _match_budget(self, x: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Move every active cell by the same fraction of its room until the total is the budget."""
        for _ in range(self.problem.n + 1):
            r = self.budget - x.sum()
            if abs(r) <= 1e-12 * max(self.budget, 1.0):
                return x
            floor = np.where(on, self.on_min, self.lo)
            room = np.where(on, self.hi - x, 0.0) if r > 0 else np.where(on, x - floor, 0.0)
            total = room.sum()
            # a budget at the cap: the room and the rest are equal but for rounding
            if total >= abs(r) - 1e-12 * max(self.budget, 1.0):
                return np.clip(x + np.sign(r) * room * min(abs(r) / total, 1.0), floor, self.hi)
            x = x + np.sign(r) * room
            if r > 0:  # switch on the best remaining cell (respecting k)
                on = self._switch_on(x, on)
            else:  # switch off the optional active cell with the least spend
                cand = np.flatnonzero(on & self.optional)
                if cand.size == 0:
                    break
                i = cand[np.argmin(x[cand])]
                on[i] = False
                x[i] = 0.0
        raise InfeasibleError(f"cannot place budget {self.budget:.6g} within the bounds and active limits")

    def _switch_on(self, x: np.ndarray, on: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(~on & (self.hi > self.lo))
        if self.k is not None:
            active_per_brand = np.bincount(self.problem.brand_index[on], minlength=len(self.brand_cells))
            cand = cand[active_per_brand[self.problem.brand_index[cand]] < self.k]
        if cand.size == 0:
            raise InfeasibleError(f"cannot place budget {self.budget:.6g}: no cell left to switch on")
        i = cand[np.argmax(self.value_rate[cand])]
        on[i] = True
        x[i] = max(x[i], self.on_min[i])
        return on

    def _to_units(self, x: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Round down to whole units, then hand the missing units to the cells with the largest remainders."""
        u = self.unit
        floor = np.where(on, np.ceil(self.on_min / u - 1e-9) * u, np.ceil(self.lo / u - 1e-9) * u)
        top = np.floor(self.hi / u + 1e-9) * u
        y = np.clip(np.floor(x / u + 1e-9) * u, floor, top)
        missing = round((self.budget - y.sum()) / u)
        frac = x - y
        step = 1 if missing > 0 else -1
        for _ in range(abs(missing)):
            room = (y + u <= top + 1e-9) & on if step > 0 else (y - u >= floor - 1e-9) & on
            if not room.any():
                room = (y + u <= top + 1e-9) if step > 0 else (y - u >= floor - 1e-9)
            score = np.where(room, frac * step, -np.inf)
            i = int(np.argmax(score))
            y[i] += step * u
            frac[i] -= step * u
        return y


class _AllocationProblem(Problem):
    def __init__(self, problem: AllocationProblem, repair: FeasibleRepair) -> None:
        super().__init__(n_var=problem.n, n_obj=1, xl=np.zeros(problem.n), xu=repair.hi)
        self.curves = problem.curves

    def _evaluate(self, x: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        out["F"] = -self.curves.response(x).sum(axis=1)


class _PymooRepair(Repair):
    def __init__(self, fn: FeasibleRepair) -> None:
        super().__init__()
        self.fn = fn

    def _do(self, problem: Problem, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        return np.array([self.fn(row) for row in x])


class _Trace(Callback):
    def __init__(self, monitor: Monitor, n_gen: int) -> None:
        super().__init__()
        self.monitor, self.n_gen, self.best = monitor, n_gen, []

    def notify(self, algorithm: Any) -> None:
        self.best.append(float(-algorithm.pop.get("F").min()))
        if self.monitor.cancelled:
            algorithm.termination.force_termination = True
        else:
            self.monitor.report(algorithm.n_gen / self.n_gen, f"generation {algorithm.n_gen} of {self.n_gen}")


def envelope_seed(problem: AllocationProblem, budget: float, repair: FeasibleRepair) -> np.ndarray:
    """Exact optimum of the concave envelope (hard constraints relaxed), made feasible and polished."""
    relaxed = AllocationProblem(
        problem.curves, problem.brands, problem.channels, current=problem.current, lower=problem.lower,
        upper=problem.upper, locked=problem.locked, max_change=problem.max_change,
    )
    x = repair(_exact_x(relaxed, budget, True, 1e-12)[0])
    return _polished(problem, repair, x, budget)


def _polished(problem: AllocationProblem, repair: FeasibleRepair, x: np.ndarray, budget: float) -> np.ndarray:
    y = polish(problem, x, budget, repair.on_min)
    if y is None:
        return x
    y = repair(y)
    return y if problem.curves.response(y).sum() >= problem.curves.response(x).sum() else x


def local_refine(problem: AllocationProblem, repair: FeasibleRepair, x: np.ndarray, budget: float) -> np.ndarray:
    """SLSQP on the active cells only, from an already good point: lets an S-shaped cell settle below
    its tangent point when that is better (the exact polish keeps active cells at or above it)."""
    active = np.flatnonzero(x > repair.lo)
    if active.size < 2:
        return x
    curves = problem.curves.subset(active)
    fixed = budget - (x.sum() - x[active].sum())
    lo, hi = repair.on_min[active], repair.hi[active]
    scale = max(float(curves.response(x[active]).sum()), 1e-300)
    res = scipy_minimize(
        lambda v: -curves.response(v).sum() / scale,
        x[active],
        jac=lambda v: -curves.marginal(v) / scale,
        bounds=list(zip(lo, hi, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda v: np.array([v.sum() - fixed]), "jac": lambda v: np.ones((1, len(v)))}
        ],
        method="SLSQP",
        options={"maxiter": 200, "ftol": 1e-15},
    )
    y = x.copy()
    y[active] = np.clip(res.x, lo, hi)
    y = repair(y)
    return y if problem.curves.response(y).sum() > problem.curves.response(x).sum() else x


def optimize_hard(
    problem: AllocationProblem,
    budget: float,
    *,
    seed: int = 0,
    pop_size: int = 60,
    n_gen: int = 120,
    use_envelope_seed: bool = True,
    polish_top: int = 5,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> AllocationResult:
    """Best allocation found for S-shaped curves and on/off, k-active or whole-unit constraints."""
    started = time.perf_counter()
    mon = Monitor(progress, cancel)
    repair = FeasibleRepair(problem, budget)
    rng = np.random.default_rng(seed)
    init = rng.uniform(0, 1, (pop_size, problem.n)) * (repair.hi - repair.lo) * (budget / repair.hi.sum()) + repair.lo
    init = np.array([repair(row) for row in init])
    if use_envelope_seed:
        init[0] = envelope_seed(problem, budget, repair)
    trace = _Trace(mon, n_gen)
    algorithm = GA(
        pop_size=pop_size,
        sampling=init,
        crossover=SBX(prob=0.9, eta=15),
        mutation=PM(eta=20),
        repair=_PymooRepair(repair),
        eliminate_duplicates=problem.unit is None,  # on a unit grid duplicates are common and refilling stalls
    )
    res = pymoo_minimize(_AllocationProblem(problem, repair), algorithm, ("n_gen", n_gen), seed=seed,
                         callback=trace, verbose=False)
    if mon.cancelled:
        raise Cancelled("genetic allocation cancelled")
    pop_x, pop_f = res.pop.get("X"), res.pop.get("F")[:, 0]
    best = repair(np.asarray(res.X, dtype=float).ravel())
    for i in np.argsort(pop_f)[:polish_top]:
        cand = _polished(problem, repair, pop_x[i], budget)
        if problem.curves.response(cand).sum() > problem.curves.response(best).sum():
            best = cand
    best = local_refine(problem, repair, best, budget)
    trace.best.append(float(problem.curves.response(best).sum()))
    notes = ["heuristic: best allocation found; repaired to satisfy every constraint"]
    result = build_result(problem, best, budget, "genetic", "feasible", None, started, notes, trace.best)
    mon.report(1.0, "genetic allocation done")
    return result
