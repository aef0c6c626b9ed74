"""The oracle of the fitting benchmark: channel ROAS by least squares when the curves' shapes are known.

For a synthetic brand the true adstock (truncated weights, with the unseen pre-history) and the true
saturation (family, K, n) of every channel are known, so each channel's saturation series s_j(t) is
known. Only the linear coefficients are then unknown: regressing revenue on the fitter's baseline
(intercept, centred trend, two yearly Fourier harmonics), the controls as given, and the s_j by
ordinary least squares estimates every β_j, and ROAS_j = β_j·Σ_t s_j(t) / Σ_t spend_j(t).

This model is the family's exact generating process up to the noise (the baseline's trend and
seasonality lie in the span of those columns, the controls enter linearly), so its error is what the
noise alone costs when nothing else is unknown: a lower bound on the ROAS error any fitter can reach
on the family. A fitter also has to find θ, K and n, and share the data's information with them.
"""

from __future__ import annotations

import numpy as np

from benchmarks.fitting_family import BURN_IN, PERIODS_PER_YEAR, SyntheticBrand, truncated_adstock
from core.optimize.curves import saturation

N_FOURIER = 2  # the fitter's default harmonics (core.optimize.fit.fit_response_curves)


def true_saturations(brand: SyntheticBrand) -> np.ndarray:
    """(weeks, channels) true saturation of every channel over the observed weeks, pre-history included."""
    cols = []
    for j, ch in enumerate(brand.channels):
        p = brand.params[ch]
        full = np.r_[brand.prehistory[:, j], brand.spend[:, j]]
        cols.append(
            saturation(p.family, truncated_adstock(full, p.decay, brand.lags[ch]), p.half_saturation, p.shape)[BURN_IN:]
        )
    return np.column_stack(cols)


def baseline_design(t_len: int, controls: np.ndarray) -> np.ndarray:
    """Intercept, centred trend, the yearly Fourier harmonics and the controls, as the fitter has them."""
    t = np.arange(t_len)
    cols = [np.ones(t_len), t / max(t_len - 1, 1) - 0.5]
    for k in range(1, N_FOURIER + 1):
        cols += [np.sin(2 * np.pi * k * t / PERIODS_PER_YEAR), np.cos(2 * np.pi * k * t / PERIODS_PER_YEAR)]
    return np.column_stack([*cols, controls])


def oracle_roas(brand: SyntheticBrand) -> dict[str, float]:
    """Each channel's ROAS by OLS given the true saturation series (only the linear coefficients estimated)."""
    sat = true_saturations(brand)
    design = np.column_stack([baseline_design(len(brand.revenue), brand.controls), sat])
    coef = np.linalg.lstsq(design, brand.revenue, rcond=None)[0]
    beta = coef[-len(brand.channels) :]
    totals = brand.spend.sum(axis=0)
    return {ch: float(beta[j] * sat[:, j].sum() / totals[j]) for j, ch in enumerate(brand.channels)}


def oracle_roas_mape_pct(brands: list[SyntheticBrand]) -> float:
    """Median over every channel of every brand of |oracle ROAS − true| / true, in %."""
    errors = [abs(est - b.roas[ch]) / b.roas[ch] for b in brands for ch, est in oracle_roas(b).items()]
    return float(np.median(errors) * 100.0) if errors else float("nan")
