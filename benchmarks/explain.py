"""Shadow prices of "Why this plan" against finite differences, beside the naive reading, in one run.

    python -m benchmarks.explain [--json] [--instances N] [--cells N]

Random concave instances (Hill shape ≤ 1) with caps, floors, locks, a ±% change limit and, in turns,
brand totals or channel totals; every binding limit's shadow price (core.optimize.shadow) is held
against a re-solve with that limit relaxed by a small step. The baseline, in the same run, is the
naive reading a spreadsheet gives: a cell's own marginal return for its cap or floor (ignoring where
the money comes from), a total's mean marginal return over its cells, the average return for the budget.
Relative error |estimate − finite difference| / max(|finite difference|, 1 % of λ): a limit worth under
1 % of the common marginal return is measured against that 1 %. With --json the last line is one object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from core.optimize.allocate import maximize_outcome
from core.optimize.curves import CurveArrays
from core.optimize.problem import AllocationProblem, InfeasibleError
from core.optimize.shadow import Limit, finite_difference, shadow_prices

STEP = 1e-7  # relative to the budget
TARGET = 0.01


def instance(seed: int, n: int) -> tuple[AllocationProblem, float]:
    """A feasible random problem: money in millions, a change limit, a few locks, caps and floors."""
    rng = np.random.default_rng(seed)
    curves = CurveArrays(rng.uniform(1, 10, n) * 1e6, rng.uniform(1, 5, n) * 1e6, rng.uniform(0.4, 1.0, n))
    brands = [f"brand{i % 3}" for i in range(n)]
    channels = [f"channel{i % 4}" for i in range(n)]
    current = rng.uniform(0.5, 3.0, n) * 1e6
    upper = np.where(rng.random(n) < 0.3, current * rng.uniform(1.0, 1.2, n), np.inf)
    lower = np.where(rng.random(n) < 0.2, current * rng.uniform(0.8, 1.0, n), 0.0)
    totals: dict = {}
    if seed % 3 == 1:
        totals["brand_bounds"] = {"brand0": (0.0, float(current[0::3].sum()) * 0.95)}
    elif seed % 3 == 2:
        totals["channel_bounds"] = {"channel1": (float(current[1::4].sum()) * 1.05, np.inf)}
    problem = AllocationProblem(
        curves,
        brands,
        channels,
        current=current,
        lower=lower,
        upper=upper,
        locked=rng.random(n) < 0.1,
        max_change=float(rng.choice([0.2, 0.3, 0.5])),
        **totals,
    )
    return problem, float(current.sum()) * float(rng.uniform(0.9, 1.2))


def naive(problem: AllocationProblem, x: np.ndarray, budget: float, limit: Limit) -> float:
    """What a reader without the KKT conditions would take the limit to be worth."""
    marginal = problem.curves.marginal(x)
    if limit.kind == "budget":
        return float(problem.curves.response(x).sum() / budget)
    if limit.kind in ("cap", "floor"):
        return float(marginal[limit.index])
    _, idx, _, _ = problem.group_bounds(limit.kind)
    return float(marginal[idx == limit.index].mean())


def measure(instances: int, cells: int) -> dict:
    kkt, baseline, used, elapsed = [], [], 0, 0.0
    for seed in range(instances):
        problem, budget = instance(seed, cells)
        try:
            result = maximize_outcome(problem, budget)
        except InfeasibleError:
            continue
        used += 1
        started = time.perf_counter()
        prices = shadow_prices(problem, result.allocation, budget)
        elapsed += time.perf_counter() - started
        # λ = the budget's own shadow price (the allocator's `multiplier` can read ~0 with channel totals)
        lam = next((price for limit, price in prices if limit.kind == "budget"), None) or 0.0
        for limit, price in prices:
            if price is None or not np.isfinite(price):
                continue
            fd = finite_difference(problem, budget, limit, STEP * budget)
            scale = max(abs(fd), 0.01 * lam, 1e-300)
            kkt.append(abs(price - fd) / scale)
            baseline.append(abs(naive(problem, result.allocation, budget, limit) - fd) / scale)
    return {
        "instances": used,
        "limits": len(kkt),
        "cells": cells,
        "max_rel_error": max(kkt),
        "median_rel_error": float(np.median(kkt)),
        "naive_max_rel_error": max(baseline),
        "naive_median_rel_error": float(np.median(baseline)),
        "target": TARGET,
        "meets_target": max(kkt) <= TARGET,
        "shadow_price_seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--cells", type=int, default=24)
    args = parser.parse_args()
    out = measure(args.instances, args.cells)
    print(f"{'':34}{'KKT shadow price':>18}{'naive (own marginal)':>22}")
    print(f"{'largest relative error vs FD':34}{out['max_rel_error']:>18.2e}{out['naive_max_rel_error']:>22.2e}")
    print(f"{'median relative error vs FD':34}{out['median_rel_error']:>18.2e}{out['naive_median_rel_error']:>22.2e}")
    print(
        f"{out['instances']} instances, {out['limits']} binding limits, {out['cells']} cells each; target "
        f"≤ {TARGET} ({'met' if out['meets_target'] else 'NOT met'}); shadow prices took "
        f"{out['shadow_price_seconds']:.2f} s in all"
    )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
