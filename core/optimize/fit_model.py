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
    # ln(channel ROAS / brand revenue-per-spend) = the brand's level μ ~ N(ln 0.2, 1.1) + the channel's own
    # deviation ~ N(0, 1.0): per channel the same N(ln 0.2, 1.5) as independent priors, but channels of one
    # brand share their level, so a channel the data say little about leans on its brand's other channels.
    "roas_ratio": (float(np.log(0.2)), 1.1),
    "roas_spread": (0.0, 1.0),
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

    def jacobian(self, u: np.ndarray, y: np.ndarray, mask: np.ndarray, central: bool = False) -> np.ndarray:
        """d residuals / d u: finite differences channel by channel (a channel's parameters move only its
        own column), exact for the linear terms; C times cheaper than differencing the whole model.

        Forward differences (error ~1e-8) for the search; `central` ones (error ~1e-11, twice the cost) for
        the polish, whose optimum is only as exact as the gradient J·r it zeroes.
        """
        c, nn = self.c, self.n_nonlinear
        media = self.media(u)
        z0 = self.prior_z(u)
        n_data = int(mask.sum())
        jac = np.zeros((n_data + len(z0) + len(self.experiments), len(u)))
        jac[:n_data, nn:] = self.linear[mask] / self.sigma
        for j in range(c):
            idx = [j, c + j, 2 * c + j, 3 * c + j]
            for i in idx:
                h = (6e-6 if central else 1.5e-8) * max(1.0, abs(u[i]))
                d_media, d_prior = self._step(j, idx, i, u, h, media[:, j], z0)
                if central:
                    back_media, back_prior = self._step(j, idx, i, u, -h, media[:, j], z0)
                    d_media, d_prior = (d_media + back_media) / 2, (d_prior + back_prior) / 2
                jac[:n_data, i] = d_media[mask] / self.sigma
                jac[n_data : n_data + len(z0), i] = d_prior
                jac[n_data + len(z0) :, i] = [d_media[s : e + 1].sum() / se if k == j else 0.0
                                              for k, s, e, _, se in self.experiments]
        return jac

    def _step(self, j: int, idx: list[int], i: int, u: np.ndarray, h: float, media_j: np.ndarray,
              z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-sided difference quotients of channel j's media and of the prior rows for a step h in u[i]."""
        v = u[idx].copy()
        v[idx.index(i)] += h
        up = u.copy()
        up[i] += h
        return (self._channel_media(j, v) - media_j) / h, (self.prior_z(up) - z0) / h

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
            elif key == "roas_ratio" and key in self.priors:
                out.append(self._roas_z(block))
            elif key in self.priors:
                m, sd = self.priors[key]
                out.append((block - m) / sd)
        return np.concatenate(out) if out else np.zeros(0)

    def _roas_z(self, r: np.ndarray) -> np.ndarray:
        """Whitened deviations of the channels' ln ρ under the pooled prior (see PRIORS).

        ln ρ_j = μ + e_j, μ ~ N(m, s²) the brand's level, e_j ~ N(0, τ²) each channel's own: jointly
        N(m·1, τ²I + s²11ᵀ), whose inverse square root is (I − P)/τ + P/√(τ² + c·s²), P = 11ᵀ/c (the
        same for any channel order). Without "roas_spread" the channels are independent N(m, s²).
        """
        m, s = self.priors["roas_ratio"]
        d = r - m
        if "roas_spread" not in self.priors:
            return d / s
        tau = self.priors["roas_spread"][1]
        mean = float(d.mean())
        return (d - mean) / tau + mean / np.sqrt(tau**2 + len(d) * s**2)

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

    def polish(self, y: np.ndarray, mask: np.ndarray, u0: np.ndarray, max_nfev: int = 200) -> Any:
        """The MAP to the last bits, from a converged fit `u0`: stops only when a step no longer moves u.

        A cost-drop (ftol) or gradient (gtol) stop leaves u where the objective is flat to that tolerance,
        up to ~1e-4 off along a direction the data barely constrain, and where exactly depends on the last
        bits of the scaled data: spend × 1000 moved a benchmark brand's largest channel's ROAS by 4e-5.
        Stopping on the step alone (central-difference Jacobian) puts both runs on the same optimum to
        ~1e-7; slow brands need more than 60 evaluations for it (a 7-channel one stopped 2.6e-6 apart).
        """
        return least_squares(self.residuals, u0, jac=self._central_jacobian, bounds=(self.lower, self.upper),
                             x_scale="jac", max_nfev=max_nfev, args=(y, mask), ftol=None, gtol=None, xtol=1e-14)

    def _central_jacobian(self, u: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.jacobian(u, y, mask, central=True)

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
