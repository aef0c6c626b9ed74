"""Simulation-based calibration of the curve fitter: today's fitter beside the pre-issue-15 one, same run.

    python -m benchmarks.fitting [--brands 100] [--seed 0] [--workers 2] [--bootstrap 25]
                                 [--invariance-brands 10] [--details FILE] [--json]

## The fitting benchmark

A fitter is only as good as its figures on data whose truth is known, and one data set proves
nothing: the benchmark draws `--brands` synthetic brands from a family deliberately wider than the
model (benchmarks/fitting_family.py: truncated 4–12-lag adstock with decay 0.05–0.8, Hill and
logistic curves, 2–8 channels, 104–260 weeks, spend correlated across channels, with the season and
with a confounder, flighting, spend scales orders of magnitude apart, trend, yearly seasonality,
events, pre-history, noise 5–20 % of revenue, media 10–50 % of revenue). Each brand is fitted by
`core.optimize.fit.fit_response_curves` ("new") and by the frozen copy of the fitter as it was before
issue 15, benchmarks/fit_baseline.py ("today"), both given the controls (the confounder and the event
weeks) with their names. Figures, over every channel of every brand:

- coverage_90: share of true channel ROAS inside the fitted 90 % `roas_interval` (a channel without
  an interval counts as a miss); target 0.85–0.95: narrower means overconfident, wider means vague;
- roas_mape_pct: median over channels of |fitted ROAS − true| / true × 100; target ≤ 10;
- share_mae_pts: mean absolute error of each channel's share of the media contribution, in points;
- unit_invariance_max_rel: on the first `--invariance-brands` brands, refit with spend × 1000 and,
  separately, revenue × 0.001; the largest |ROAS'·k/m − ROAS| / ROAS over channels (k, m the spend
  and revenue factors); a fitter that does not depend on the currency unit gives ~0;
- fit_s_median, fit_cpu_s_median: median wall and CPU seconds per main fit (wall time grows with the
  machine's load, CPU time much less);
- n_brands, n_channels, n_failed (fits that raised; their channels are left out of the figures);
- oracle_roas_mape_pct (one figure for the run, beside the fitters): roas_mape_pct of channel ROAS
  estimated by least squares when the true adstock (truncated weights, pre-history) and the true
  saturation of every channel are known and only the linear coefficients (baseline, trend, Fourier
  terms, controls, one β per channel) are estimated (benchmarks/fit_oracle.py): what the family's
  noise and collinearity alone cost, the floor against which roas_mape_pct is to be read.

Options: `--bootstrap N` is passed to both fitters as `n_bootstrap` (default 25); everything else is
each fitter's own default. The unit-invariance refits compare point ROAS only and run with 2 draws.
The bootstrap count caps what a bootstrap interval can cover: the 5 %–95 % sample quantiles of B
exact draws cover (B − 1)·0.9/(B + 1) on average (0.83 for 25, 0.88 for 100), printed as
`coverage_90_ceiling`; judge a bootstrap fitter's coverage_90 against it, or rerun with
`--bootstrap 100` (about three times as long). Cost: today's fitter takes ~1–35 CPU seconds a brand
(median ~7 at 25 draws; the bootstrap is about half of it, growing with channels and weeks), so the
default run (100 brands, both fitters, 10 invariance brands, 2 workers) takes about 15 minutes on two
free cores if the new fitter costs what today's does. The brands are fitted in a process pool, big
brands first; each worker regenerates its brand from its seed. Text output is an aligned table
"figure | today | new | target"; with --json the last line is one JSON object with the new fitter's
figures under their names, today's under `today_<name>`, `oracle_roas_mape_pct`, `coverage_90_ceiling`
and the targets.
`--details FILE` writes every fit beside its brand's truth (JSON lines) to see where a fitter goes
wrong; `--only-new` skips today's fitter (development runs on a loaded machine; the frozen fitter's
figures for a family seed are those of any earlier full run); `--max-channels` keeps only small
brands, for smoke runs (the tests), never for figures.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from benchmarks import fit_baseline
from benchmarks.fit_oracle import oracle_roas_mape_pct
from benchmarks.fitting_family import family_seeds, synthetic_brand
from core.optimize import fit as fit_new

FITTERS: dict[str, Callable[..., Any]] = {
    "today": fit_baseline.fit_response_curves,
    "new": fit_new.fit_response_curves,
}
REFIT_BOOTSTRAP = 2  # draws asked for in the unit-invariance refits (they compare point ROAS only)
# The main fit and the unit-invariance refits: (spend factor k, revenue factor m).
VARIANTS = {"base": (1.0, 1.0), "spend_x1000": (1000.0, 1.0), "revenue_x0.001": (1.0, 0.001)}
TARGETS = {"coverage_90": "0.85–0.95", "roas_mape_pct": "≤ 10", "share_mae_pts": "", "unit_invariance_max_rel": "~0",
           "fit_s_median": "", "fit_cpu_s_median": "", "n_brands": "", "n_channels": "", "n_failed": "0"}
FIGURES = tuple(TARGETS)


def fit_one(fitter: str, seed: int, variant: str, bootstrap: int) -> dict[str, Any]:
    """Fit one brand (regenerated from its seed) with one fitter; plain data back, or the error.

    The unit-invariance refits compare point ROAS only, so they run with REFIT_BOOTSTRAP draws.
    """
    brand = synthetic_brand(seed)
    k, m = VARIANTS[variant]
    fn = FITTERS[fitter]
    draws = bootstrap if variant == "base" else min(bootstrap, REFIT_BOOTSTRAP)
    options = {"n_bootstrap": draws} if "n_bootstrap" in inspect.signature(fn).parameters else {}
    started, cpu = time.perf_counter(), time.process_time()
    try:
        res = fn(brand.revenue * m, brand.spend * k, brand.channels, brand.controls, brand.control_names, **options)
    except Exception as exc:  # a failing fit is a figure (n_failed), not the end of the run
        return {"fitter": fitter, "seed": seed, "variant": variant, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "fitter": fitter, "seed": seed, "variant": variant, "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "roas": {ch: float(res.roas[ch]) for ch in brand.channels},
        "interval": {ch: [float(v) for v in res.roas_interval[ch]] for ch in brand.channels
                     if ch in res.roas_interval},
        "contribution": {ch: float(res.contribution[ch]) for ch in brand.channels},
    }


def _channel_errors(fits: list[dict], truth: dict[int, Any]) -> tuple[list[bool], list[float], list[float]]:
    """(covered, |ROAS error| / true, |share error| in points) over every channel of every fitted brand."""
    covered, ape, share_err = [], [], []
    for f in fits:
        brand = truth[f["seed"]]
        total = sum(f["contribution"].values())
        for ch in brand.channels:
            true = brand.roas[ch]
            lo, hi = f["interval"].get(ch, (np.nan, np.nan))
            covered.append(bool(lo <= true <= hi))
            ape.append(abs(f["roas"][ch] - true) / true)
            share = f["contribution"][ch] / total if total else np.nan
            share_err.append(abs(share - brand.share[ch]) * 100.0)
    return covered, ape, share_err


def _invariance(results: list[dict]) -> float:
    """max |ROAS'·k/m − ROAS| / ROAS over the refit brands, channels and both unit changes."""
    base = {r["seed"]: r for r in results if r["variant"] == "base" and "error" not in r}
    worst = 0.0
    for r in results:
        if r["variant"] == "base" or "error" in r or r["seed"] not in base:
            continue
        k, m = VARIANTS[r["variant"]]
        for ch, roas in base[r["seed"]]["roas"].items():
            rel = abs(r["roas"][ch] * k / m - roas) / abs(roas)
            worst = max(worst, rel if np.isfinite(rel) else np.inf)  # a NaN ROAS must not hide
    return worst


def figures(results: list[dict], truth: dict[int, Any]) -> dict[str, float | int]:
    """The benchmark's figures for one fitter from its results (all variants)."""
    main = [r for r in results if r["variant"] == "base"]
    ok = [r for r in main if "error" not in r]
    covered, ape, share_err = _channel_errors(ok, truth)
    return {
        "coverage_90": float(np.mean(covered)) if covered else float("nan"),
        "roas_mape_pct": float(np.median(ape) * 100.0) if ape else float("nan"),
        "share_mae_pts": float(np.nanmean(share_err)) if share_err else float("nan"),
        "unit_invariance_max_rel": _invariance(results),
        "fit_s_median": statistics.median(r["seconds"] for r in ok) if ok else float("nan"),
        "fit_cpu_s_median": statistics.median(r["cpu_seconds"] for r in ok) if ok else float("nan"),
        "n_brands": len(ok), "n_channels": len(covered),
        "n_failed": sum("error" in r for r in results),
    }


def run(seeds: list[int], invariance: int, bootstrap: int, workers: int,
        fitters: tuple[str, ...] = tuple(FITTERS)) -> list[dict]:
    """Every fit (both fitters; the first `invariance` brands also in the other units), in a process pool."""
    tasks = [(f, s, v, bootstrap) for f in fitters for i, s in enumerate(seeds)
             for v in VARIANTS if v == "base" or i < invariance]
    tasks.sort(key=lambda t: -len(synthetic_brand(t[1]).channels))  # big brands first: the pool ends together
    if workers <= 1:
        return [fit_one(*t) for t in tasks]
    # Spawned, not forked: a fork copies locks held by other threads of the parent (a BLAS pool, a web
    # server in the same test process) and the child can wait on them for ever.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fit_one, *zip(*tasks, strict=True)))


def write_details(path: str, results: list[dict], truth: dict[int, Any]) -> None:
    """One JSON line per fit with the brand's truth beside it, to see where a fitter goes wrong."""
    with open(path, "w", encoding="utf-8") as out:
        for r in results:
            b = truth[r["seed"]]
            true = {"weeks": len(b.revenue), "roas": b.roas, "share": b.share, "lags": b.lags,
                    "params": {ch: p.to_dict() for ch, p in b.params.items()},
                    "media_share": b.media_share, "noise_sd_rel": b.noise_sd / float(np.mean(b.revenue - b.noise))}
            out.write(json.dumps({**r, "truth": true}) + "\n")


def brand_seeds(n: int, seed: int, max_channels: int | None = None) -> list[int]:
    """The family's first n brand seeds, or (smoke runs) its first n brands with ≤ max_channels channels."""
    if max_channels is None:
        return family_seeds(n, seed)
    small = [s for s in family_seeds(50 * n, seed) if len(synthetic_brand(s).channels) <= max_channels]
    if len(small) < n:
        raise ValueError(f"only {len(small)} of the family's first {50 * n} brands have ≤ {max_channels} channels")
    return small[:n]


def coverage_ceiling(draws: int) -> float:
    """Expected coverage of the 5 %–95 % sample quantiles (numpy's linear rule) of `draws` exact draws.

    The k-th of B order statistics sits at quantile k/(B + 1) on average, and numpy places the p
    quantile at (fractional) order 1 + (B − 1)·p, so the interval covers about (B − 1)·0.9 / (B + 1):
    0.81 for 20 draws, 0.83 for 25, 0.88 for 100 (interpolating between order statistics makes it
    approximate: within ~0.005 from 20 draws on; for 5 draws a normal gives 0.62, not 0.60).
    """
    return (draws - 1) * 0.9 / (draws + 1) if draws > 1 else 0.0


def _fmt(value: float | int) -> str:
    """Integers as they are, small figures (unit invariance) in scientific notation, others to 3 decimals."""
    if isinstance(value, int):
        return f"{value:d}"
    return f"{value:.2e}" if 0 < abs(value) < 0.01 else f"{value:.3f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", type=int, default=100, help="synthetic brands drawn from the family")
    parser.add_argument("--seed", type=int, default=0, help="the family's seed")
    parser.add_argument("--workers", type=int, default=2, help="processes fitting in parallel")
    parser.add_argument("--bootstrap", type=int, default=25, help="n_bootstrap passed to both fitters")
    parser.add_argument("--invariance-brands", type=int, default=10, help="brands refitted in other units")
    parser.add_argument("--max-channels", type=int, default=None,
                        help="smoke runs only: keep the family's brands with at most this many channels")
    parser.add_argument("--details", default=None, help="write every fit beside its truth to this JSON-lines file")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--only-new", action="store_true",
                        help="development runs: skip today's fitter (frozen and seeded, its figures for a family "
                             "seed do not change); its column shows '-'")
    args = parser.parse_args(argv)

    seeds = brand_seeds(args.brands, args.seed, args.max_channels)
    truth = {s: synthetic_brand(s) for s in seeds}
    started = time.perf_counter()
    fitters = ("new",) if args.only_new else tuple(FITTERS)
    results = run(seeds, args.invariance_brands, args.bootstrap, args.workers, fitters)
    by = {f: figures([r for r in results if r["fitter"] == f], truth) for f in fitters}
    today = by.get("today", {})
    errors = sorted({r["error"] for r in results if "error" in r})
    if args.details:
        write_details(args.details, results, truth)

    print(f"{args.brands} brands (family seed {args.seed}), bootstrap {args.bootstrap}, "
          f"{args.workers} workers, {time.perf_counter() - started:.0f} s")
    print(f"{'figure':26} | {'today':>10} | {'new':>10} | target")
    for name in FIGURES:
        print(f"{name:26} | {_fmt(today[name]) if today else '-':>10} | {_fmt(by['new'][name]):>10} | {TARGETS[name]}")
    oracle = oracle_roas_mape_pct(list(truth.values()))
    print(f"oracle_roas_mape_pct {oracle:.3f}: least squares with the true adstock and saturation known "
          "(only the linear coefficients estimated), the floor the noise sets for roas_mape_pct")
    print(f"coverage_90_ceiling {coverage_ceiling(args.bootstrap):.3f}: what the 5 %–95 % quantiles of "
          f"{args.bootstrap} exact draws cover (bounds a bootstrap interval such as today's)")
    for e in errors[:5]:
        print(f"fit failed: {e}")
    result = {"benchmark": "fitting", "brands": args.brands, "seed": args.seed, "bootstrap": args.bootstrap,
              **by["new"], **{f"today_{k}": v for k, v in today.items()},
              "oracle_roas_mape_pct": oracle, "coverage_90_ceiling": coverage_ceiling(args.bootstrap),
              "targets": TARGETS, "errors": errors[:5],
              "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
