"""The fitter's model in a scale-free, unconstrained parametrization (see docs/MODELING.md).

    y_t = b0 + b1·(t/(T−1) − ½) + Σ_k Fourier_k(t) + Σ_i γ_i·z_it + Σ_j β_j·s_j(adstock(x_j)_t; K_j, n_j)

on scaled data: y = revenue / mean |revenue|, x_j = spend_j / its mean non-zero spend, z = standardized
controls. Per channel the free parameters are unbounded (or box-bounded) numbers:
- a_j = logit(θ_j / DECAY_MAX): the adstock decay θ;
- κ_j = ln K_j (K relative to the channel's mean non-zero spend), ν_j = ln n_j;
- r_j = ln ρ_j, ρ_j the channel's ROAS relative to the brand's revenue / spend ratio: β_j follows from
  it (β_j = ρ_j·Σy·w_j / Σ_t s_j(t), w_j the channel's share of spend), so a channel's level is one
  number with a prior that means the same for every brand, currency and unit.
Everything the optimizer sees is invariant to spend × k and revenue × m, and ROAS_j = ρ_j·(Σ revenue / Σ spend).

The residual vector stacks (data − fit)/σ, the prior z-scores and the experiments' (modelled − measured)/se,
so ½‖r‖² is the negative log posterior and its Jacobian gives the Laplace approximation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import lfilter

from core.optimize.curves import CurveParams, saturation

PERIODS_PER_YEAR = {"W": 52.18, "M": 12.0}
DECAY_MAX = 0.9
BURN_IN = {"W": 8, "M": 3}  # early periods whose mean spend stands for the unseen spend before the history
# Log-normal / logit-normal priors (mean, sd) on scale-free quantities; see docs/MODELING.md.
PRIORS: dict[str, tuple[float, float]] = {
    "roas_ratio": (float(np.log(0.2)), 1.5),  # ln(channel ROAS / brand revenue-per-spend)
    "half_saturation": (0.0, 1.0),  # ln(K / mean non-zero spend)
    "shape": (0.0, 0.5),  # ln n, Hill
    "logistic_shape": (float(np.log(2.0)), 0.5),  # ln n, logistic steepness
    "decay": (float(np.log(0.5)), 1.5),  # logit(θ / 0.9): centred on θ = 0.3
}
# Box bounds of the free parameters (a, κ, ν, r); linear terms are free.
# A logistic flatter than n = 1 is a straight line over the spend seen, not an S-curve: its own bounds.
BOUNDS = {"decay": (-8.0, 8.0), "half_saturation": (np.log(0.05), np.log(10.0)),
          "shape": (np.log(0.3), np.log(6.0)), "roas_ratio": (np.log(1e-4), np.log(100.0))}
LOGISTIC_SHAPE_BOUNDS = (0.0, np.log(8.0))
_KEYS = ("decay", "half_saturation", "shape", "roas_ratio")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a, dtype=float)))


class Model:
    """Design, parametrization and residuals shared by every fit of one brand (channels in a fixed order)."""

    def __init__(self, y: np.ndarray, spend: np.ndarray, controls: np.ndarray, period: str, n_fourier: int,
                 families: Sequence[str], priors: dict[str, tuple[float, float]] | None,
                 experiments: Sequence[tuple[int, int, int, float, float]] = ()) -> None:
        t_len, self.c = spend.shape
        positive = np.where(spend > 0, spend, np.nan)
        with np.errstate(all="ignore"):
            self.x_scale = np.nan_to_num(np.nanmean(positive, axis=0), nan=1.0)
        self.x = spend / self.x_scale
        self.x0 = self.x[: BURN_IN[period]].mean(axis=0)
        total = spend.sum()
        self.w = spend.sum(axis=0) / total if total > 0 else np.zeros(self.c)
        self.y_total = float(y.sum())
        self._families = list(families)
        self.priors = priors or {}
        unknown = set(self.priors) - set(PRIORS)
        if unknown:
            raise ValueError(f"unknown prior(s) {sorted(unknown)}; the fitter knows {sorted(PRIORS)}")
        self.experiments = list(experiments)
        self.sigma = 1.0
        t = np.arange(t_len)
        cols = [np.ones(t_len), t / max(t_len - 1, 1) - 0.5]
        names = ["intercept", "trend"]
        per = PERIODS_PER_YEAR[period]
        for k in range(1, n_fourier + 1):
            cols += [np.sin(2 * np.pi * k * t / per), np.cos(2 * np.pi * k * t / per)]
            names += [f"sin{k}", f"cos{k}"]
        self.z_mean = self.z_sd = np.zeros(0)
        if controls.size:
            sd = controls.std(axis=0)
            self.z_mean, self.z_sd = controls.mean(axis=0), np.where(sd > 0, sd, 1.0)
            cols += list(((controls - self.z_mean) / self.z_sd).T)
        self.linear = np.column_stack(cols)
        self.linear_names = names
        self.families = list(families)

    @property
    def families(self) -> list[str]:
        """Saturation family per channel; setting it resets the box bounds (the shape's differ by family)."""
        return self._families

    @families.setter
    def families(self, value: list[str]) -> None:
        self._families = list(value)
        nl = self.linear.shape[1]
        self.lower = np.r_[np.concatenate([np.full(self.c, BOUNDS[k][0]) for k in _KEYS]), np.full(nl, -np.inf)]
        self.upper = np.r_[np.concatenate([np.full(self.c, BOUNDS[k][1]) for k in _KEYS]), np.full(nl, np.inf)]
        logistic = 2 * self.c + np.flatnonzero(np.array(self._families) == "logistic")
        self.lower[logistic], self.upper[logistic] = LOGISTIC_SHAPE_BOUNDS

    def shape_bounds(self, j: int) -> tuple[float, float]:
        """(lower, upper) of channel j's ln n."""
        return float(self.lower[2 * self.c + j]), float(self.upper[2 * self.c + j])

    @property
    def n_nonlinear(self) -> int:
        return 4 * self.c

    def natural(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(decay θ, K, n, ρ) per channel from the free parameters (K relative to mean non-zero spend)."""
        c = self.c
        return (DECAY_MAX * _sigmoid(u[:c]), np.exp(u[c : 2 * c]), np.exp(u[2 * c : 3 * c]),
                np.exp(u[3 * c : 4 * c]))

    def channel_saturation(self, j: int, a: float, kappa: float, nu: float) -> np.ndarray:
        """Channel j's saturation of its adstock over the periods; the adstock starts at the early mean spend."""
        d = DECAY_MAX * float(_sigmoid(a))
        ad = lfilter([1.0 - d], [1.0, -d], self.x[:, j], zi=[d * self.x0[j]])[0]
        return saturation(self.families[j], ad, float(np.exp(kappa)), float(np.exp(nu)))

    def saturations(self, u: np.ndarray) -> np.ndarray:
        """(periods, channels) saturation of every channel."""
        c = self.c
        return np.column_stack([self.channel_saturation(j, u[j], u[c + j], u[2 * c + j]) for j in range(c)])

    def _channel_media(self, j: int, v: np.ndarray) -> np.ndarray:
        """Channel j's contribution for its free parameters v = (a, κ, ν, r)."""
        sat = self.channel_saturation(j, v[0], v[1], v[2])
        return sat * (np.exp(v[3]) * self.y_total * self.w[j] / max(sat.sum(), 1e-300))

    def jacobian(self, u: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """d residuals / d u: forward differences channel by channel (a channel's parameters move only its
        own column), exact for the linear terms; C times cheaper than differencing the whole model."""
        c, nn = self.c, self.n_nonlinear
        media = self.media(u)
        z0 = self.prior_z(u)
        n_data = int(mask.sum())
        jac = np.zeros((n_data + len(z0) + len(self.experiments), len(u)))
        jac[:n_data, nn:] = self.linear[mask] / self.sigma
        for j in range(c):
            idx = [j, c + j, 2 * c + j, 3 * c + j]
            for i in idx:
                h = 1.5e-8 * max(1.0, abs(u[i]))
                v = u[idx].copy()
                v[idx.index(i)] += h
                d_media = (self._channel_media(j, v) - media[:, j]) / h
                up = u.copy()
                up[i] += h
                jac[:n_data, i] = d_media[mask] / self.sigma
                jac[n_data : n_data + len(z0), i] = (self.prior_z(up) - z0) / h
                jac[n_data + len(z0) :, i] = [d_media[s : e + 1].sum() / se if k == j else 0.0
                                              for k, s, e, _, se in self.experiments]
        return jac

    def betas(self, u: np.ndarray, sat: np.ndarray) -> np.ndarray:
        """β per channel (scaled revenue per period) that gives the channel its relative ROAS ρ."""
        rho = np.exp(u[3 * self.c : 4 * self.c])
        return rho * self.y_total * self.w / np.maximum(sat.sum(axis=0), 1e-300)

    def media(self, u: np.ndarray) -> np.ndarray:
        sat = self.saturations(u)
        return sat * self.betas(u, sat)

    def predict(self, u: np.ndarray, media: np.ndarray | None = None) -> np.ndarray:
        media = self.media(u) if media is None else media
        return media.sum(axis=1) + self.linear @ u[self.n_nonlinear :]

    def prior_z(self, u: np.ndarray) -> np.ndarray:
        """Standardized deviations of every prior'd free parameter from its prior mean."""
        c = self.c
        out = []
        for i, key in enumerate(_KEYS):
            block = u[i * c : (i + 1) * c]
            if key == "shape":
                for j, fam in enumerate(self.families):
                    pk = "logistic_shape" if fam == "logistic" else "shape"
                    if pk in self.priors:
                        m, sd = self.priors[pk]
                        out.append(np.array([(block[j] - m) / sd]))
            elif key in self.priors:
                m, sd = self.priors[key]
                out.append((block - m) / sd)
        return np.concatenate(out) if out else np.zeros(0)

    def experiment_z(self, media: np.ndarray) -> np.ndarray:
        """(modelled − measured lift) / se of every experiment (scaled units)."""
        return np.array([(media[s : e + 1, j].sum() - lift) / se for j, s, e, lift, se in self.experiments])

    def residuals(self, u: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
        media = self.media(u)
        r = (self.predict(u, media) - y)[mask] / self.sigma
        return np.r_[r, self.prior_z(u), self.experiment_z(media)]

    def fit(self, y: np.ndarray, mask: np.ndarray, u0: np.ndarray, max_nfev: int | None = None,
            tol: float = 1e-8) -> Any:
        """MAP estimate from `u0` (trust-region reflective within the box bounds)."""
        u0 = np.clip(u0, self.lower + 1e-9, np.where(np.isfinite(self.upper), self.upper - 1e-9, np.inf))
        return least_squares(self.residuals, u0, jac=self.jacobian, bounds=(self.lower, self.upper), x_scale="jac",
                             max_nfev=max_nfev, args=(y, mask), ftol=tol, xtol=tol, gtol=tol)

    def linear_start(self, u: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """`u` with its linear terms replaced by OLS on what the media leave."""
        u = u.copy()
        rest = y - self.media(u).sum(axis=1)
        u[self.n_nonlinear :] = np.linalg.lstsq(self.linear[mask], rest[mask], rcond=None)[0]
        return u

    def starts(self, y: np.ndarray, mask: np.ndarray, n_starts: int, rng: np.random.Generator) -> list[np.ndarray]:
        """The prior means first, then seeded draws around them; linear terms from OLS."""
        c = self.c
        pm = {k: self.priors.get(k, PRIORS[k])[0] for k in PRIORS}
        shape0 = np.array([pm["logistic_shape" if f == "logistic" else "shape"] for f in self.families])
        centre = np.r_[np.full(c, pm["decay"]), np.full(c, pm["half_saturation"]), shape0,
                       np.full(c, pm["roas_ratio"])]
        out = []
        for s in range(n_starts):
            nonlin = centre if s == 0 else centre + np.r_[rng.uniform(-2, 2, c), rng.uniform(-1, 1, c),
                                                          rng.uniform(-0.5, 0.5, c), rng.uniform(-1, 1, c)]
            out.append(self.linear_start(np.r_[nonlin, np.zeros(self.linear.shape[1])], y, mask))
        return out

    def initial_sigma(self, y: np.ndarray, mask: np.ndarray) -> float:
        """Noise sd guess from OLS of revenue on the baseline terms and the spend (dof-corrected)."""
        design = np.column_stack([self.linear, self.x])[mask]
        coef = np.linalg.lstsq(design, y[mask], rcond=None)[0]
        resid = y[mask] - design @ coef
        return float(np.sqrt(resid @ resid / max(len(resid) - design.shape[1], 1))) or 1e-6

    def curve_params(self, u: np.ndarray, y_scale: float) -> list[CurveParams]:
        """Channel curves in original units (β in revenue per period, K in spend per period)."""
        decay, k, n, _ = self.natural(u)
        beta = self.betas(u, self.saturations(u)) * y_scale
        return [CurveParams(float(beta[j]), float(decay[j]), float(k[j] * self.x_scale[j]), float(n[j]),
                            self.families[j]) for j in range(self.c)]

    def draw_params(self, draws: np.ndarray, y_scale: float) -> np.ndarray:
        """(draws, channels, 4) of β, θ, K, n in original units for (draws, free parameters)."""
        out = np.empty((len(draws), self.c, 4))
        for i, u in enumerate(draws):
            decay, k, n, _ = self.natural(u)
            out[i] = np.column_stack([self.betas(u, self.saturations(u)) * y_scale, decay, k * self.x_scale, n])
        return out
