"""The flighting solver against scipy on the same instances, and flighting against flat spend, in one run.

    python -m benchmarks.flighting [--json] [--weeks 52 --channels 12 --brands 20] [--slsqp-cap SECONDS]

1. gap_pct: at 13 weeks × 6 channels (one brand, several seeds) the largest relative difference, in %,
   between the outcome of our plan and scipy's trust-constr (an independent interior-point/SQP solver with
   exact gradients and Hessians) on the same problem. Target ≤ 0.01 %.
2. time_s: our solve (validation and KKT check included) at weeks × channels × brands (default 52 × 12 ×
   20 = 12,480 weekly spends). Target ≤ 5 s. Beside it SLSQP (scipy, analytic gradients): it keeps dense
   n × n matrices (≈ 5·n² doubles, 6 GB at 12,480 spends), so it is timed on one brand of the same
   family (52 × 12 = 624 spends) against our solver on that same sub-instance: slsqp_s, speedup there.
3. uplift_vs_flat_pct: the plan's outcome against the same budget with each channel's total (the plan's)
   spread as evenly as its weekly limits allow (blackouts, bookings, caps): the value of timing alone (a
   figure to report, no target). flat_feasible says whether that flat plan also keeps the quarterly caps.

Instances: concave Hill curves (n in [0.4, 1]) with decay in [0.1, 0.8], 26 weeks of spend history
(carry-over in), carry-over out counted, 5 % blackout weeks, caps on 30 % of the weeks, a few booked
commitments, quarterly budget caps and a minimum and a maximum for two channels. With --json the last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, minimize

from core.flighting.compare import flat
from core.flighting.problem import FlightingProblem
from core.flighting.solve import solve
from core.optimize.curves import CurveParams

TARGETS = {"gap_pct": 0.01, "time_s": 5.0}


def instance(seed: int, weeks: int, channels: int, brands: int, totals: bool = True,
             carryover_out: bool = True) -> FlightingProblem:
    """A feasible random plan: money in tens of thousands a week per channel."""
    rng = np.random.default_rng(seed)
    s = channels * brands
    curves = [CurveParams(float(rng.uniform(1, 10) * 1e5), float(rng.uniform(0.1, 0.8)),
                          float(rng.uniform(1, 5) * 1e4), float(rng.uniform(0.4, 1.0))) for _ in range(s)]
    brand = [f"brand{i // channels}" for i in range(s)]
    channel = [f"channel{i % channels}" for i in range(s)]
    budget = 2e4 * s * weeks
    upper = np.where(rng.random((s, weeks)) < 0.3, rng.uniform(2e4, 8e4, (s, weeks)), np.inf)
    blackout = rng.random((s, weeks)) < 0.05
    booked = np.where(~blackout & (rng.random((s, weeks)) < 0.03), rng.uniform(5e3, 1.5e4, (s, weeks)), 0.0)
    booked = np.minimum(booked, np.where(np.isfinite(upper), upper, np.inf))
    kw: dict = {}
    if totals:
        quarter = [f"Q{1 + 4 * t // weeks}" for t in range(weeks)]
        share = {q: quarter.count(q) / weeks for q in set(quarter)}
        kw = {"periods": quarter, "period_budgets": {q: (0.0, 1.1 * budget * f) for q, f in sorted(share.items())},
              "channel_budgets": {"channel0": (0.12 * budget / channels, np.inf),
                                  "channel1": (0.0, 0.8 * budget / channels)}}
    return FlightingProblem(curves, brand, channel, weeks, budget, upper=upper, blackout=blackout,
                            commitments=booked, history=rng.uniform(0, 3e4, (s, 26)), carryover_out=carryover_out,
                            **kw)


def _scipy_parts(problem: FlightingProblem) -> tuple:
    """Free entries, bounds and the totals as a sparse-free dense constraint, for the scipy solvers."""
    lo, hi, groups = problem.validate()
    free = hi > lo
    rows = np.array([g.mask[free] for g in groups], dtype=float)
    base = np.array([lo[g.mask & ~free].sum() for g in groups])
    cons = LinearConstraint(rows, np.array([g.lo for g in groups]) - base, np.array([g.hi for g in groups]) - base)
    return lo, hi, free, cons


def trust_constr(problem: FlightingProblem) -> float:
    """scipy trust-constr on the same problem (exact Hessian), its outcome."""
    model = problem.model()
    lo, hi, free, cons = _scipy_parts(problem)
    scale = problem.budget / free.sum()
    fs = max(model.outcome(lo), 1.0)

    def full(z: np.ndarray) -> np.ndarray:
        x = lo.copy()
        x[free] = z * scale
        return x

    def hess(z: np.ndarray) -> np.ndarray:
        _, blocks = model.hessian(full(z))
        h = np.zeros((lo.size, lo.size))
        t = lo.shape[1]
        for i, b in enumerate(blocks):
            h[i * t:(i + 1) * t, i * t:(i + 1) * t] = b
        return -h[np.ix_(free.ravel(), free.ravel())] * scale**2 / fs

    z0 = np.clip(np.full(int(free.sum()), 1.0), lo[free] / scale, hi[free] / scale)
    res = minimize(lambda z: -model.outcome(full(z)) / fs, z0,
                   jac=lambda z: -model.gradient(full(z))[free] * scale / fs, hess=hess, method="trust-constr",
                   bounds=Bounds(lo[free] / scale, hi[free] / scale),
                   constraints=[LinearConstraint(cons.A, cons.lb / scale, cons.ub / scale)],
                   options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 5000})
    return model.outcome(full(res.x))


def slsqp(problem: FlightingProblem, cap_s: float) -> tuple[float, float, bool]:
    """scipy SLSQP (analytic gradients) from an even spread: (outcome, seconds, capped)."""
    model = problem.model()
    lo, hi, free, cons = _scipy_parts(problem)
    scale = problem.budget / free.sum()
    fs = max(model.outcome(lo), 1.0)
    a = cons.A
    eq = cons.lb == cons.ub
    x_full = lo.copy()

    def full(z: np.ndarray) -> np.ndarray:
        x_full[free] = z * scale
        return x_full

    c = [{"type": "eq", "fun": lambda z: a[eq] @ z - cons.lb[eq] / scale, "jac": lambda z: a[eq]}]
    up, dn = ~eq & np.isfinite(cons.ub), ~eq & (cons.lb > -np.inf)
    c.append({"type": "ineq", "fun": lambda z: np.r_[cons.ub[up] / scale - a[up] @ z, a[dn] @ z - cons.lb[dn] / scale],
              "jac": lambda z: np.vstack([-a[up], a[dn]])})
    started, capped = time.perf_counter(), False

    def stop(_z: np.ndarray) -> None:
        nonlocal capped
        if time.perf_counter() - started > cap_s:
            capped = True
            raise StopIteration

    z0 = np.clip(np.full(int(free.sum()), 1.0), lo[free] / scale, hi[free] / scale)
    res = minimize(lambda z: -model.outcome(full(z)) / fs, z0,
                   jac=lambda z: -model.gradient(full(z))[free] * scale / fs, method="SLSQP",
                   bounds=Bounds(lo[free] / scale, hi[free] / scale), constraints=c, callback=stop,
                   options={"maxiter": 2000, "ftol": 1e-12})
    return model.outcome(full(res.x).copy()), time.perf_counter() - started, capped


def measure(weeks: int = 52, channels: int = 12, brands: int = 20, seeds: int = 3, slsqp_cap: float = 60.0,
            small: tuple[int, int] = (13, 6)) -> dict:
    gaps, statuses = [], []
    for seed in range(seeds):
        p = instance(seed, small[0], small[1], 1)
        ours = solve(p)
        ref = trust_constr(p)
        gaps.append(abs(ours.outcome - ref) / abs(ref) * 100.0)
        statuses.append(ours.status)
    big = instance(100, weeks, channels, brands)
    started = time.perf_counter()
    res = solve(big)
    time_s = time.perf_counter() - started
    sub = instance(100, weeks, channels, 1)
    t0 = time.perf_counter()
    sub_res = solve(sub)
    sub_s = time.perf_counter() - t0
    sl_out, sl_s, capped = slsqp(sub, slsqp_cap)
    flat_plan = flat(big, res.plan)
    flat_out = big.model().outcome(flat_plan)
    groups = big.validate()[2]
    flat_ok = all(g.lo * (1 - 1e-9) <= flat_plan[g.mask].sum() <= g.hi * (1 + 1e-9) for g in groups)
    return {
        "gap_pct": max(gaps), "gap_target_pct": TARGETS["gap_pct"], "small_statuses": statuses,
        "time_s": time_s, "time_target_s": TARGETS["time_s"], "spends": int(res.plan.size),
        "status": res.status, "kkt_violation": res.kkt.max_violation if res.kkt else None,
        "iterations": res.iterations,
        "slsqp_s": sl_s, "slsqp_capped": capped, "slsqp_spends": int(sub_res.plan.size),
        "ours_on_slsqp_instance_s": sub_s,
        "speedup": sl_s / sub_s, "slsqp_gap_pct": (sub_res.outcome - sl_out) / sub_res.outcome * 100.0,
        "uplift_vs_flat_pct": (res.outcome - flat_out) / flat_out * 100.0, "flat_feasible": flat_ok,
        "meets_targets": max(gaps) <= TARGETS["gap_pct"] and time_s <= TARGETS["time_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--brands", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3, help="small instances held against trust-constr")
    ap.add_argument("--slsqp-cap", type=float, default=60.0, help="seconds before SLSQP is stopped")
    args = ap.parse_args()
    out = measure(args.weeks, args.channels, args.brands, args.seeds, args.slsqp_cap)
    print(f"gap to trust-constr at 13 × 6 (max of {args.seeds}): {out['gap_pct']:.2e} % "
          f"(target ≤ {out['gap_target_pct']} %)")
    print(f"{args.weeks} weeks × {args.channels} channels × {args.brands} brands ({out['spends']} spends): "
          f"{out['time_s']:.2f} s (target ≤ {out['time_target_s']} s), {out['status']}, KKT {out['kkt_violation']:.1e}")
    print(f"one brand ({out['slsqp_spends']} spends): ours {out['ours_on_slsqp_instance_s']:.3f} s, SLSQP "
          f"{out['slsqp_s']:.2f} s{' (capped)' if out['slsqp_capped'] else ''}: speedup {out['speedup']:.0f}×, "
          f"SLSQP's outcome {out['slsqp_gap_pct']:.2e} % below ours")
    print(f"flighted vs flat (same channel totals, even weeks within the weekly limits): "
          f"{out['uplift_vs_flat_pct']:+.3f} %{'' if out['flat_feasible'] else ' (the flat plan breaks a total)'}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
