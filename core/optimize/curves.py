"""The media response model shared by the demo generator, the fitter and the allocator.

    contribution_t = beta · saturation(adstock(spend)_t; K, n)

Two saturation families share the parameters (K, n): Hill, x^n/(x^n + K^n), and a logistic
normalized to run from 0 at no spend to 1 at saturation, with its inflection at K and steepness
n (see `logistic`). Hill is the default; the fitter picks one per channel.

Adstock is geometric and *normalized* (weights sum to 1), so a constant weekly spend s has a
steady-state adstock of exactly s: the allocator can then reason about a spend rate directly,
with response(s) = beta · hill(s). Hill is concave for n ≤ 1 and S-shaped for n > 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from scipy.signal import lfilter

from core.optimize import logistic_branch


def geometric_adstock(spend: np.ndarray, decay: float) -> np.ndarray:
    """Carry-over a_t = (1 − θ)·x_t + θ·a_{t−1} along the first axis (a_{−1} = 0)."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"adstock decay must be in [0, 1), got {decay}")
    x = np.asarray(spend, dtype=float)
    return lfilter([1.0 - decay], [1.0, -decay], x, axis=0)


def hill(x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """x^n / (x^n + K^n), in [0, 1); 0 at x = 0 and ½ at x = K."""
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    # Written as 1 / (1 + (K/x)^n) to stay finite for large x; x = 0 maps to 0.
    with np.errstate(divide="ignore", over="ignore"):
        ratio = np.where(x > 0, (half_saturation / np.where(x > 0, x, 1.0)) ** shape, np.inf)
    return 1.0 / (1.0 + ratio)


def logistic(x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """(σ(n(x/K − 1)) − σ(−n)) / (1 − σ(−n)) with σ the logistic function: 0 at x = 0, → 1 as x → ∞.

    K is the inflection point (where the curve is steepest) and n its steepness; the curve is convex
    below K and concave above, so it is S-shaped for any n > 0 (barely so for small n).
    """
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    floor = _expit(np.asarray(-shape, dtype=float))
    return (_expit(shape * (x / half_saturation - 1.0)) - floor) / (1.0 - floor)


def logistic_derivative(x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """d logistic / dx = (n/K)·σ'(u) / (1 − σ(−n)), u = n(x/K − 1)."""
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    s = _expit(shape * (x / half_saturation - 1.0))
    floor = _expit(np.asarray(-shape, dtype=float))
    return (shape / half_saturation) * s * (1.0 - s) / (1.0 - floor)


FAMILIES = ("hill", "logistic")


def saturation(family: str, x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """The named family's saturation at x: `hill` or `logistic`."""
    if family == "hill":
        return hill(x, half_saturation, shape)
    if family == "logistic":
        return logistic(x, half_saturation, shape)
    raise ValueError(f"unknown saturation family {family!r}; expected one of {FAMILIES}")


def saturation_derivative(family: str, x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """d saturation / dx of the named family."""
    if family == "hill":
        return hill_derivative(x, half_saturation, shape)
    if family == "logistic":
        return logistic_derivative(x, half_saturation, shape)
    raise ValueError(f"unknown saturation family {family!r}; expected one of {FAMILIES}")


def hill_derivative(x: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """d hill / dx = n·K^n·x^(n−1) / (x^n + K^n)²."""
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    k, n = half_saturation, shape
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = hill(x, k, n)
        d = np.where(x > 0, n * h * (1.0 - h) / np.where(x > 0, x, 1.0), 0.0)
    if n < 1:  # infinite slope at zero for n < 1
        d = np.where(x > 0, d, np.inf)
    elif n == 1:
        d = np.where(x > 0, d, 1.0 / k)
    return d


@dataclass(frozen=True)
class CurveParams:
    """Parameters of one brand × channel response curve."""

    beta: float  # outcome at full saturation, per period
    decay: float  # adstock θ in [0, 1)
    half_saturation: float  # K: spend rate (per period) giving half of beta (Hill) or the inflection (logistic)
    shape: float  # Hill exponent n (> 1 is S-shaped) or the logistic's steepness
    family: str = "hill"  # "hill" or "logistic" (see `saturation`)

    def response(self, spend_rate: np.ndarray) -> np.ndarray:
        """Steady-state outcome per period for a constant spend rate."""
        return self.beta * saturation(self.family, spend_rate, self.half_saturation, self.shape)

    def marginal(self, spend_rate: np.ndarray) -> np.ndarray:
        """d response / d spend: the marginal ROI at that spend rate."""
        return self.beta * saturation_derivative(self.family, spend_rate, self.half_saturation, self.shape)

    def contribution(self, spend: np.ndarray) -> np.ndarray:
        """Outcome contributed in each period by a spend series, carry-over included."""
        return self.beta * saturation(self.family, geometric_adstock(spend, self.decay), self.half_saturation,
                                      self.shape)

    def to_dict(self) -> dict[str, float | str]:
        return {k: (v if k == "family" else float(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> CurveParams:
        """Read stored params; rows written before the logistic family existed are Hill curves."""
        family = str(data.get("family", "hill"))
        if family not in FAMILIES:
            raise ValueError(f"unknown saturation family {family!r}")
        return cls(**{k: float(data[k]) for k in ("beta", "decay", "half_saturation", "shape")}, family=family)


@dataclass(frozen=True)
class CurveArrays:
    """Many steady-state response curves at once (one per cell), for the vectorized allocator.

    Arrays broadcast: shape (n,) for one portfolio, (draws, n) for bootstrap draws of it. `logistic`
    marks the cells of the logistic family (default: every cell is Hill). `concave()` cells are Hill
    with shape ≤ 1; S-shaped cells (Hill shape > 1, every logistic) are handled by the allocator
    through their concave envelope (see envelope.py).
    """

    beta: np.ndarray
    half_saturation: np.ndarray
    shape: np.ndarray
    logistic: np.ndarray | None = None

    def __post_init__(self) -> None:
        b, k, n = (np.asarray(a, dtype=float) for a in (self.beta, self.half_saturation, self.shape))
        lg = np.asarray(False if self.logistic is None else self.logistic, dtype=bool)
        b, k, n, lg = np.broadcast_arrays(b, k, n, lg)
        if np.any(b < 0) or np.any(k <= 0) or np.any(n <= 0):
            raise ValueError("curves need beta ≥ 0, half_saturation > 0 and shape > 0")
        object.__setattr__(self, "beta", b)
        object.__setattr__(self, "half_saturation", k)
        object.__setattr__(self, "shape", n)
        object.__setattr__(self, "logistic", lg)

    @classmethod
    def from_params(cls, params: list[CurveParams]) -> CurveArrays:
        return cls(
            np.array([p.beta for p in params]),
            np.array([p.half_saturation for p in params]),
            np.array([p.shape for p in params]),
            np.array([p.family == "logistic" for p in params], dtype=bool),
        )

    @property
    def size(self) -> int:
        return int(self.beta.shape[-1])

    @cached_property
    def _any_logistic(self) -> bool:
        """Whether any cell is logistic: pure-Hill arrays skip every logistic computation."""
        return bool(self.logistic.any())

    def families(self) -> list[str]:
        """The family name of each cell (last axis)."""
        flags = self.logistic if self.logistic.ndim == 1 else self.logistic.reshape(-1, self.size)[0]
        return ["logistic" if f else "hill" for f in flags.tolist()]

    def subset(self, mask: np.ndarray) -> CurveArrays:
        return CurveArrays(self.beta[..., mask], self.half_saturation[..., mask], self.shape[..., mask],
                           self.logistic[..., mask])

    def concave(self) -> np.ndarray:
        return (self.shape <= 1.0) & ~self.logistic

    def steep_at_zero(self) -> np.ndarray:
        """Cells whose marginal is infinite at zero spend (Hill with shape < 1)."""
        return (self.shape < 1.0) & ~self.logistic

    def response(self, x: np.ndarray) -> np.ndarray:
        """β·saturation(x) per cell, vectorized over cells (and draws)."""
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        with np.errstate(divide="ignore"):
            u = self.shape * (np.log(x) - np.log(self.half_saturation))
        out = self.beta * _expit(u)
        if self._any_logistic:
            out = np.where(self.logistic, logistic_branch.response(self.beta, self.half_saturation, self.shape, x), out)
        return out

    def marginal(self, x: np.ndarray) -> np.ndarray:
        """d response / dx (the marginal ROI); Hill: β·n·h(1 − h)/x, +inf at 0 when n < 1."""
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.shape * (np.log(x) - np.log(self.half_saturation))
            h = _expit(u)
            d = self.beta * self.shape * h * (1.0 - h) / x
        at_zero = np.where(self.shape < 1, np.inf, np.where(self.shape == 1, self.beta / self.half_saturation, 0.0))
        out = np.where(x > 0, d, at_zero)
        if self._any_logistic:
            out = np.where(self.logistic, logistic_branch.marginal(self.beta, self.half_saturation, self.shape, x), out)
        return out

    def envelope_response(self, x: np.ndarray) -> np.ndarray:
        """The concave envelope at x: the ray (marginal cap)·x below an S-curve's tangent point, the curve beyond."""
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        with np.errstate(invalid="ignore"):
            ray = self.marginal_cap() * x
        return np.where(~self.concave() & (x < self.tangent_point()), ray, self.response(x))

    @cached_property
    def _tangent(self) -> np.ndarray:
        n = self.shape
        with np.errstate(invalid="ignore", divide="ignore"):
            xs = self.half_saturation * np.where(n > 1, n - 1.0, 0.0) ** (1.0 / n)
        xs = np.where(n > 1, xs, 0.0)
        if self._any_logistic:
            xs = np.where(self.logistic, logistic_branch.tangent_point(self.half_saturation, n), xs)
        return xs

    def tangent_point(self) -> np.ndarray:
        """Where the ray from the origin touches an S-curve (0 if concave): Hill x* = K·(n − 1)^(1/n), where
        hill = 1 − 1/n; logistic by a safeguarded Newton solve (logistic_branch.tangent_u)."""
        return self._tangent

    def marginal_cap(self) -> np.ndarray:
        """Largest marginal on the concave branch: +inf (n < 1), β/K (n = 1), β(1 − 1/n)/x* (n > 1);
        logistic β·L'(x*)."""
        n, b, k = self.shape, self.beta, self.half_saturation
        xs = self.tangent_point()
        with np.errstate(invalid="ignore", divide="ignore"):
            s_cap = np.where(n > 1, b * (1.0 - 1.0 / n) / np.where(xs > 0, xs, 1.0), b / k)
        cap = np.where(n < 1, np.inf, s_cap)
        if self._any_logistic:
            cap = np.where(self.logistic, logistic_branch.marginal_cap(b, k, n), cap)
        return cap

    @cached_property
    def _log_consts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ln(β·n), ln K and ln(marginal cap), reused by every inverse_marginal call."""
        with np.errstate(divide="ignore"):
            return np.log(self.beta * self.shape), np.log(self.half_saturation), np.log(self.marginal_cap())

    def inverse_marginal(self, log_lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spend x with marginal(x) = λ on the concave branch, and dx/d ln λ, all cells at once.

        Hill: Newton on y = ln x of ln marginal(y) − ln λ, which is concave in y; starting from the root
        of a linear upper bound puts the start right of the root, so the iteration converges
        monotonically (quadratically at the end) without bracketing. Logistic: closed form
        (logistic_branch.inverse_marginal). λ above the branch's marginal cap gives x = 0.
        """
        log_lam = np.broadcast_to(np.asarray(log_lam, dtype=float), self.beta.shape)
        n = self.shape
        lbn, lk, lcap = self._log_consts
        y = (lbn + n * lk - log_lam) / (n + 1.0)  # root of ln(βn) − n(y − ln K) − y − ln λ
        if np.any(n < 1):
            with np.errstate(divide="ignore", invalid="ignore"):
                ya = (log_lam - lbn + n * lk) / (n - 1.0)  # root of ln(βn) + (n − 1)y − n ln K − ln λ
            y = np.where(n < 1, np.minimum(y, ya), y)
        active = np.isfinite(y) & (log_lam < lcap)
        if self._any_logistic:
            active &= ~self.logistic
        y = np.where(active, y, 0.0)
        todo = np.flatnonzero(active)
        nt, lkt, lbnt, llt = n[todo], lk[todo], lbn[todo], log_lam[todo]
        for _ in range(100):
            if todo.size == 0:
                break
            yt = y[todo]
            u = nt * (yt - lkt)
            softplus, sig = _softplus_expit(u)
            f = lbnt + u - 2.0 * softplus - yt - llt
            with np.errstate(divide="ignore", invalid="ignore"):
                step = f / (nt * (1.0 - 2.0 * sig) - 1.0)
            step[~np.isfinite(step)] = 0.0
            y[todo] = yt - step
            # Quadratic convergence: a step below 1e-9 leaves an error ~1e-18 in ln x, under rounding noise.
            keep = np.abs(step) > 1e-9
            todo, nt, lkt, lbnt, llt = todo[keep], nt[keep], lkt[keep], lbnt[keep], llt[keep]
        _, sig = _softplus_expit(n * (y - lk))
        # d ln marginal / d ln x = n(1 − 2h) − 1, written so that n = 1 near x = 0 does not round to 0.
        slope = (n - 1.0) - 2.0 * n * sig
        x = np.where(active, np.exp(y), 0.0)
        dx = np.where(active, x / slope, 0.0)
        if self._any_logistic:
            lcap_l = np.where(self.logistic, lcap, -np.inf)  # Hill cells stay off the logistic branch
            lx, ldx = logistic_branch.inverse_marginal(self.beta, self.half_saturation, n, log_lam, lcap_l)
            x, dx = np.where(self.logistic, lx, x), np.where(self.logistic, ldx, dx)
        return x, dx

    def to_dict(self) -> dict[str, list]:
        return {
            "beta": self.beta.tolist(),
            "half_saturation": self.half_saturation.tolist(),
            "shape": self.shape.tolist(),
            "family": np.where(self.logistic, "logistic", "hill").tolist(),
        }


def _expit(u: np.ndarray) -> np.ndarray:
    """Logistic 1/(1 + e^−u) without overflow warnings."""
    return _softplus_expit(u)[1]


def _softplus_expit(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln(1 + e^u) and 1/(1 + e^−u) from a single exponential, stable for any u (±inf included)."""
    u = np.asarray(u, dtype=float)
    with np.errstate(invalid="ignore"):
        t = np.exp(-np.abs(u))
        softplus = np.maximum(u, 0.0) + np.log1p(t)
        sig = np.where(u >= 0, 1.0 / (1.0 + t), t / (1.0 + t))
    return softplus, sig
