"""Fitting response curves per brand from spend and revenue history (the model: docs/MODELING.md).

    revenue_t = b0 + b1·trend + seasonal Fourier terms + Σ_j γ_j·control_jt + Σ_c β_c·s_c(adstock(x_c)_t; K_c, n_c)

A MAP estimate under weak priors on scale-free quantities (fit_model.py), so the answer does not depend
on currency, units or channel order; per channel the saturation family (Hill or logistic) with the lower
error on held-out final periods (fit_family.py); a Laplace approximation inflated for autocorrelated
residuals for the uncertainty (fit_uncertainty.py), whose draws feed the allocator's intervals and the
risk front (`curve_draws`); lift tests enter as likelihood terms; warnings in plain words
(fit_warnings.py). Controls constant over the training periods are left out with a note: the holdout
fit could not tell them from the intercept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.optimize.fit_family import choose_families, multistart
from core.optimize.fit_model import BOUNDS, BURN_IN, PERIODS_PER_YEAR, PRIORS, Model
from core.optimize.fit_result import Experiment, FitResult
from core.optimize.fit_uncertainty import gaussian_draws, laplace, log_interval, variance_inflation
from core.optimize.fit_warnings import bound_warnings, data_warnings, experiment_warnings
from core.optimize.progress import Monitor, ProgressFn

__all__ = ["BOUNDS", "PERIODS_PER_YEAR", "PRIORS", "Experiment", "FitResult", "fit_response_curves"]


def _checked_inputs(revenue: np.ndarray, spend: np.ndarray, channels: Sequence[str], controls: np.ndarray | None,
                    control_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(revenue, spend, controls, control names) as float arrays; ValueError on shapes or values a fit cannot use."""
    y_raw = np.asarray(revenue, dtype=float)
    spend = np.asarray(spend, dtype=float).reshape(len(y_raw), -1)
    if spend.shape[1] != len(channels):
        raise ValueError("one spend column per channel")
    if len(set(channels)) != len(channels):
        raise ValueError("channel names must be distinct")
    if np.any(spend < 0) or not np.all(np.isfinite(spend)) or not np.all(np.isfinite(y_raw)):
        raise ValueError("spend must be finite and non-negative, revenue finite")
    if y_raw.sum() <= 0:
        raise ValueError("revenue over the history must be positive")
    t_len = spend.shape[0]
    ctrl = np.zeros((t_len, 0)) if controls is None else np.asarray(controls, dtype=float).reshape(t_len, -1)
    names = list(control_names) or [f"control_{i + 1}" for i in range(ctrl.shape[1])]
    if len(names) != ctrl.shape[1] or len(set(names)) != len(names):
        raise ValueError("one name per control column, each name once")
    return y_raw, spend, ctrl, names


def _checked_experiments(experiments: Sequence[Experiment], order: list[str], t_len: int,
                         y_scale: float) -> list[tuple[int, int, int, float, float]]:
    """Experiments as (channel column, start, end, lift, se) in scaled units; ValueError on unusable ones."""
    out = []
    for e in experiments:
        if e.channel not in order:
            raise ValueError(f"the lift test names channel '{e.channel}', which has no spend in this fit")
        if not 0 <= e.start <= e.end < t_len:
            raise ValueError(f"the lift test on '{e.channel}' covers periods {e.start}–{e.end}, outside the "
                             f"history (0–{t_len - 1})")
        if not (np.isfinite(e.lift) and np.isfinite(e.se) and e.se > 0):
            raise ValueError(f"the lift test on '{e.channel}' needs a finite lift and a positive standard error")
        out.append((order.index(e.channel), int(e.start), int(e.end), e.lift / y_scale, e.se / y_scale))
    return out


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


def _r2(y: np.ndarray, f: np.ndarray) -> float:
    return float(1.0 - np.sum((y - f) ** 2) / np.sum((y - y.mean()) ** 2))


def _baseline_terms(model: Model, u: np.ndarray, controls: list[str], y_scale: float,
                    ctrl: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(coefficients, decomposition) of the linear terms in revenue units; controls per unit of the control."""
    lin = u[model.n_nonlinear :] * y_scale
    names = model.linear_names
    coef = dict(zip(names, lin[: len(names)].tolist(), strict=True))
    per_unit = lin[len(names) :] / model.z_sd if controls else np.zeros(0)
    coef.update({f"control:{n}": float(per_unit[i]) for i, n in enumerate(controls)})
    terms = model.linear[:, : len(names)] * lin[: len(names)]
    offset = float(per_unit @ model.z_mean) if controls else 0.0  # controls enter centred: mean in the baseline
    decomposition = {"baseline": terms[:, 0] - offset, "trend": terms[:, 1],
                     "seasonality": terms[:, 2:].sum(axis=1)}
    decomposition.update({f"control:{n}": ctrl[:, i] * per_unit[i] for i, n in enumerate(controls)})
    return coef, decomposition


def _intervals(out: FitResult, model: Model, order: list[str], u: np.ndarray, cov: np.ndarray, draws: np.ndarray,
               spend: np.ndarray, y_scale: float) -> None:
    """ROAS and contribution intervals (log-normal marginals), parameter draws and the fitted band."""
    c = model.c
    ratio = float(model.y_total * y_scale / spend.sum())
    for j, ch in enumerate(order):
        total = float(spend[:, j].sum())
        if total <= 0:
            continue
        sd = float(np.sqrt(max(cov[3 * c + j, 3 * c + j], 0.0)))
        lo, hi = log_interval(float(u[3 * c + j]), sd)
        out.roas_interval[ch] = (lo * ratio, hi * ratio)
        out.contribution_interval[ch] = (lo * ratio * total, hi * ratio * total)
    if len(draws):
        params = model.draw_params(draws, y_scale)
        out.param_draws = {ch: params[:, j, :] for j, ch in enumerate(order)}
        fits = np.array([model.predict(d) for d in draws]) * y_scale
        out.fitted_interval = np.quantile(fits, [0.05, 0.95], axis=0).T


def _experiment_rows(model: Model, u: np.ndarray, draws: np.ndarray, channels: list[str], y: np.ndarray,
                     mask: np.ndarray, inflation: float, y_scale: float) -> list[dict[str, Any]]:
    """Per experiment: the calibrated fit's lift over its periods, and what the fit without that
    experiment predicts there with its sd (the data's own answer, which the disagreement warning uses)."""
    rows = []
    media = model.media(u)
    draw_media = [model.media(d) for d in draws[:200]]
    every = list(model.experiments)
    n_data = int(mask.sum())
    for k, (j, s, e, lift, se) in enumerate(every):
        model.experiments = every[:k] + every[k + 1 :]
        u0 = model.fit(y, mask, u).x
        model.experiments = every
        jac = model.jacobian(u0, y, mask)
        row = len(jac) - len(every) + k  # rows: data, priors, experiments
        grad = jac[row] * se
        cov0 = laplace(model, np.delete(jac, row, axis=0), n_data, inflation)
        sims = [m[s : e + 1, j].sum() for m in draw_media]
        rows.append({"channel": channels[j], "start": s, "end": e, "lift": lift * y_scale, "se": se * y_scale,
                     "modelled": float(media[s : e + 1, j].sum() * y_scale),
                     "modelled_sd": float(np.std(sims) * y_scale) if sims else 0.0,
                     "without": float(model.media(u0)[s : e + 1, j].sum() * y_scale),
                     "without_sd": float(np.sqrt(max(grad @ cov0 @ grad, 0.0)) * y_scale)})
    return rows


def _settle_sigma(model: Model, y: np.ndarray, mask: np.ndarray, res: Any, rounds: int = 3,
                  polish: bool = False) -> Any:
    """Re-estimate the noise sd σ from the fit's residuals (it weighs the priors and experiments against the
    data) and refit from there, until σ moves by less than 2 %; returns the last fit.

    `polish`: every refit runs to the last bits (Model.polish), at least twice, so the last σ comes from a
    polished fit: σ from an ordinary stop carries that stop's ~1e-6 noise into the answer.
    """
    dof = max(int(mask.sum()) - model.linear.shape[1] - 2 * model.c, 1)
    for i in range(rounds):
        resid = (y - model.predict(res.x))[mask]
        sigma = float(np.sqrt(resid @ resid / dof)) or model.sigma
        moved = abs(sigma / model.sigma - 1.0)
        model.sigma = sigma
        res = model.fit(y, mask, res.x, tol=1e-10)
        if polish:
            res = model.polish(y, mask, res.x)
        if moved < 0.02 and (i > 0 or not polish):
            break
    return res


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
    n_starts: int = 4,
    holdout: float = 0.15,
    n_bootstrap: int = 100,
    block: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: Any = None,
    experiments: Sequence[Experiment] = (),
) -> FitResult:
    """Fit one brand's channel curves from its weekly ("W") or monthly ("M") history.

    `priors`: see fit_model.PRIORS (None: no priors). `n_bootstrap`: posterior draws kept for the
    allocator (the name predates the Laplace approximation). `block`: lags of residual autocorrelation
    the intervals allow for. `experiments`: lift tests as likelihood terms. Channels and controls are
    fitted in name order, so their order in the input does not change the answer.
    """
    mon = Monitor(progress, cancel)
    y_raw, spend_in, ctrl_in, names_in = _checked_inputs(revenue, spend, channels, controls, control_names)
    channels = list(channels)
    order = sorted(channels)
    spend_c = spend_in[:, [channels.index(ch) for ch in order]]
    t_len = len(y_raw)
    n_hold = round(t_len * holdout)
    n_train = t_len - n_hold if n_hold >= 4 else t_len
    ctrl_order = sorted(range(len(names_in)), key=lambda i: names_in[i])
    ctrl, names, notes = _usable_controls(ctrl_in[:, ctrl_order], [names_in[i] for i in ctrl_order], n_train)
    y_scale = float(np.mean(np.abs(y_raw)))
    y = y_raw / y_scale
    exps = _checked_experiments(experiments, order, t_len, y_scale)
    model = Model(y, spend_c, ctrl, period, n_fourier, ["hill"] * len(order), priors, exps)
    rng = np.random.default_rng(seed)
    # Burn-in: the adstock starts at the early mean spend, and the first periods, where that guess about the
    # unseen earlier spend matters most, are left out of the likelihood.
    burn = BURN_IN[period] if t_len >= 6 * BURN_IN[period] else 0
    full = np.arange(t_len) >= burn
    model.sigma = model.initial_sigma(y, full)
    _settle_sigma(model, y, full, model.fit(y, full, model.starts(y, full, 1, rng)[0]), rounds=1)

    holdout_r2 = holdout_mape = None
    extra, errors = [], {}
    if n_train < t_len:
        train = full & (np.arange(t_len) < n_train)
        u_train, errors = choose_families(model, y, train, n_starts, rng, mon)
        pred, held = model.predict(u_train), ~train
        holdout_r2 = _r2(y[held], pred[held])
        holdout_mape = float(np.mean(np.abs((y[held] - pred[held]) / np.where(y[held] != 0, y[held], np.nan))))
        extra = [u_train]
    res = multistart(model, y, full, extra, max(1, n_starts // 2), rng, mon, "full fit", 0.5, 0.8)
    # σ from the MAP residuals (the priors' weight depends on it), then refit once from there.
    res = _settle_sigma(model, y, full, res, polish=True)
    u = res.x
    mon.report(0.9, "uncertainty")
    media = model.media(u)
    fitted = model.predict(u, media)
    inflation = variance_inflation((y - fitted)[full], block or (4 if period == "W" else 3))
    cov = laplace(model, res.jac, int(full.sum()), inflation)
    draws = gaussian_draws(u, cov, n_bootstrap, rng, model.lower, model.upper) if n_bootstrap else np.zeros((0, len(u)))

    contribution = {ch: float(media[:, j].sum() * y_scale) for j, ch in enumerate(order)}
    totals = spend_c.sum(axis=0)
    roas = {ch: contribution[ch] / float(totals[j]) if totals[j] > 0 else float("nan") for j, ch in enumerate(order)}
    coef, decomposition = _baseline_terms(model, u, names, y_scale, ctrl)
    decomposition.update({f"channel:{ch}": media[:, j] * y_scale for j, ch in enumerate(order)})
    out = FitResult(
        channels=channels, params=dict(zip(order, model.curve_params(u, y_scale), strict=True)),
        coefficients=coef, r2=_r2(y, fitted), nrmse=float(np.sqrt(np.mean((y - fitted) ** 2)) / np.ptp(y)),
        holdout_r2=holdout_r2, holdout_mape=holdout_mape, contribution=contribution, roas=roas,
        fitted=fitted * y_scale, n_starts=n_starts, cost=float(res.cost), controls=names, notes=notes,
        noise_sd=model.sigma * y_scale, decomposition=decomposition,
        holdout_start=n_train if n_train < t_len else None, families=dict(zip(order, model.families, strict=True)),
        family_choice={order[j]: {f: e if f == "t" else e * y_scale for f, e in v.items()} for j, v in errors.items()},
        variance_inflation=inflation,
    )
    _intervals(out, model, order, u, cov, draws, spend_c, y_scale)
    out.experiments = _experiment_rows(model, u, draws, order, y, full, inflation, y_scale)
    out.warnings = (bound_warnings(model, u, order) + data_warnings(spend_c, order, roas, out.roas_interval)
                    + experiment_warnings(out.experiments))
    _restore_order(out, channels)
    mon.report(1.0, "fit done")
    return out


def _restore_order(out: FitResult, channels: list[str]) -> None:
    """Per-channel dicts in the caller's channel order (the values do not depend on it)."""
    for name in ("params", "contribution", "roas", "param_draws", "contribution_interval", "roas_interval",
                 "families", "family_choice"):
        d = getattr(out, name)
        setattr(out, name, {ch: d[ch] for ch in channels if ch in d})
