"""What a kept fit version holds: the data the fit saw, its digest, and the figures the review page draws.

Pure functions of a brand's aligned history and its FitResult (no database), so the same record can
be built, hashed and checked anywhere. `inputs` is canonical (ISO periods, plain floats, names
sorted as the fitter saw them) so that `data_digest` changes exactly when the fitted data changes.
The result is kept compact: the bootstrap draws stay in ResponseCurve.diagnostics; here only what
the page draws is derived from them (a 5–95 % band per response curve).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from core.jobs.kinds import jsonable
from core.optimize.curves import CurveParams, saturation
from core.optimize.fit import FitResult

CURVE_POINTS = 41  # points on each drawn response curve
CURVE_REACH = 1.25  # the drawn curve runs to this multiple of the largest spend the fit saw
RECENT_PERIODS = {"week": 13, "month": 3}  # "today's spend": the average of the last quarter
BAND = (0.05, 0.95)
SIGNIFICANT = 6


def fit_inputs(history: Any) -> dict[str, Any]:
    """The series the fitter was given, as plain JSON: what a fit version says it saw."""
    return {
        "granularity": history.granularity,
        "periods": [p.isoformat() for p in history.periods],
        "revenue": [float(v) for v in history.revenue],
        "channels": list(history.channels),
        "spend": {ch: [float(v) for v in history.spend[:, j]] for j, ch in enumerate(history.channels)},
        "controls": {name: [float(v) for v in history.controls[:, j]]
                     for j, name in enumerate(history.control_names)},
        "notes": list(history.notes),
        "experiments": [{"channel": e.channel, "start": e.start, "end": e.end, "lift": e.lift, "se": e.se}
                        for e in getattr(history, "experiments", [])],
    }


def data_digest(inputs: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `inputs` (sorted keys, no spaces): equal data, equal digest."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def residual_diagnostics(actual: np.ndarray, fitted: np.ndarray) -> dict[str, float | None]:
    """Lag-1 autocorrelation and the Durbin–Watson statistic of actual − fitted.

    Independent residuals give about 0 and 2; positive autocorrelation (a pattern the model misses,
    e.g. an unmodelled event or carry-over) pushes the first up and the second towards 0.
    """
    r = np.asarray(actual, dtype=float) - np.asarray(fitted, dtype=float)
    ss = float(np.sum(r ** 2))
    if len(r) < 3 or ss == 0.0:
        return {"residual_lag1": None, "durbin_watson": None}
    centred = r - r.mean()
    lag1 = float(np.sum(centred[1:] * centred[:-1]) / np.sum(centred ** 2)) if np.any(centred) else None
    return {"residual_lag1": lag1, "durbin_watson": float(np.sum(np.diff(r) ** 2) / ss)}


def curve_points(params: CurveParams, draws: np.ndarray | None, spend: np.ndarray,
                 recent: int) -> dict[str, Any]:
    """A steady-state response curve for the chart: spend per period → response per period, with the
    5–95 % band over the bootstrap draws (beta, decay, K, n) and the channel's recent average spend."""
    spend = np.asarray(spend, dtype=float)
    top = float(spend.max()) * CURVE_REACH or 1.0
    grid = np.linspace(0.0, top, CURVE_POINTS)
    current = float(spend[-recent:].mean())
    out: dict[str, Any] = {
        "spend": grid.tolist(), "response": params.response(grid).tolist(), "lower": None, "upper": None,
        "current_spend": current, "current_response": float(params.response(np.array([current]))[0]),
        "max_spend": float(spend.max()), "family": params.family,
    }
    if draws is not None and len(draws):
        responses = np.array([d[0] * saturation(params.family, grid, d[2], d[3]) for d in np.asarray(draws)])
        lower, upper = np.quantile(responses, BAND, axis=0)
        out["lower"], out["upper"] = lower.tolist(), upper.tolist()
    return out


def _rounded(value: Any) -> Any:
    """Floats to SIGNIFICANT digits, throughout: a chart needs no more, and the row is a third the size."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}")
    return value


def fit_result(fit: FitResult, history: Any) -> dict[str, Any]:
    """FitResult.to_dict() plus what the review page draws, as plain JSON (NaN as null, 6 significant digits)."""
    recent = RECENT_PERIODS[history.granularity]
    curves = {ch: curve_points(fit.params[ch], fit.param_draws.get(ch), history.spend[:, j], recent)
              for j, ch in enumerate(history.channels)}
    diagnostics = {"r2": fit.r2, "holdout_r2": fit.holdout_r2, "holdout_mape": fit.holdout_mape, "nrmse": fit.nrmse,
                   "n_periods": len(history.periods), **residual_diagnostics(history.revenue, fit.fitted)}
    spend_total = {ch: float(history.spend[:, j].sum()) for j, ch in enumerate(history.channels)}
    return _rounded(jsonable({
        **fit.to_dict(),
        "actual": history.revenue,
        "fitted": fit.fitted,
        "fitted_interval": fit.fitted_interval,
        "decomposition": fit.decomposition,
        "curves": curves,
        "diagnostics": diagnostics,
        "spend_total": spend_total,
        "granularity": history.granularity,
        "data_notes": list(history.notes),
    }))


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The few figures a job result or a list shows: fit quality and ROAS per channel."""
    return {"r2": result.get("r2"), "holdout_mape": result.get("holdout_mape"), "nrmse": result.get("nrmse"),
            "roas": result.get("roas") or {}, "warnings": len(result.get("warnings") or [])}


def compare(current: dict[str, Any], previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per channel: ROAS now and in the previous version, and whether it moved outside the previous 90 % interval.

    A channel new in this version (or left out of it) has the missing side as None and is never flagged.
    """
    if previous is None:
        return []
    now, before = current.get("roas") or {}, previous.get("roas") or {}
    intervals = previous.get("roas_interval") or {}
    rows = []
    for ch in sorted(set(now) | set(before)):
        a, b, iv = now.get(ch), before.get(ch), intervals.get(ch)
        outside = bool(a is not None and iv and not (iv[0] <= a <= iv[1]))
        rows.append({"channel": ch, "roas": a, "previous_roas": b, "previous_interval": iv,
                     "change": None if a is None or b is None else a - b, "outside": outside})
    return rows
