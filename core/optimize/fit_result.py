"""What a fit returns: `FitResult` (plain data another layer can store) and the `Experiment` record.

Kept apart from the fitting code so the storage and review layers can read results without the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.optimize.curves import CurveArrays, CurveParams


@dataclass(frozen=True)
class Experiment:
    """A lift test as the fitter sees it: channel `channel`'s spend added `lift` (outcome units, same
    as revenue) over periods `start`..`end` inclusive (indices into the fitted series), measured with
    standard error `se` > 0. The fit treats it as a Gaussian likelihood term on the channel's modelled
    contribution over those periods."""

    channel: str
    start: int
    end: int
    lift: float
    se: float


@dataclass
class FitResult:
    """Fitted curves with diagnostics; plain data so another layer can store it."""

    channels: list[str]
    params: dict[str, CurveParams]  # original units: beta in revenue per period, K in spend per period
    # baseline terms in revenue per period: "intercept" (at the middle of the history), "trend" (change from the
    # first to the last period), Fourier terms "sin1", "cos1", …; "control:<name>" in revenue per unit of the control
    coefficients: dict[str, float]
    r2: float
    nrmse: float
    holdout_r2: float | None
    holdout_mape: float | None
    contribution: dict[str, float]  # revenue attributed to each channel over the history
    roas: dict[str, float]  # contribution / spend over the history
    fitted: np.ndarray
    # channel -> (draws, 4) beta, decay, K, n: draws from the approximate posterior (see docs/MODELING.md)
    param_draws: dict[str, np.ndarray] = field(default_factory=dict)
    fitted_interval: np.ndarray | None = None  # (periods, 2): 5 % and 95 % of the fitted series over the draws
    contribution_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    roas_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_starts: int = 0
    cost: float = 0.0
    controls: list[str] = field(default_factory=list)  # the controls the model used
    notes: list[str] = field(default_factory=list)  # e.g. controls left out, and why
    noise_sd: float | None = None  # the noise sd that weighs the priors (revenue units), None without priors
    # What the fitted series is made of, period by period (revenue units): "baseline" (intercept),
    # "trend", "seasonality", "channel:<name>" and "control:<name>"; they sum to `fitted`.
    decomposition: dict[str, np.ndarray] = field(default_factory=dict)
    holdout_start: int | None = None  # first period held out for the diagnostics; None without a holdout
    families: dict[str, str] = field(default_factory=dict)  # channel -> saturation family ("hill", "logistic")
    # Plain-language warnings for the model review: {"code", "channel" (or None), "text"}
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # channel -> {"hill": holdout RMSE, "logistic": holdout RMSE (revenue units), "t": the paired test of the
    # logistic's improvement}: what chose `families`
    family_choice: dict[str, dict[str, float]] = field(default_factory=dict)
    # one row per experiment: channel, periods, measured lift and se, modelled lift and its sd
    experiments: list[dict[str, Any]] = field(default_factory=list)
    variance_inflation: float = 1.0  # factor on the data term's variance for autocorrelated residuals

    def param_interval(self, channel: str, level: float = 0.9) -> dict[str, tuple[float, float]]:
        q = [(1 - level) / 2, (1 + level) / 2]
        d = self.param_draws[channel]
        return {k: tuple(np.quantile(d[:, j], q).tolist()) for j, k in enumerate(_ORDER)}

    def curve_draws(self) -> CurveArrays | None:
        """Posterior draws as (draws, channels) curve arrays for the allocator and the risk front."""
        if not self.param_draws:
            return None
        d = np.stack([self.param_draws[c] for c in self.channels], axis=1)  # (draws, channels, 4)
        logistic = np.array([self.params[c].family == "logistic" for c in self.channels])
        return CurveArrays(d[..., 0], d[..., 2], d[..., 3], logistic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "params": {c: p.to_dict() for c, p in self.params.items()},
            "param_intervals": {c: self.param_interval(c) for c in self.param_draws},
            "coefficients": self.coefficients,
            "r2": self.r2,
            "nrmse": self.nrmse,
            "holdout_r2": self.holdout_r2,
            "holdout_mape": self.holdout_mape,
            "contribution": self.contribution,
            "contribution_interval": self.contribution_interval,
            "roas": self.roas,
            "roas_interval": self.roas_interval,
            "n_starts": self.n_starts,
            "controls": self.controls,
            "notes": self.notes,
            "noise_sd": self.noise_sd,
            "holdout_start": self.holdout_start,
            "families": self.families,
            "warnings": self.warnings,
            "family_choice": self.family_choice,
            "experiments": self.experiments,
            "variance_inflation": self.variance_inflation,
            "n_bootstrap": len(next(iter(self.param_draws.values()))) if self.param_draws else 0,
        }


_ORDER = ("beta", "decay", "half_saturation", "shape")
