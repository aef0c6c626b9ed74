"""The weekly response model a flighting plan is scored on: the fit's own model, week by week.

The fit (core/optimize/fit_model.Model) estimates, per channel j of a brand,

    media_jt = β_j · s_j(a_jt; K_j, n_j),   a_jt = (1 − θ_j)·x_jt + θ_j·a_j,t−1   (normalized geometric adstock)

with the adstock started at a_j,−1 = the mean spend of the first BURN_IN weeks (8), no lags beyond the
geometric carry-over, s_j Hill or the normalized logistic (core/optimize/curves.py), β in outcome per
week and K in spend per week (`Model.curve_params`). Its seasonality (two yearly Fourier harmonics), trend,
intercept and controls are *additive* baseline terms: they do not multiply the media, so they add the
same amount to every plan and move none. The planner's outcome is therefore

    outcome = Σ_series Σ_t w_t · β · s(A_t)  [+ Σ_{k≥1} w_tail · β · s(θ^k · A_{T−1})  if carryover out counts]

    A_t = θ^{t+1} · a_in + Σ_{u≤t} (1 − θ) θ^{t−u} x_u        (A = a_in·θ^{t+1} + L·x, L lower-triangular Toeplitz)

where a_in is the adstock left by the spend history (`carryover_state`, the fit's recursion run over the
history from the fit's burn-in start) and w_t are week weights, 1 for the fitted model (a planner may
weight weeks, e.g. with a multiplicative seasonality; nothing in the fit produces one). The tail past the
horizon runs until its terms fall below 1e-13 of the first (at most TAIL_MAX weeks). For concave s (Hill
n ≤ 1) every term is a concave non-decreasing function of a linear map of x, so the outcome is concave in
the weekly spends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from core.optimize.curves import CurveArrays, CurveParams

BURN_IN_WEEKS = 8  # core.optimize.fit_model.BURN_IN["W"]: the fit's adstock starts at the mean of these weeks
TAIL_MAX = 2000  # weeks of carry-over past the horizon counted at most
_BIG = 1e300  # stands for an infinite slope (Hill n < 1 at zero adstock) so that 0·slope stays 0


def carryover_state(history: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Adstock after the last history week, per series: the fit's recursion from its burn-in start.

    `history` is (series, weeks) of past weekly spend, oldest first; an empty history leaves no carry-over.
    """
    h = np.asarray(history, dtype=float)
    theta = np.asarray(decay, dtype=float)
    if h.ndim != 2 or h.shape[1] == 0:
        return np.zeros(len(theta))
    a = h[:, :BURN_IN_WEEKS].mean(axis=1)
    for t in range(h.shape[1]):
        a = (1.0 - theta) * h[:, t] + theta * a
    return a


def _sat(logistic: np.ndarray, k: np.ndarray, n: np.ndarray, a: np.ndarray, order: int) -> list[np.ndarray]:
    """Saturation and its first `order` derivatives at adstock a (Hill or normalized logistic per series)."""
    a = np.maximum(a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = expit(n * (np.log(a) - np.log(k)))
        hq = h * (1.0 - h)
        d1 = np.where(a > 0, n * hq / a, np.where(n < 1, _BIG, np.where(n == 1, 1.0 / k, 0.0)))
        d2 = np.where(a > 0, n * hq * (n * (1.0 - 2.0 * h) - 1.0) / a**2,
                      np.where(n < 1, -_BIG, np.where(n == 1, -2.0 / k**2, 0.0)))
        if np.any(logistic):
            u = n * (a / k - 1.0)
            s, top, floor = expit(u), expit(n), expit(-n)
            q = s * expit(-u)
            h = np.where(logistic, (s - floor) / top, h)
            d1 = np.where(logistic, (n / k) * q / top, d1)
            d2 = np.where(logistic, (n / k) ** 2 * q * (1.0 - 2.0 * s) / top, d2)
    return [h, np.minimum(d1, _BIG), np.maximum(d2, -_BIG)][: order + 1]


class WeeklyModel:
    """Outcome, gradient and Hessian blocks of a plan x (series × weeks), vectorized over series."""

    def __init__(self, curves: Sequence[CurveParams], weeks: int, carry_in: np.ndarray | None = None,
                 week_weight: np.ndarray | None = None, carryover_out: bool = False, tail_weight: float = 1.0,
                 envelope: bool = False) -> None:
        self.curves = list(curves)
        s = len(self.curves)
        self.weeks = t = int(weeks)
        col = lambda name: np.array([float(getattr(c, name)) for c in self.curves])[:, None]  # noqa: E731
        self.beta, self.theta, self.k, self.n = col("beta"), col("decay"), col("half_saturation"), col("shape")
        self.logistic = np.array([c.family == "logistic" for c in self.curves])[:, None]
        self.carry_in = np.zeros(s) if carry_in is None else np.asarray(carry_in, dtype=float).reshape(s)
        self.w = np.ones(t) if week_weight is None else np.asarray(week_weight, dtype=float).reshape(t)
        lag = np.arange(t)[:, None] - np.arange(t)[None, :]
        th = self.theta[:, :, None]
        self.L = np.where(lag >= 0, (1.0 - th) * th ** np.maximum(lag, 0), 0.0)  # (S, T, T)
        self.inflow = self.carry_in[:, None] * self.theta ** (np.arange(t)[None, :] + 1)  # history's carry-over
        self.carryover_out = bool(carryover_out)
        # Hill's tail terms fall like θ^(n·k) (s(a) ~ (a/K)^n at small a): run until that is below 1e-13.
        with np.errstate(divide="ignore"):
            rate = np.min(self.n, initial=1.0) * -np.log(np.clip(self.theta, 1e-12, None))
        kmax = int(min(TAIL_MAX, np.ceil(np.log(1e13) / max(float(rate.min(initial=np.inf)), 1e-3))))
        self.tail = self.theta ** np.arange(1, max(kmax, 1) + 1)[None, :] if carryover_out else np.zeros((s, 0))
        self.tail_weight = float(tail_weight)
        self.envelope = envelope
        if envelope:
            arr = CurveArrays(np.ones(s), self.k[:, 0], self.n[:, 0], self.logistic[:, 0])
            self.tangent = arr.tangent_point()[:, None]
            self.cap = np.where(arr.concave(), np.inf, arr.marginal_cap())[:, None]  # β = 1: slope of the ray

    @property
    def concave(self) -> np.ndarray:
        """Series whose saturation is concave (Hill n ≤ 1): the exact solver's domain."""
        return ((self.n <= 1.0) & ~self.logistic)[:, 0]

    def adstock(self, x: np.ndarray) -> np.ndarray:
        return self.inflow + np.einsum("stu,su->st", self.L, x)

    def _g(self, a: np.ndarray, order: int) -> list[np.ndarray]:
        """s(a) and derivatives, or on the concave envelope (ray of slope `cap` below the tangent point)."""
        out = _sat(self.logistic, self.k, self.n, a, order)
        if not self.envelope:
            return out
        ray = np.isfinite(self.cap) & (a < self.tangent)
        cap = np.where(np.isfinite(self.cap), self.cap, 0.0)
        parts = [cap * np.maximum(a, 0.0), np.broadcast_to(cap, a.shape), np.zeros_like(a)]
        return [np.where(ray, p, o) for p, o in zip(parts[: order + 1], out, strict=True)]

    def _terms(self, x: np.ndarray, order: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Adstock, weighted in-horizon terms [w·β·s, w·β·s', ...] and tail terms as functions of A_{T−1}."""
        a = self.adstock(x)
        g = [self.w * self.beta * d for d in self._g(a, order)]
        if not self.carryover_out:
            return a, g, [np.zeros(len(a))] * (order + 1)
        last = a[:, -1:] * self.tail
        gt = self._g(last, order)
        tail = [self.tail_weight * self.beta[:, 0] * (d * self.tail**i).sum(axis=1) for i, d in enumerate(gt)]
        return a, g, tail

    def outcome_parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(series × weeks outcome inside the horizon, per-series outcome after it)."""
        _, g, tail = self._terms(np.asarray(x, dtype=float), 0)
        return g[0], tail[0]

    def outcome(self, x: np.ndarray) -> float:
        inside, after = self.outcome_parts(x)
        return float(inside.sum() + after.sum())

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """d outcome / d x_su = Σ_{t≥u} L_tu·(w_t β s'(A_t)) (+ tail through A_{T−1}): a reversed convolution."""
        _, g, tail = self._terms(np.asarray(x, dtype=float), 1)
        d = g[1].copy()
        d[:, -1] += tail[1]
        return np.einsum("stu,st->su", self.L, d)

    def hessian(self, x: np.ndarray, concave_part: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(gradient, per-series Hessian blocks Lᵀ·diag(w β s''(A))·L), the latter (S, T, T), negative semidefinite
        for concave curves; `concave_part` drops the convex part of S-curves (s'' > 0) to keep it so."""
        _, g, tail = self._terms(np.asarray(x, dtype=float), 2)
        d1, d2 = g[1].copy(), g[2].copy()
        d1[:, -1] += tail[1]
        d2[:, -1] += tail[2]
        if concave_part:
            d2 = np.minimum(d2, 0.0)
        grad = np.einsum("stu,st->su", self.L, d1)
        hess = np.matmul(self.L.transpose(0, 2, 1), self.L * d2[:, :, None])
        return grad, hess
