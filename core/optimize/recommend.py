"""Metric recommender: which metrics a brand should move, and how far, for the most DC-score gain.

Each metric can stay or move to one of `levels` targets between its current value and its feasible
best (no better than the best competitor or a percentile cap, at most the brand's historic best
monthly change). Moving costs effort (fixed + per unit). At most k metrics, total effort within the
budget; the score comes from the caller's `score_fn(values) -> float`, which re-normalizes against
competitors with the brand's new values (so gains interact, and the search must be combinatorial).
A small genetic search (repair to feasibility, elitism, then a 1-opt polish) handles it; exhaustive
enumeration is provided as the oracle for small cases.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.optimize.progress import Monitor, ProgressFn

ScoreFn = Callable[[np.ndarray], float]


def feasible_best(
    current: np.ndarray,
    competitors: np.ndarray,
    history: np.ndarray,
    higher_is_better: np.ndarray,
    percentile_cap: float | None = None,
) -> np.ndarray:
    """The most improved value allowed per metric: best competitor (or its percentile), capped by the
    brand's own largest month-on-month improvement; never worse than the current value."""
    current = np.asarray(current, float)
    sign = np.where(np.asarray(higher_is_better, bool), 1.0, -1.0)
    comp = np.asarray(competitors, float) * sign
    best = np.nanmax(comp, axis=0) if percentile_cap is None else np.nanpercentile(comp, percentile_cap, axis=0)
    steps = np.diff(np.asarray(history, float) * sign, axis=0)
    max_step = np.nan_to_num(np.nanmax(np.where(steps > 0, steps, 0.0), axis=0, initial=0.0))
    cap = np.minimum(best, current * sign + max_step)
    return np.maximum(cap, current * sign) * sign


@dataclass
class MetricOptions:
    """One brand's movable metrics."""

    names: list[str]
    current: np.ndarray
    best: np.ndarray  # feasible best value per metric (see feasible_best)
    effort_per_unit: np.ndarray
    fixed_effort: np.ndarray | None = None
    levels: int = 4

    def values(self, level: np.ndarray) -> np.ndarray:
        return self.current + (np.asarray(level) / self.levels) * (self.best - self.current)

    def effort(self, level: np.ndarray) -> np.ndarray:
        """Effort of each level vector (last axis = metrics)."""
        level = np.asarray(level)
        fixed = 0.0 if self.fixed_effort is None else self.fixed_effort
        move = np.abs(self.values(level) - self.current)
        return np.sum(self.effort_per_unit * move + np.where(level > 0, fixed, 0.0), axis=-1)


@dataclass
class Recommendation:
    """The chosen targets, ranked by the gain each step brings when applied in that order."""

    base_score: float
    final_score: float
    effort: float
    levels: np.ndarray
    steps: list[dict[str, Any]]
    method: str
    evaluations: int
    convergence: list[float] = field(default_factory=list)

    @property
    def gain(self) -> float:
        return self.final_score - self.base_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_score": self.base_score, "final_score": self.final_score, "gain": self.gain,
            "effort": self.effort, "steps": self.steps, "method": self.method, "evaluations": self.evaluations,
            "convergence": self.convergence,
        }


class _Scorer:
    """Memoized score of level vectors (the caller's score_fn may be costly)."""

    def __init__(self, opts: MetricOptions, score_fn: ScoreFn) -> None:
        self.opts, self.fn, self.cache = opts, score_fn, {}

    def __call__(self, level: np.ndarray) -> float:
        key = tuple(int(v) for v in level)
        if key not in self.cache:
            self.cache[key] = float(self.fn(self.opts.values(np.array(key))))
        return self.cache[key]


def _feasible(opts: MetricOptions, level: np.ndarray, budget: float, k: int) -> bool:
    return np.count_nonzero(level) <= k and opts.effort(level) <= budget * (1 + 1e-12)


def recommend_exhaustive(opts: MetricOptions, score_fn: ScoreFn, effort_budget: float, k: int) -> Recommendation:
    """Every combination of at most k metrics and their target levels: the oracle for small cases."""
    m, scorer = len(opts.names), _Scorer(opts, score_fn)
    best, best_key = scorer(np.zeros(m, int)), (0.0, np.zeros(m, int))
    for size in range(1, min(k, m) + 1):
        for chosen in itertools.combinations(range(m), size):
            for lv in itertools.product(range(1, opts.levels + 1), repeat=size):
                level = np.zeros(m, int)
                level[list(chosen)] = lv
                effort = opts.effort(level)
                if effort > effort_budget * (1 + 1e-12):
                    continue
                s = scorer(level)
                if s > best + 1e-12 or (abs(s - best) <= 1e-12 and effort < best_key[0]):
                    best, best_key = s, (effort, level)
    return _ranked(opts, scorer, best_key[1], "exhaustive", [])


def _single_gains(opts: MetricOptions, scorer: _Scorer, base: float) -> tuple[np.ndarray, np.ndarray]:
    """(gain, gain per effort) of moving one metric alone to each level: how repair and greedy rank moves."""
    m, lv = len(opts.names), opts.levels
    single = np.zeros((m, lv + 1))
    for j in range(m):
        for level in range(1, lv + 1):
            e = np.zeros(m, int)
            e[j] = level
            single[j, level] = scorer(e) - base
    unit_effort = np.array([[opts.effort(np.eye(m, dtype=int)[j] * level) for level in range(lv + 1)]
                            for j in range(m)])
    ratio = np.divide(single, unit_effort, out=np.zeros_like(single), where=unit_effort > 0)
    return single, ratio


def _repair(opts: MetricOptions, ratio: np.ndarray, level: np.ndarray, budget: float, k: int) -> np.ndarray:
    """Make a level vector feasible: keep the k best-ratio moves, then step down the worst until it fits."""
    level = level.copy()
    on = np.flatnonzero(level)
    if len(on) > k:
        keep = on[np.argsort(-ratio[on, level[on]])[:k]]
        level[np.setdiff1d(on, keep)] = 0
    while opts.effort(level) > budget * (1 + 1e-12):
        on = np.flatnonzero(level)
        worst = on[np.argmin(ratio[on, level[on]])]
        level[worst] -= 1
    return level


def _greedy(opts: MetricOptions, single: np.ndarray, ratio: np.ndarray, budget: float, k: int) -> np.ndarray:
    """Add the best-ratio single step while it fits and gains: the seed individual of the search."""
    m, lv = len(opts.names), opts.levels
    greedy = np.zeros(m, int)
    for _ in range(m * lv):
        cands = [(ratio[j, greedy[j] + 1], j) for j in range(m) if greedy[j] < lv]
        moved = False
        for _r, j in sorted(cands, reverse=True):
            trial = greedy.copy()
            trial[j] += 1
            if _feasible(opts, trial, budget, k) and single[j, trial[j]] > 0:
                greedy, moved = trial, True
                break
        if not moved:
            break
    return greedy


def _survivors(pop: np.ndarray, fit: np.ndarray, children: np.ndarray, cfit: np.ndarray,
               pop_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Elitist selection over parents and children, dropping duplicates (the fittest copy stays)."""
    allp, allf = np.vstack([pop, children]), np.r_[fit, cfit]
    order = np.argsort(-allf, kind="stable")
    _, first = np.unique(allp[order], axis=0, return_index=True)
    keep = order[np.sort(first)][:pop_size]
    if len(keep) < pop_size:
        keep = np.r_[keep, order[: pop_size - len(keep)]]
    return allp[keep], allf[keep]


def recommend(
    opts: MetricOptions,
    score_fn: ScoreFn,
    effort_budget: float,
    k: int,
    *,
    seed: int = 0,
    pop_size: int = 40,
    n_gen: int = 60,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> Recommendation:
    """Genetic search over (metric, target level) choices under the k and effort limits."""
    mon = Monitor(progress, cancel)
    m, lv = len(opts.names), opts.levels
    rng = np.random.default_rng(seed)
    scorer = _Scorer(opts, score_fn)
    single, ratio = _single_gains(opts, scorer, scorer(np.zeros(m, int)))

    def repair(level: np.ndarray) -> np.ndarray:
        return _repair(opts, ratio, level, effort_budget, k)

    greedy = _greedy(opts, single, ratio, effort_budget, k)
    randoms = [repair(rng.integers(0, lv + 1, m) * (rng.random(m) < k / m)) for _ in range(pop_size - 1)]
    pop = np.array([greedy, *randoms])
    fit = np.array([scorer(p) for p in pop])
    trace = []
    for gen in range(n_gen):
        mon.report(gen / n_gen, f"generation {gen + 1} of {n_gen}")
        children = []
        for _ in range(pop_size):
            a, b = (pop[max(rng.choice(pop_size, 2, replace=False), key=lambda i: fit[i])] for _ in range(2))
            child = np.where(rng.random(m) < 0.5, a, b)
            mutate = rng.random(m) < 1.5 / m
            child = np.where(mutate, rng.integers(0, lv + 1, m), child)
            children.append(repair(child))
        children = np.array(children)
        pop, fit = _survivors(pop, fit, children, np.array([scorer(c) for c in children]), pop_size)
        trace.append(float(fit.max()))
    best = _one_opt(opts, scorer, pop[np.argmax(fit)], effort_budget, k)
    mon.report(1.0, "recommendation done")
    return _ranked(opts, scorer, best, "genetic", trace)


def _one_opt(opts: MetricOptions, scorer: _Scorer, level: np.ndarray, budget: float, k: int) -> np.ndarray:
    """Hill-climb on single-metric level changes and pairwise swaps until nothing feasible improves."""
    m, lv = len(level), opts.levels
    best, best_s = level.copy(), scorer(level)
    improved = True
    while improved:
        improved = False
        moves = [(j, v) for j in range(m) for v in range(lv + 1) if v != best[j]]
        swaps = [(i, j, v) for i in np.flatnonzero(best) for j in np.flatnonzero(best == 0) for v in range(1, lv + 1)]
        for move in moves + swaps:
            trial = best.copy()
            if len(move) == 2:
                trial[move[0]] = move[1]
            else:
                trial[move[0]], trial[move[1]] = 0, move[2]
            if _feasible(opts, trial, budget, k) and scorer(trial) > best_s + 1e-12:
                best, best_s, improved = trial, scorer(trial), True
    return best


def _ranked(opts: MetricOptions, scorer: _Scorer, level: np.ndarray, method: str, trace: list[float]) -> Recommendation:
    """Order the chosen moves greedily by the gain each adds on top of those before it."""
    m = len(opts.names)
    applied = np.zeros(m, int)
    base = scorer(applied)
    score, steps = base, []
    todo = list(np.flatnonzero(level))
    while todo:
        gains = []
        for j in todo:
            trial = applied.copy()
            trial[j] = level[j]
            gains.append(scorer(trial) - score)
        pick = todo.pop(int(np.argmax(gains)))
        applied[pick] = level[pick]
        score += max(gains)
        vals = opts.values(applied)
        steps.append({
            "metric": opts.names[pick], "current": float(opts.current[pick]), "target": float(vals[pick]),
            "effort": float(opts.effort(np.eye(m, dtype=int)[pick] * level[pick])),
            "gain": float(max(gains)), "score_after": float(score),
        })
    return Recommendation(base, float(scorer(level)), float(opts.effort(level)), level, steps, method,
                          len(scorer.cache), trace)


def recommend_portfolio(
    brands: Mapping[str, tuple[MetricOptions, ScoreFn, float]],
    effort_budget: float,
    k: int,
    *,
    grid: int = 10,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> dict[str, Any]:
    """Split one effort budget across brands (value = revenue × score gain), exactly on a budget grid.

    Each brand's best gain is computed at every grid share of the budget; a knapsack over brands then
    picks the shares with the largest revenue-weighted total gain.
    """
    mon = Monitor(progress, cancel)
    names = list(brands)
    recs: dict[str, list[Recommendation]] = {}
    for i, name in enumerate(names):
        opts, fn, _rev = brands[name]
        recs[name] = []
        for g in range(grid + 1):
            mon.report((i * (grid + 1) + g) / (len(names) * (grid + 1)), f"{name}: effort share {g}/{grid}")
            recs[name].append(recommend(opts, fn, effort_budget * g / grid, k, seed=seed))
    value = np.array([[brands[n][2] * r.gain for r in recs[n]] for n in names])  # (brands, grid + 1)
    best = np.full(grid + 1, -np.inf)
    best[0] = 0.0
    choice = np.zeros((len(names), grid + 1), int)
    for b in range(len(names)):
        nxt = np.full(grid + 1, -np.inf)
        for used in range(grid + 1):
            for g in range(used + 1):
                v = best[used - g] + value[b, g]
                if v > nxt[used]:
                    nxt[used], choice[b, used] = v, g
        best = nxt
    used = int(np.argmax(best))
    shares = {}
    for b in range(len(names) - 1, -1, -1):
        shares[names[b]] = int(choice[b, used])
        used -= choice[b, used]
    mon.report(1.0, "portfolio done")
    return {
        "weighted_gain": float(best.max()),
        "brands": {n: {"effort_budget": effort_budget * shares[n] / grid, "plan": recs[n][shares[n]].to_dict()}
                   for n in names},
    }
