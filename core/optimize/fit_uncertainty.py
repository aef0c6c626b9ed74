"""Uncertainty of a fit: a Laplace approximation of the posterior in the unconstrained parametrization.

At the MAP estimate the residual vector's Jacobian J (data rows / σ, prior rows, experiment rows) gives
the posterior precision JᵀJ. Weekly residuals are autocorrelated (misfit of adstock, seasonality or
events spans several weeks), which makes each week carry less information than an independent one:
the data rows are down-weighted by the long-run variance factor of the residuals (Bartlett window over
`block` lags), which widens the intervals accordingly. Draws from the Gaussian feed the curve draws
(allocator, risk front) and the fitted band; ROAS and contribution intervals come from the relative
ROAS's own log-normal marginal.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from core.optimize.fit_model import Model

Z90 = float(norm.ppf(0.95))


def variance_inflation(resid: np.ndarray, block: int) -> float:
    """Long-run variance / variance of the residuals: 1 + 2 Σ_l (1 − l/(L+1))·ρ_l, at least 1."""
    e = resid - resid.mean()
    denom = float(e @ e)
    if denom <= 0 or len(e) <= block + 1:
        return 1.0
    rho = np.array([float(e[lag:] @ e[:-lag]) / denom for lag in range(1, block + 1)])
    weights = 1.0 - np.arange(1, block + 1) / (block + 1)
    return max(1.0, 1.0 + 2.0 * float(weights @ rho))


def laplace(model: Model, jac: np.ndarray, n_data: int, inflation: float) -> np.ndarray:
    """Posterior covariance of the free parameters: (JᵀJ)⁻¹ with the data rows weighted by 1/inflation."""
    j = np.array(jac, dtype=float)
    j[:n_data] /= np.sqrt(inflation)
    precision = j.T @ j
    return np.linalg.pinv(precision, hermitian=True)


def gaussian_draws(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator,
                   lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """n draws of N(mean, cov) (via its eigen-decomposition, so a singular cov is fine), kept in the box."""
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    draws = mean + rng.standard_normal((n, len(mean))) @ root.T
    return np.clip(draws, lower, upper)


def log_interval(centre: float, sd: float) -> tuple[float, float]:
    """90 % interval of exp(N(centre, sd²))."""
    return float(np.exp(centre - Z90 * sd)), float(np.exp(centre + Z90 * sd))
