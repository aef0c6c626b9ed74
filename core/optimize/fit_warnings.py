"""Plain-language warnings about a fit, for the marketer reviewing it (FitResult.warnings)."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.optimize.fit_model import BOUNDS, Model

LOW_VARIATION = 0.1  # coefficient of variation of weekly spend below which a curve cannot be told apart
MIN_ACTIVE = 8  # periods with spend needed to see a response at all
_EDGE = 0.02  # how close (in the free parametrization) counts as "at the bound"


def _warn(code: str, channel: str | None, text: str) -> dict[str, Any]:
    return {"code": code, "channel": channel, "text": text}


def bound_warnings(model: Model, u: np.ndarray, channels: list[str]) -> list[dict[str, Any]]:
    """Channel parameters stuck at the edge of what the model allows (index j of `channels` = model column j)."""
    c = model.c
    out = []
    for j, ch in enumerate(channels):
        a, kappa, nu = u[j], u[c + j], u[2 * c + j]
        if a - BOUNDS["decay"][0] < _EDGE or BOUNDS["decay"][1] - a < _EDGE:
            which = "no carry-over at all" if a < 0 else "the longest carry-over the model allows"
            out.append(_warn("parameter_at_bound", ch, f"{ch}: the fit gives {which}; the data could not "
                             "pin down how long its effect lasts."))
        if kappa - BOUNDS["half_saturation"][0] < _EDGE or BOUNDS["half_saturation"][1] - kappa < _EDGE:
            where = "far below" if kappa < 0 else "far above"
            out.append(_warn("parameter_at_bound", ch, f"{ch}: its saturation point sits {where} the spend "
                             "levels it saw, at the edge the model allows; the curve's shape is a guess."))
        lo, hi = model.shape_bounds(j)
        if nu - lo < _EDGE or hi - nu < _EDGE:
            kind = "flattest" if nu < 0 else "steepest"
            out.append(_warn("family_at_bound", ch, f"{ch}: the chosen {model.families[j]} curve takes its "
                             f"{kind} possible shape; neither curve family describes this channel well."))
    return out


def data_warnings(spend: np.ndarray, channels: list[str], roas: dict[str, float],
                  roas_interval: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """Channels whose spend cannot identify a curve, and ROAS intervals wider than the estimate."""
    out = []
    for j, ch in enumerate(channels):
        x = spend[:, j]
        active = int(np.sum(x > 0))
        cv = float(x.std() / x.mean()) if x.mean() > 0 else 0.0
        if active < MIN_ACTIVE or cv < LOW_VARIATION:
            out.append(_warn("low_spend_variation", ch, f"{ch}: spend barely changed over the history "
                             f"(varied by {cv:.0%} around its average, spent in {active} periods), so its "
                             "response curve rests mostly on assumptions; vary its spend to learn more."))
        lo, hi = roas_interval.get(ch, (np.nan, np.nan))
        if np.isfinite(roas.get(ch, np.nan)) and hi - lo > roas[ch]:
            out.append(_warn("wide_interval", ch, f"{ch}: the return on spend is uncertain: somewhere between "
                             f"{lo:.3g} and {hi:.3g} (90 %), a wider range than the estimate {roas[ch]:.3g} itself."))
    return out


def experiment_warnings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Experiments the data disagree with: the fit without the experiment predicts a lift more than two
    combined standard errors away from the measured one."""
    out = []
    for r in rows:
        gap = abs(r["without"] - r["lift"])
        if gap > 2.0 * float(np.hypot(r["se"], r["without_sd"])):
            out.append(_warn("experiment_disagrees", r["channel"],
                             f"{r['channel']}: the lift test over periods {r['start']}–{r['end']} measured "
                             f"{r['lift']:.4g} (± {r['se']:.3g}) but the sales data alone put it at {r['without']:.4g} "
                             f"(± {r['without_sd']:.3g}); "
                             "check the test's set-up or what else changed in those periods."))
    return out
