"""FROZEN: the pre-issue-15 fitter (core/optimize/fit.py at commit 223ce45), kept only as a baseline.

benchmarks.fitting fits every synthetic brand with this copy and with today's
core.optimize.fit.fit_response_curves in the same run, so the benchmark can print the figures of the
fitter as it was before issue 15 beside the new ones. Do not change it, and nothing in core/,
dashboard/ or api/ may import it (the layer test forbids those packages to import benchmarks).

The original module docstring follows.

Fitting response curves per brand from spend and revenue history.

    revenue_t = b0 + b1·t + Σ_k seasonal Fourier terms + Σ_j γ_j·control_jt + Σ_c β_c·hill(adstock(x_c)_t; K_c, n_c)

One joint bounded least-squares problem (scipy `least_squares`, trust-region reflective) from several
seeded starts, on scaled data (revenue over its mean, each spend over its mean non-zero spend) so the
bounds mean the same for every brand. Diagnostics come from a time holdout (the last periods), and
uncertainty from a moving-block residual bootstrap refitted from the point estimate; its draws feed
the allocator's outcome intervals and the risk front (`curve_draws`).

Priors. Six channels × four curve parameters are more than a few years of weekly data pin down on
their own: least squares then trades one channel for another, or for the intercept (a Hill step at a
tiny K turns a channel into a "spend > 0" dummy), and finds curves that fit the noise better than the
truth does. So the fit is a MAP estimate under weak, independent log-normal priors (`PRIORS`), each
adding σ·(ln value − mean)/sd to the residuals (σ: the noise sd, estimated from one fit without
priors), which makes the cost ½σ²× the negative log posterior of Gaussian noise:
- half-saturation K / mean non-zero spend ~ LogNormal(0, 1): the bend lies near the spend levels the
  data saw (cf. Meridian's default ec prior, TruncatedNormal(0.8, 0.8) in units of median media);
- Hill shape n ~ LogNormal(0, 0.5): from concave to S-shaped (n = 1 ± a factor 1.65 at one sd);
- ROI (contribution / spend over the history) ~ LogNormal(0.2, 0.9): Meridian's default ROI prior;
  this ties each channel's level to its spend and keeps it from trading with the intercept.
With informative data (a channel whose contribution varies well above the noise) the likelihood
dominates and the priors change little; `priors=None` fits by plain least squares.

Controls constant over the training periods (all but the holdout) are left out with a note: the
holdout fit could not tell them from the intercept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from core.optimize.curves import CurveArrays, CurveParams, geometric_adstock, hill
from core.optimize.progress import Monitor, ProgressFn

# Bounds on scaled data: decay θ, half-saturation K (× mean spend), Hill n, β (× mean revenue).
BOUNDS = {"decay": (0.0, 0.9), "half_saturation": (0.05, 10.0), "shape": (0.5, 4.0), "beta": (0.0, 5.0)}
PERIODS_PER_YEAR = {"W": 52.18, "M": 12.0}
# Weak log-normal priors (mean, sd of the natural log), see the module docstring. K is relative to the
# channel's mean non-zero spend; ROI is contribution / spend over the history, in revenue per unit spend.
PRIORS: dict[str, tuple[float, float]] = {
    "half_saturation": (0.0, 1.0),
    "shape": (0.0, 0.5),
    "roi": (0.2, 0.9),
}


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
    coefficients: dict[str, float]  # baseline terms on the original revenue scale
    r2: float
    nrmse: float
    holdout_r2: float | None
    holdout_mape: float | None
    contribution: dict[str, float]  # revenue attributed to each channel over the history
    roas: dict[str, float]  # contribution / spend over the history
    fitted: np.ndarray
    param_draws: dict[str, np.ndarray] = field(default_factory=dict)  # channel -> (draws, 4) beta, decay, K, n
    fitted_interval: np.ndarray | None = None  # (periods, 2): 5 % and 95 % of the bootstrap fits
    contribution_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    roas_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_starts: int = 0
    cost: float = 0.0
    controls: list[str] = field(default_factory=list)  # the controls the model used
    notes: list[str] = field(default_factory=list)  # e.g. controls left out, and why
    noise_sd: float | None = None  # the noise sd that weighs the priors (revenue units), None without priors

    def param_interval(self, channel: str, level: float = 0.9) -> dict[str, tuple[float, float]]:
        q = [(1 - level) / 2, (1 + level) / 2]
        d = self.param_draws[channel]
        return {k: tuple(np.quantile(d[:, j], q).tolist()) for j, k in enumerate(_ORDER)}

    def curve_draws(self) -> CurveArrays | None:
        """Bootstrap draws as (draws, channels) curve arrays for the allocator and the risk front."""
        if not self.param_draws:
            return None
        d = np.stack([self.param_draws[c] for c in self.channels], axis=1)  # (draws, channels, 4)
        return CurveArrays(d[..., 0], d[..., 2], d[..., 3])

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
            "n_bootstrap": len(next(iter(self.param_draws.values()))) if self.param_draws else 0,
        }


_ORDER = ("beta", "decay", "half_saturation", "shape")


class _Model:
    """Scaled design and the residual function shared by every start and bootstrap refit."""

    def __init__(self, spend: np.ndarray, controls: np.ndarray, period: str, n_fourier: int,
                 y_scale: float = 1.0, priors: dict | None = None) -> None:
        t_len, self.c = spend.shape
        positive = np.where(spend > 0, spend, np.nan)
        self.x_scale = np.nan_to_num(np.nanmean(positive, axis=0), nan=1.0)
        self.x = spend / self.x_scale
        # ROI of channel j = mean contribution / mean spend, from the scaled media term
        self.roi_factor = y_scale / (self.x_scale * np.maximum(self.x.mean(axis=0), 1e-12))
        self.priors = priors or {}
        self.prior_weight = 0.0  # the noise sd (scaled): makes the cost ½·σ²·(negative log posterior)
        t = np.arange(t_len)
        cols = [np.ones(t_len), t / max(t_len - 1, 1)]
        names = ["intercept", "trend"]
        per = PERIODS_PER_YEAR[period]
        for k in range(1, n_fourier + 1):
            cols += [np.sin(2 * np.pi * k * t / per), np.cos(2 * np.pi * k * t / per)]
            names += [f"sin{k}", f"cos{k}"]
        if controls.size:
            sd = controls.std(axis=0)
            self.z_mean, self.z_sd = controls.mean(axis=0), np.where(sd > 0, sd, 1.0)
            cols += list(((controls - self.z_mean) / self.z_sd).T)
        self.linear = np.column_stack(cols)
        self.linear_names = names
        lo = [BOUNDS[k][0] for k in ("decay", "half_saturation", "shape", "beta")]
        hi = [BOUNDS[k][1] for k in ("decay", "half_saturation", "shape", "beta")]
        nl = self.linear.shape[1]
        self.lower = np.r_[np.repeat(lo, self.c), np.full(nl, -np.inf)]
        self.upper = np.r_[np.repeat(hi, self.c), np.full(nl, np.inf)]

    def media(self, p: np.ndarray) -> np.ndarray:
        c = self.c
        decay, k, n, beta = p[:c], p[c : 2 * c], p[2 * c : 3 * c], p[3 * c : 4 * c]
        out = np.empty_like(self.x)
        for j in range(c):  # lfilter per channel: each has its own decay
            out[:, j] = beta[j] * hill(geometric_adstock(self.x[:, j], decay[j]), k[j], n[j])
        return out

    def predict(self, p: np.ndarray) -> np.ndarray:
        return self.media(p).sum(axis=1) + self.linear @ p[4 * self.c :]

    def prior_z(self, p: np.ndarray, media: np.ndarray | None = None) -> np.ndarray:
        """Standardized deviations (log value − prior mean) / prior sd of every prior'd parameter."""
        c = self.c
        out = []
        if "half_saturation" in self.priors:
            m, sd = self.priors["half_saturation"]
            out.append((np.log(p[c : 2 * c]) - m) / sd)
        if "shape" in self.priors:
            m, sd = self.priors["shape"]
            out.append((np.log(p[2 * c : 3 * c]) - m) / sd)
        if "roi" in self.priors:
            m, sd = self.priors["roi"]
            media = self.media(p) if media is None else media
            roi = media.mean(axis=0) * self.roi_factor
            out.append((np.log(np.maximum(roi, 1e-6)) - m) / sd)
        return np.concatenate(out) if out else np.zeros(0)

    def fit(self, y: np.ndarray, mask: np.ndarray, p0: np.ndarray, max_nfev: int | None = None) -> Any:
        def resid(p: np.ndarray) -> np.ndarray:
            media = self.media(p)
            r = (media.sum(axis=1) + self.linear @ p[4 * self.c :] - y)[mask]
            if self.prior_weight > 0:
                return np.r_[r, self.prior_weight * self.prior_z(p, media)]
            return r

        p0 = np.clip(p0, self.lower + 1e-9, np.where(np.isfinite(self.upper), self.upper - 1e-9, np.inf))
        return least_squares(resid, p0, bounds=(self.lower, self.upper), x_scale="jac", max_nfev=max_nfev)

    def noise_sd(self, y: np.ndarray, mask: np.ndarray, p0: np.ndarray) -> float:
        """Residual sd of one fit without priors, corrected for the parameters it estimated."""
        weight, self.prior_weight = self.prior_weight, 0.0
        res = self.fit(y, mask, p0)
        self.prior_weight = weight
        dof = max(int(mask.sum()) - res.x.size, 1)
        return float(np.sqrt(2.0 * res.cost / dof))

    def starts(self, y: np.ndarray, mask: np.ndarray, n_starts: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Seeded starts: centre of the box first, then uniform draws; linear terms from OLS on what is left."""
        c = self.c
        out = []
        for s in range(n_starts):
            if s == 0:
                nonlin = np.r_[np.full(c, 0.3), np.full(c, 1.0), np.full(c, 1.5), np.full(c, 0.1)]
            else:
                nonlin = np.r_[
                    rng.uniform(0.0, 0.7, c), np.exp(rng.uniform(np.log(0.2), np.log(3.0), c)),
                    rng.uniform(0.7, 3.0, c), rng.uniform(0.02, 0.4, c),
                ]
            p = np.r_[nonlin, np.zeros(self.linear.shape[1])]
            rest = y - self.media(p).sum(axis=1)
            p[4 * c :] = np.linalg.lstsq(self.linear[mask], rest[mask], rcond=None)[0]
            out.append(p)
        return out


def _r2(y: np.ndarray, f: np.ndarray) -> float:
    return float(1.0 - np.sum((y - f) ** 2) / np.sum((y - y.mean()) ** 2))


def _checked_inputs(revenue: np.ndarray, spend: np.ndarray, channels: Sequence[str], controls: np.ndarray | None,
                    control_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(revenue, spend, controls, control names) as float arrays; ValueError on shapes or values a fit cannot use."""
    y_raw = np.asarray(revenue, dtype=float)
    spend = np.asarray(spend, dtype=float).reshape(len(y_raw), -1)
    if spend.shape[1] != len(channels):
        raise ValueError("one spend column per channel")
    if np.any(spend < 0) or not np.all(np.isfinite(spend)) or not np.all(np.isfinite(y_raw)):
        raise ValueError("spend must be finite and non-negative, revenue finite")
    t_len = spend.shape[0]
    ctrl = np.zeros((t_len, 0)) if controls is None else np.asarray(controls, dtype=float).reshape(t_len, -1)
    names = list(control_names) or [f"control_{i + 1}" for i in range(ctrl.shape[1])]
    if len(names) != ctrl.shape[1]:
        raise ValueError("one name per control column")
    return y_raw, spend, ctrl, names


def _usable_controls(ctrl: np.ndarray, names: list[str], n_train: int) -> tuple[np.ndarray, list[str], list[str]]:
    """(controls, names, notes) without the controls constant over the training periods.

    Such a control cannot be told from the intercept there: the holdout fit would give it an
    arbitrary coefficient (a one-off event late in the history wrecks the holdout).
    """
    keep = np.ptp(ctrl[:n_train], axis=0) > 0 if ctrl.size else np.zeros(0, bool)
    notes = [f"control '{n}' left out: constant over the training periods"
             + (" (it only varies in the holdout periods)" if np.ptp(ctrl[:, j]) > 0 else "")
             for j, n in enumerate(names) if not keep[j]]
    return ctrl[:, keep], [n for n, k in zip(names, keep, strict=True) if k], notes


def _multistart(model: _Model, y: np.ndarray, mask: np.ndarray, extra: list[np.ndarray], n_starts: int,
                rng: np.random.Generator, mon: Monitor, stage: str, lo: float, hi: float) -> Any:
    """The lowest-cost fit from the given starts plus `n_starts` seeded ones, reporting progress in [lo, hi]."""
    best = None
    starts = extra + model.starts(y, mask, n_starts, rng)
    for i, p0 in enumerate(starts):
        mon.report(lo + (hi - lo) * i / len(starts), f"{stage}: start {i + 1} of {len(starts)}")
        res = model.fit(y, mask, p0)
        if best is None or res.cost < best.cost:
            best = res
    return best


def _bootstrap(model: _Model, y: np.ndarray, fitted: np.ndarray, p: np.ndarray, block: int, n_bootstrap: int,
               rng: np.random.Generator, mon: Monitor) -> list[np.ndarray]:
    """Parameter draws from a moving-block residual bootstrap, each refitted from the point estimate `p`."""
    t_len = len(y)
    resid = y - fitted
    n_blocks = int(np.ceil(t_len / block))
    full = np.ones(t_len, bool)
    draws = []
    for i in range(n_bootstrap):
        mon.report(0.6 + 0.4 * i / n_bootstrap, f"bootstrap {i + 1} of {n_bootstrap}")
        starts = rng.integers(0, t_len - block + 1, n_blocks)
        e = np.concatenate([resid[s : s + block] for s in starts])[:t_len]
        y_star = fitted + e - e.mean()
        draws.append(model.fit(y_star, full, p, max_nfev=200).x)
    return draws


def _curve_params(model: _Model, q: np.ndarray, j: int, y_scale: float) -> np.ndarray:
    """Channel j's (beta, decay, K, n) in original units from a scaled parameter vector."""
    c = model.c
    return np.array([q[3 * c + j] * y_scale, q[j], q[c + j] * model.x_scale[j], q[2 * c + j]])


def _add_intervals(out: FitResult, model: _Model, draws: list[np.ndarray], total_spend: np.ndarray,
                   y_scale: float) -> None:
    """Fill the result's bootstrap draws and 90 % intervals (fit, contribution, ROAS) from `draws`."""
    dr = np.array(draws)
    channels = out.channels
    out.param_draws = {ch: np.array([_curve_params(model, q, j, y_scale) for q in dr]) for j, ch in enumerate(channels)}
    fits = np.array([model.predict(q) for q in dr]) * y_scale
    out.fitted_interval = np.quantile(fits, [0.05, 0.95], axis=0).T
    contrib = np.array([model.media(q).sum(axis=0) for q in dr]) * y_scale
    for j, ch in enumerate(channels):
        out.contribution_interval[ch] = tuple(np.quantile(contrib[:, j], [0.05, 0.95]).tolist())
        if total_spend[j] > 0:
            out.roas_interval[ch] = tuple((np.quantile(contrib[:, j], [0.05, 0.95]) / total_spend[j]).tolist())


def fit_response_curves(
    revenue: np.ndarray,
    spend: np.ndarray,
    channels: Sequence[str],
    controls: np.ndarray | None = None,
    control_names: Sequence[str] = (),
    *,
    period: str = "W",
    n_fourier: int = 2,
    priors: dict[str, tuple[float, float]] | None = PRIORS,
    n_starts: int = 6,
    holdout: float = 0.15,
    n_bootstrap: int = 100,
    block: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> FitResult:
    """Fit one brand's channel curves from its weekly ("W") or monthly ("M") history.

    `priors`: log-normal priors by parameter (see PRIORS and the module docstring); None for plain
    least squares. Controls constant over the training periods are left out (`FitResult.notes`).
    """
    mon = Monitor(progress, cancel)
    y_raw, spend, ctrl, names = _checked_inputs(revenue, spend, channels, controls, control_names)
    t_len, c = spend.shape
    n_hold = round(t_len * holdout)
    n_train = t_len - n_hold if n_hold >= 4 else t_len
    ctrl, names, notes = _usable_controls(ctrl, names, n_train)
    y_scale = float(np.mean(np.abs(y_raw))) or 1.0
    y = y_raw / y_scale
    model = _Model(spend, ctrl, period, n_fourier, y_scale, priors)
    rng = np.random.default_rng(seed)

    full = np.ones(t_len, bool)
    if model.priors:
        model.prior_weight = model.noise_sd(y, full, model.starts(y, full, 1, rng)[0])
    holdout_r2 = holdout_mape = None
    extra: list[np.ndarray] = []
    if n_train < t_len:
        train = np.arange(t_len) < n_train
        res_train = _multistart(model, y, train, [], n_starts, rng, mon, "holdout fit", 0.0, 0.3)
        pred = model.predict(res_train.x)
        held = ~train
        holdout_r2 = _r2(y[held], pred[held])
        holdout_mape = float(np.mean(np.abs((y[held] - pred[held]) / np.where(y[held] != 0, y[held], np.nan))))
        extra = [res_train.x]
    res = _multistart(model, y, full, extra, n_starts, rng, mon, "full fit", 0.3, 0.6)
    p = res.x
    fitted = model.predict(p)
    draws = _bootstrap(model, y, fitted, p, block or (4 if period == "W" else 3), n_bootstrap, rng, mon)
    mon.report(1.0, "fit done")

    params = {ch: CurveParams(*(float(v) for v in _curve_params(model, p, j, y_scale)))
              for j, ch in enumerate(channels)}
    media = model.media(p) * y_scale
    total_spend = spend.sum(axis=0)
    contribution = {ch: float(media[:, j].sum()) for j, ch in enumerate(channels)}
    roas = {ch: float(contribution[ch] / total_spend[j]) if total_spend[j] > 0 else float("nan")
            for j, ch in enumerate(channels)}
    coef = dict(zip(model.linear_names + [f"control:{n}" for n in names], (p[4 * c :] * y_scale).tolist(),
                    strict=True))
    out = FitResult(
        channels=list(channels), params=params, coefficients=coef, r2=_r2(y, fitted),
        nrmse=float(np.sqrt(np.mean((y - fitted) ** 2)) / (y.max() - y.min())),
        holdout_r2=holdout_r2, holdout_mape=holdout_mape, contribution=contribution, roas=roas,
        fitted=fitted * y_scale, n_starts=n_starts, cost=float(res.cost), controls=names, notes=notes,
        noise_sd=model.prior_weight * y_scale if model.priors else None,
    )
    if draws:
        _add_intervals(out, model, draws, total_spend, y_scale)
    return out
