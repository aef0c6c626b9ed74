"""Risk front: expected outcome against its spread across the bootstrap draws (NSGA-II).

A fitted curve is uncertain; its bootstrap draws (`AllocationProblem.draws`, arrays of shape
(draws, cells)) turn each allocation into a distribution of total outcome. Spending on well-measured
channels gives a narrower distribution, often for a lower mean, so "more revenue at less risk" is a
two-objective problem: maximize the mean over the draws and minimize its standard deviation.

pymoo's NSGA-II searches allocations through genetic.FeasibleRepair (every individual satisfies the
budget, bounds, on/off minimums, k active and units), with the population seeded by anchors found by
gradient search: the expected-outcome optimum (started from the exact / envelope optimum of the point
curves), the least-spread allocation and a few weighted compromises between them. The anchors are
merged into the final front, so its top end is the expected-outcome optimum whatever the search did.
Deterministic for a seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.optimize import minimize as pymoo_minimize
from scipy.optimize import minimize as scipy_minimize

from core.optimize.curves import CurveArrays
from core.optimize.genetic import FeasibleRepair, _PymooRepair, envelope_seed
from core.optimize.problem import AllocationProblem
from core.optimize.progress import Cancelled, Monitor, ProgressFn
from core.optimize.results import _f


class NoDrawsError(ValueError):
    """The problem carries no bootstrap draws, so an allocation's outcome has no spread to trade off."""


@dataclass
class RiskFrontResult:
    """Non-dominated allocations sorted by expected outcome (highest first).

    `mean` and `sd` are over the bootstrap draws (sd with ddof 0), `p5`/`p95` their 5 % and 95 %
    quantiles, `point_outcome` the outcome on the point-estimate curves.
    """

    budget: float
    brands: np.ndarray
    channels: np.ndarray
    allocations: np.ndarray  # (points, cells)
    mean: np.ndarray
    sd: np.ndarray
    p5: np.ndarray
    p95: np.ndarray
    point_outcome: np.ndarray
    n_draws: int
    generations: int
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.mean)

    def points(self) -> list[dict[str, Any]]:
        return [
            {
                "mean": _f(float(self.mean[i])),
                "sd": _f(float(self.sd[i])),
                "p5": _f(float(self.p5[i])),
                "p95": _f(float(self.p95[i])),
                "point_outcome": _f(float(self.point_outcome[i])),
                "allocation": _f(self.allocations[i]),
            }
            for i in range(len(self))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "nsga2",
            "budget": _f(self.budget),
            "cells": [{"brand": str(b), "channel": str(c)} for b, c in zip(self.brands, self.channels, strict=True)],
            "points": self.points(),
            "n_draws": self.n_draws,
            "generations": self.generations,
            "elapsed_s": self.elapsed_s,
            "notes": list(self.notes),
        }


def outcome_totals(draws: CurveArrays, x: np.ndarray) -> np.ndarray:
    """Total outcome of each allocation under each draw: x (points, cells) → (points, draws)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    return draws.response(x[:, None, :]).sum(axis=-1)


def non_dominated(mean: np.ndarray, sd: np.ndarray, rel_tol: float = 1e-9) -> np.ndarray:
    """Indices of the points no other point beats (mean ≥ and sd ≤), by mean descending.

    Of two front points whose means differ by less than rel_tol (relative), only the one with the
    smaller sd stays: they are the same point for any reader of the front.
    """
    order = np.lexsort((sd, -mean))  # mean descending, ties by sd ascending
    # Walking down the mean, a point survives only if its sd is below every sd seen so far.
    prior_best = np.minimum.accumulate(np.r_[np.inf, sd[order]])[:-1]
    front = order[sd[order] < prior_best]
    m = mean[front]
    same = (m[:-1] - m[1:]) <= rel_tol * max(float(np.max(np.abs(m), initial=0.0)), 1e-300)
    return front[~np.r_[same, False]]


class _RiskProblem(Problem):
    def __init__(self, draws: CurveArrays, repair: FeasibleRepair) -> None:
        n = draws.size
        super().__init__(n_var=n, n_obj=2, xl=np.zeros(n), xu=repair.hi)
        self.draws = draws

    def _evaluate(self, x: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
        totals = outcome_totals(self.draws, x)
        out["F"] = np.column_stack([-totals.mean(axis=1), totals.std(axis=1)])


class _Progress(Callback):
    def __init__(self, monitor: Monitor, n_gen: int) -> None:
        super().__init__()
        self.monitor, self.n_gen = monitor, n_gen

    def notify(self, algorithm: Any) -> None:
        if self.monitor.cancelled:
            algorithm.termination.force_termination = True
        else:
            fraction = 0.1 + 0.9 * algorithm.n_gen / self.n_gen
            self.monitor.report(fraction, f"generation {algorithm.n_gen} of {self.n_gen}")


class _Anchors:
    """Gradient search for points of the front: max mean, min sd and weighted compromises, by SLSQP.

    The mean and sd over draws have analytic gradients (mean of the marginals; covariance of totals
    and marginals over sd), so each anchor costs a few dozen vectorized evaluations.
    """

    def __init__(self, draws: CurveArrays, repair: FeasibleRepair, budget: float) -> None:
        self.draws, self.repair, self.budget = draws, repair, budget

    def stats(self, x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        resp = self.draws.response(x[None, :])  # (draws, cells)
        marg = self.draws.marginal(x[None, :])
        marg = np.where(np.isfinite(marg), marg, 1e12 * self.draws.beta)  # n < 1 at x = 0: a large finite slope
        totals = resp.sum(axis=1)
        mean, sd = float(totals.mean()), float(totals.std())
        d_mean = marg.mean(axis=0)
        d_sd = ((totals - mean)[:, None] * (marg - d_mean)).mean(axis=0) / max(sd, 1e-300)
        return mean, sd, d_mean, d_sd

    def _movable(self, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cells the gradient search may move (all, or the active ones under hard constraints) and their box."""
        r = self.repair
        hard = r.problem.has_hard_constraints
        movable = np.flatnonzero((x0 > r.lo) | ~r.optional) if hard else np.arange(len(x0))
        movable = movable[r.hi[movable] > r.lo[movable]]
        lo = np.where(r.optional, r.on_min, r.lo)[movable] if hard else r.lo[movable]
        hi = r.hi[movable]
        lo = np.minimum(np.maximum(lo, 1e-9 * self.budget), hi)  # keep off x = 0, where n < 1 has infinite slope
        return movable, lo, hi

    def solve(self, x0: np.ndarray, w_mean: float, w_sd: float, mean_floor: float | None = None) -> np.ndarray:
        """Maximize w_mean·mean − w_sd·sd (optionally with mean ≥ mean_floor) over the movable cells; repaired."""
        movable, lo, hi = self._movable(x0)
        if movable.size < 2:
            return x0
        fixed = self.budget - (x0.sum() - x0[movable].sum())
        scale = max(abs(self.stats(x0)[0]), 1e-300)

        def full(v: np.ndarray) -> np.ndarray:
            x = x0.copy()
            x[movable] = v
            return x

        def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
            mean, sd, d_mean, d_sd = self.stats(full(v))
            return -(w_mean * mean - w_sd * sd) / scale, -(w_mean * d_mean - w_sd * d_sd)[movable] / scale

        constraints = [{"type": "eq", "fun": lambda v: np.array([v.sum() - fixed]),
                        "jac": lambda v: np.ones((1, len(v)))}]
        if mean_floor is not None:
            constraints.append({
                "type": "ineq",
                "fun": lambda v: np.array([(self.stats(full(v))[0] - mean_floor) / scale]),
                "jac": lambda v: self.stats(full(v))[2][movable][None, :] / scale,
            })
        res = scipy_minimize(fun, np.clip(x0[movable], lo, hi), jac=True, method="SLSQP",
                             bounds=list(zip(lo, hi, strict=True)), constraints=constraints,
                             options={"maxiter": 300, "ftol": 1e-14})
        return self.repair(full(np.clip(res.x, lo, hi)))

    def mean_optimum(self, start: np.ndarray) -> np.ndarray:
        x = self.solve(start, 1.0, 0.0)
        return x if self.stats(x)[0] >= self.stats(start)[0] else start

    def tighten(self, x0: np.ndarray) -> np.ndarray:
        """Least sd at no lower mean than x0 (a local ε-constraint step); x0 itself unless that helps."""
        mean0, sd0 = self.stats(x0)[:2]
        x = self.solve(x0, 0.0, 1.0, mean_floor=mean0)
        mean, sd = self.stats(x)[:2]
        return x if mean >= mean0 - 1e-9 * abs(mean0) and sd < sd0 else x0


def risk_front(
    problem: AllocationProblem,
    budget: float,
    *,
    seed: int = 0,
    pop_size: int = 60,
    n_gen: int = 80,
    n_anchors: int = 5,
    polish: bool = True,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> RiskFrontResult:
    """Pareto front of expected outcome versus its standard deviation across `problem.draws`.

    `polish` moves each final front point to the least sd at no lower mean by a local SLSQP step
    (NSGA-II alone ends within a few per cent of the front; the polish closes most of that gap).
    """
    started = time.perf_counter()
    if problem.draws is None:
        raise NoDrawsError("the risk front needs bootstrap draws of the curves (AllocationProblem.draws); "
                           "fit with n_bootstrap > 0")
    draws = problem.draws
    if draws.beta.ndim != 2 or draws.size != problem.n:
        raise ValueError(f"draws must have shape (draws, {problem.n}), got {draws.beta.shape}")
    mon = Monitor(progress, cancel)
    repair = FeasibleRepair(problem, budget)
    anchors = _Anchors(draws, repair, float(budget))

    mon.report(0.0, "anchors: expected-outcome optimum")
    best = anchors.mean_optimum(envelope_seed(problem, budget, repair))
    least = anchors.solve(repair(np.full(problem.n, budget / problem.n)), 0.0, 1.0)
    seeds = [best, least]
    m_best, s_best = anchors.stats(best)[:2]
    m_least, s_least = anchors.stats(least)[:2]
    if s_best > s_least and m_best > m_least:
        # Weights on the normalized objectives so the compromises spread along the front, not bunch at one end.
        for t in np.linspace(0.0, 1.0, n_anchors + 2)[1:-1]:
            mon.report(0.1 * t, "anchors: compromises")
            seeds.append(anchors.solve(best, (1 - t) / (m_best - m_least), t / (s_best - s_least)))
    seeds_arr = np.array(seeds)

    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.ones(problem.n), pop_size) * budget
    init = np.array([repair(row) for row in init])
    init[: len(seeds_arr)] = seeds_arr[:pop_size]
    algorithm = NSGA2(
        pop_size=pop_size,
        sampling=init,
        crossover=SBX(prob=0.9, eta=15),
        mutation=PM(eta=20),
        repair=_PymooRepair(repair),
        eliminate_duplicates=problem.unit is None,
    )
    res = pymoo_minimize(_RiskProblem(draws, repair), algorithm, ("n_gen", n_gen), seed=seed,
                         callback=_Progress(mon, n_gen), verbose=False)
    if mon.cancelled:
        raise Cancelled("risk front cancelled")

    candidates = np.vstack([seeds_arr, res.pop.get("X")])
    candidates = np.array([repair(row) for row in candidates])
    if polish:
        totals = outcome_totals(draws, candidates)
        front = candidates[non_dominated(totals.mean(axis=1), totals.std(axis=1))]
        mon.report(0.95, f"polishing {len(front)} front points")
        candidates = np.vstack([candidates, [anchors.tighten(x) for x in front]])
    totals = outcome_totals(draws, candidates)
    mean, sd = totals.mean(axis=1), totals.std(axis=1)
    keep = non_dominated(mean, sd)
    x, totals = candidates[keep], totals[keep]
    p5, p95 = np.quantile(totals, [0.05, 0.95], axis=1)
    result = RiskFrontResult(
        budget=float(budget), brands=np.asarray(problem.brands), channels=np.asarray(problem.channels),
        allocations=x, mean=mean[keep], sd=sd[keep], p5=p5, p95=p95,
        point_outcome=problem.curves.response(x).sum(axis=1), n_draws=int(draws.beta.shape[0]), generations=n_gen,
        elapsed_s=time.perf_counter() - started,
        notes=["heuristic front (NSGA-II) merged with gradient anchors; every point satisfies every constraint"],
    )
    mon.report(1.0, "risk front done")
    return result
