"""Exact allocator vs scipy SLSQP, the budget frontier and the genetic search, measured in one run.

    python -m benchmarks.optimizer [--json] [--slsqp-cap SECONDS]

Prints a side-by-side table; with --json the last line is one JSON object of the ratios.
SLSQP gets analytic gradients and starts from an even split (as Robyn and PyMC-Marketing start from
the current or an even allocation); it is stopped after --slsqp-cap seconds, so its time at 1,000
cells is a lower bound when the table says "capped".
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.optimize import minimize

from core.optimize.allocate import _exact_x, budget_frontier, maximize_outcome
from core.optimize.curves import CurveArrays
from core.optimize.genetic import FeasibleRepair, optimize_hard
from core.optimize.problem import AllocationProblem


def instance(n: int, seed: int, shape: tuple[float, float] = (0.4, 1.0)) -> tuple[AllocationProblem, float]:
    rng = np.random.default_rng(seed)
    curves = CurveArrays(rng.uniform(1, 10, n), rng.uniform(1, 5, n), rng.uniform(*shape, n))
    brands = [f"brand{i % max(n // 10, 1)}" for i in range(n)]
    channels = [f"channel{i % 10}" for i in range(n)]
    problem = AllocationProblem(curves, brands, channels, upper=rng.uniform(2, 8, n))
    return problem, 2.0 * n


def slsqp(problem: AllocationProblem, budget: float, x0: np.ndarray, cap_s: float) -> tuple[np.ndarray, float, bool]:
    """SLSQP with analytic gradients; returns (x, seconds, capped)."""
    n, c = problem.n, problem.curves
    lo, hi = problem.cell_bounds()
    floor = np.maximum(lo, 1e-9)
    started = time.perf_counter()
    capped = False

    def stop(_xk: np.ndarray) -> None:
        nonlocal capped
        if time.perf_counter() - started > cap_s:
            capped = True
            raise StopIteration

    res = minimize(
        lambda x: -c.response(x).sum(),
        np.clip(x0, floor, hi),
        jac=lambda x: -c.marginal(x),
        bounds=list(zip(floor, np.where(np.isfinite(hi), hi, None), strict=True)),
        constraints=[{"type": "eq", "fun": lambda x: np.array([x.sum() - budget]), "jac": lambda x: np.ones((1, n))}],
        method="SLSQP",
        callback=stop,
        options={"maxiter": 1000, "ftol": 1e-12},
    )
    x = np.clip(res.x, lo, hi)
    x *= budget / x.sum()  # score SLSQP on exactly the budget
    return x, time.perf_counter() - started, capped


def timed(fn, repeat: int) -> tuple[object, float]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    ap.add_argument("--slsqp-cap", type=float, default=20.0, help="seconds before SLSQP is stopped")
    args = ap.parse_args()
    out: dict[str, float | bool] = {}
    rows = []
    print(f"{'cells':>8} | {'exact s':>9} | {'SLSQP s':>9} | {'speedup':>9} | {'exact outcome':>14} | "
          f"{'SLSQP outcome':>14} | {'gap (rel)':>10} | note")
    for n in (10, 100, 1000, 10_000, 100_000):
        problem, budget = instance(n, seed=n)
        res, t_exact = timed(lambda p=problem, b=budget: maximize_outcome(p, b), 3 if n <= 10_000 else 1)
        row = {"cells": n, "exact_s": t_exact, "exact_outcome": res.outcome}
        if n <= 1000:
            x, t_s, capped = slsqp(problem, budget, np.full(n, budget / n), args.slsqp_cap)
            ref = float(problem.curves.response(x).sum())
            row.update(slsqp_s=t_s, slsqp_outcome=ref, speedup=t_s / t_exact, gap=(res.outcome - ref) / abs(ref),
                       note="SLSQP capped" if capped else "")
            out[f"speedup_{n}"] = t_s / t_exact
            out[f"objective_gap_{n}"] = (res.outcome - ref) / abs(ref)
            out[f"slsqp_capped_{n}"] = capped
        out[f"exact_{n}_s"] = t_exact
        rows.append(row)
        print(f"{n:>8} | {t_exact:>9.4f} | {row.get('slsqp_s', float('nan')):>9.3f} | "
              f"{row.get('speedup', float('nan')):>9.0f} | {res.outcome:>14.6f} | "
              f"{row.get('slsqp_outcome', float('nan')):>14.6f} | {row.get('gap', float('nan')):>10.2e} | "
              f"{row.get('note', 'exact alone')}")

    problem, budget = instance(1000, seed=7)
    budgets = np.linspace(0.2, 4.0, 50) * 1000
    fr, t_fr = timed(lambda: budget_frontier(problem, budgets), 1)
    out["frontier_50x1000_s"] = t_fr
    print(f"\nfrontier: 50 budgets × 1,000 cells in {t_fr:.3f} s; "
          f"outcome {fr.outcomes[0]:.1f} → {fr.outcomes[-1]:.1f}, "
          f"marginal ROI {fr.marginal_roi[0]:.3f} → {fr.marginal_roi[-1]:.3f}")

    problem, budget = instance(200, seed=11, shape=(1.3, 3.0))
    budget = 300.0
    repair = FeasibleRepair(problem, budget)
    env = repair(_exact_x(problem, budget, True, 1e-12)[0])
    env_value = float(problem.curves.response(env).sum())
    rng = np.random.default_rng(0)
    starts = [np.full(200, budget / 200)] + [rng.dirichlet(np.ones(200)) * budget for _ in range(4)]
    t = time.perf_counter()
    multi = [slsqp(problem, budget, x0, args.slsqp_cap)[0] for x0 in starts]
    t_multi = time.perf_counter() - t
    multi_value = max(float(problem.curves.response(x).sum()) for x in multi)
    ga, t_ga = timed(lambda: optimize_hard(problem, budget, seed=0), 1)
    reference = max(multi_value, env_value)
    out["ga_gap_pct"] = (reference - ga.outcome) / reference * 100.0
    out["ga_s"] = t_ga
    print(f"\nS-shaped, 200 cells, budget {budget:g}:")
    print(f"  multi-start SLSQP (5 starts) {multi_value:.6f} in {t_multi:.2f} s")
    print(f"  repaired concave-envelope     {env_value:.6f}")
    print(f"  genetic (pymoo GA + repair)   {ga.outcome:.6f} in {t_ga:.2f} s, {len(ga.convergence)} trace points")
    print(f"  GA short of the best reference by {out['ga_gap_pct']:.4f} % (negative: GA wins)")
    if args.json:
        print(json.dumps({k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
