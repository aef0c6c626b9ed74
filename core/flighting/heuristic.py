"""S-shaped curves (Hill n > 1, logistic): a good plan, never labelled optimal.

The outcome is then not concave in the weekly spends. Replacing each saturation by its concave envelope
in the adstock (the ray from the origin to the tangent point, the curve beyond) gives a concave problem
whose optimum the interior-point method finds; its value bounds every real plan from above
(`outcome_bound`). That plan seeds:
1. a local polish on the real curves (the same interior-point steps with only the concave part of the
   curvature, started at the seed: they head for a local KKT point);
2. when the only total is the budget, a genetic search (pymoo GA, repair: clip to the weekly bounds and
   spread the budget's remainder over the room left) seeded with both, whose best plan is polished again.
The best real outcome among the feasible candidates is returned with status "heuristic" and its
distance to the bound in the notes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.optimize import minimize as pymoo_minimize

from core.flighting.ipm import solve_ipm
from core.flighting.kkt import kkt_residual
from core.flighting.model import WeeklyModel
from core.flighting.problem import FlightingProblem, Group
from core.flighting.result import FlightingResult, package
from core.formatting import Units

GA_EVALUATIONS = 600  # plans scored by the genetic search at most (population × generations)


class _BudgetRepair(Repair):
    """Clip to [lo, hi] on the free weeks, then move every week by the same share of its room to the budget."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, budget: float) -> None:
        super().__init__()
        self.lo, self.hi, self.budget = lo, hi, budget

    def fix(self, z: np.ndarray) -> np.ndarray:
        z = np.clip(z, self.lo, self.hi)
        for _ in range(3):
            r = self.budget - z.sum()
            room = (self.hi - z) if r > 0 else (z - self.lo)
            total = room.sum()
            if total <= 0 or abs(r) <= 1e-12 * self.budget:
                break
            z = np.clip(z + np.sign(r) * room * min(abs(r) / total, 1.0), self.lo, self.hi)
        return z

    def _do(self, problem: Problem, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        return np.array([self.fix(row) for row in x])


class _Plans(Problem):
    def __init__(self, model: WeeklyModel, base: np.ndarray, free: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        super().__init__(n_var=int(free.sum()), n_obj=1, xl=lo, xu=hi)
        self.model, self.base, self.free = model, base, free

    def full(self, z: np.ndarray) -> np.ndarray:
        x = self.base.copy()
        x[self.free] = z
        return x

    def _evaluate(self, x: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        out["F"] = np.array([-self.model.outcome(self.full(z)) for z in x])


class _Report(Callback):
    """Progress per generation; a job's reporter raises Cancelled here when the person pressed Cancel."""

    def __init__(self, progress: Any, generations: int) -> None:
        super().__init__()
        self.progress, self.generations = progress, generations

    def notify(self, algorithm: Any) -> None:
        g = int(algorithm.n_gen or 0)
        self.progress(0.5 + 0.45 * g / self.generations, f"genetic search: generation {g} of {self.generations}")


def _genetic(model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, budget: float, seeds: list[np.ndarray],
             seed: int = 0, progress: Any = None) -> np.ndarray:
    free = hi > lo
    cap = np.where(np.isfinite(hi), hi, budget)
    repair = _BudgetRepair(lo[free], cap[free], budget - float(lo[~free].sum()))
    rng = np.random.default_rng(seed)
    pop = max(len(seeds) + 2, 12)
    init = np.array([repair.fix(s[free]) for s in seeds]
                    + [repair.fix(seeds[0][free] * rng.uniform(0.5, 1.5, int(free.sum())))
                       for _ in range(pop - len(seeds))])
    plans = _Plans(model, lo.copy(), free, lo[free], cap[free])
    algorithm = GA(pop_size=pop, sampling=init, crossover=SBX(prob=0.9, eta=15), mutation=PM(eta=20), repair=repair,
                   eliminate_duplicates=True)
    generations = max(GA_EVALUATIONS // pop, 1)
    hooks = {"callback": _Report(progress, generations)} if progress else {}  # pymoo calls a None callback
    res = pymoo_minimize(plans, algorithm, ("n_gen", generations), seed=seed, verbose=False, **hooks)
    return plans.full(repair.fix(np.asarray(res.X, dtype=float).ravel()))


def _feasible(model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, groups: list[Group], x: np.ndarray) -> bool:
    parts = kkt_residual(model, lo, hi, groups, x).parts
    return bool(np.all(np.isfinite(x)) and parts["bounds"] <= 1e-8 and parts["totals"] <= 1e-8)


def solve_s_shaped(problem: FlightingProblem, model: WeeklyModel, lo: np.ndarray, hi: np.ndarray,
                   groups: list[Group], started: float, progress: Any = None) -> FlightingResult:
    """The best plan found for S-shaped curves, with the envelope's optimum as an upper bound."""

    def stage(start: float, what: str) -> Any:
        return None if progress is None else (lambda it: progress(start + min(it / 25.0, 1.0) * 0.25,
                                                                  f"{what}: step {it}"))

    envelope = problem.model(envelope=True)
    env = solve_ipm(envelope, lo, hi, groups, step=stage(0.0, "the concave envelope"))
    bound = envelope.outcome(env.x)
    candidates = [env.x]
    local = solve_ipm(model, lo, hi, groups, seed=env.x, concave_part=True, step=stage(0.25, "polishing on the curves"))
    if _feasible(model, lo, hi, groups, local.x):
        candidates.append(local.x)
    method = "envelope+local"
    if len(groups) == 1:
        ga = _genetic(model, lo, hi, problem.budget, candidates, progress=progress)
        again = solve_ipm(model, lo, hi, groups, seed=ga, concave_part=True)
        candidates += [ga] + ([again.x] if _feasible(model, lo, hi, groups, again.x) else [])
        method = "envelope+genetic"
    best = max(candidates, key=model.outcome)
    real = model.outcome(best)
    gap = (bound - real) / bound * 100.0 if bound > 0 else 0.0
    notes = [f"S-shaped response curves: a heuristic plan (concave-envelope seed, {method.split('+')[1]} search); "
             f"its outcome is at most {gap:.2g} % below the envelope's upper bound "
             f"({(problem.units or Units()).outcome_value(bound)})"]
    result = package(problem, model, best, "heuristic", method, started, None, env.iterations + local.iterations,
                     notes, prices={})
    result.outcome_bound = bound
    return result
