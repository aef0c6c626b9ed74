"""Multi-start MAP fits and the per-channel choice of saturation family by out-of-sample error."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.optimize.fit_model import PRIORS, Model
from core.optimize.progress import Monitor

# The logistic replaces Hill (the default) only when its holdout squared errors are lower by more than
# their own noise: a one-sided paired test (Diebold–Mariano) at 5 %.
T_SWITCH = 1.645


def multistart(model: Model, y: np.ndarray, mask: np.ndarray, extra: list[np.ndarray], n_starts: int,
               rng: np.random.Generator, mon: Monitor, stage: str, lo: float, hi: float) -> Any:
    """The lowest-cost fit from the given starts plus `n_starts` seeded ones, reporting progress in [lo, hi]."""
    best = None
    starts = extra + model.starts(y, mask, n_starts, rng)
    for i, u0 in enumerate(starts):
        mon.report(lo + (hi - lo) * i / len(starts), f"{stage}: start {i + 1} of {len(starts)}")
        res = model.fit(y, mask, u0)
        if best is None or res.cost < best.cost:
            best = res
    return best


def _holdout_errors(model: Model, u: np.ndarray, y: np.ndarray, held: np.ndarray) -> np.ndarray:
    return (y - model.predict(u))[held]


def _improvement_t(base: np.ndarray, new: np.ndarray) -> float:
    """t statistic of the mean drop in squared error from `base` to `new` over the held-out periods."""
    d = base**2 - new**2
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    return float(d.mean() / (sd / np.sqrt(len(d)))) if sd > 0 else 0.0


def _rmse(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e**2)))


def choose_families(model: Model, y: np.ndarray, train: np.ndarray, n_starts: int, rng: np.random.Generator,
                    mon: Monitor) -> tuple[np.ndarray, dict[int, dict[str, float]]]:
    """Pick Hill or logistic per channel by the error on the held-out periods (`~train`).

    A greedy pass: fit every channel as Hill on the training periods (multi-start), then, channel by
    channel, refit with that channel logistic (warm-started) and keep the switch when the holdout error
    drops. Sets `model.families`; returns the training fit of the chosen families and, per channel
    index, the holdout RMSE (scaled units) of each family at the moment it was decided.
    """
    held = ~train
    model.families = ["hill"] * model.c
    base = multistart(model, y, train, [], n_starts, rng, mon, "holdout fit", 0.0, 0.3)
    best_u, best_err = base.x, _holdout_errors(model, base.x, y, held)
    errors: dict[int, dict[str, float]] = {}
    ln_n = model.priors.get("logistic_shape", PRIORS["logistic_shape"])[0]
    for j in range(model.c):
        mon.report(0.3 + 0.2 * j / model.c, f"family choice: channel {j + 1} of {model.c}")
        model.families = [*model.families[:j], "logistic", *model.families[j + 1 :]]
        u0 = best_u.copy()
        u0[2 * model.c + j] = ln_n
        res = model.fit(y, train, u0)
        err = _holdout_errors(model, res.x, y, held)
        t_stat = _improvement_t(best_err, err)
        errors[j] = {"hill": _rmse(best_err), "logistic": _rmse(err), "t": t_stat}
        if t_stat > T_SWITCH:
            best_u, best_err = res.x, err
        else:
            model.families = [*model.families[:j], "hill", *model.families[j + 1 :]]
    return best_u, errors
