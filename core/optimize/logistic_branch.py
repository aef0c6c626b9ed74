"""The logistic saturation's pieces the allocator needs: its tangent from the origin, the marginal cap of
its concave branch and the inverse marginal on that branch, vectorized over cells (and draws).

With u = n(x/K − 1), s = σ(u) and σ(n) = 1 − σ(−n) (see curves.logistic),

    L(x) = (s − σ(−n)) / σ(n),        L'(x) = (n/K)·s(1 − s) / σ(n).

The curve is convex below its inflection K (u = 0) and concave above, for every n > 0. The concave
envelope from the origin is the ray to the tangent point x*, where L(x*)/x* = L'(x*); in u that is

    h(u) = (n + u)·s(1 − s) − (s − σ(−n)) = 0,    h'(u) = (n + u)·s(1 − s)·(1 − 2s),

with h(0) = n/4 − tanh(n/2)/2 > 0, h decreasing for u > 0 and h(n + 60) < 0: one root, found by
Newton steps kept inside a shrinking bisection bracket. On the concave branch (s ≥ ½) the inverse
marginal has a closed form: L'(x) = λ/β means s(1 − s) = c with c = λK·σ(n)/(βn), so with
r = √(1 − 4c), s = (1 + r)/2, u = ln(s/(1 − s)) = 2 ln(1 + r) − ln 4 − ln c and dx/d ln λ = −K/(n r).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

TANGENT_SPAN = 60.0  # h(n + 60) < 0 for every n > 0: e^-60 is far below the curve's floor term


def response(beta: np.ndarray, half_saturation: np.ndarray, shape: np.ndarray, x: np.ndarray) -> np.ndarray:
    """β·L(x) for x ≥ 0 (curves.logistic, with array parameters)."""
    u = shape * (x / half_saturation - 1.0)
    return beta * (expit(u) - expit(-shape)) / expit(shape)


def marginal(beta: np.ndarray, half_saturation: np.ndarray, shape: np.ndarray, x: np.ndarray) -> np.ndarray:
    """β·L'(x), with s(1 − s) taken as σ(u)·σ(−u): no cancellation far out on the flat top."""
    u = shape * (x / half_saturation - 1.0)
    return beta * (shape / half_saturation) * expit(u) * expit(-u) / expit(shape)


def tangent_u(shape: np.ndarray) -> np.ndarray:
    """u* = n(x*/K − 1) > 0 of the tangent point, per cell (depends on the steepness n only)."""
    n = np.asarray(shape, dtype=float)
    floor = expit(-n)
    a, b = np.zeros_like(n), n + TANGENT_SPAN
    u = np.full_like(n, 1.0)
    for _ in range(200):
        s, t = expit(u), expit(-u)
        p = s * t
        h = (n + u) * p - (s - floor)
        a = np.where(h > 0, u, a)
        b = np.where(h > 0, b, u)
        slope = (n + u) * p * (t - s)  # (1 − 2s) = t − s, exact for large u
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = u - h / slope
        inside = np.isfinite(newton) & (newton > a) & (newton < b)
        nxt = np.where(inside, newton, 0.5 * (a + b))
        done = np.abs(nxt - u) <= 4e-16 * np.maximum(u, 1.0)
        u = nxt
        if np.all(done):
            break
    return u


def tangent_point(half_saturation: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """x* = K(1 + u*/n): where the ray from the origin touches the curve."""
    return half_saturation * (1.0 + tangent_u(shape) / shape)


def marginal_cap(beta: np.ndarray, half_saturation: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """β·L'(x*) = β·L(x*)/x*: the slope of the envelope's ray, the largest marginal on the concave branch."""
    u = tangent_u(shape)
    return beta * (shape / half_saturation) * expit(u) * expit(-u) / expit(shape)


def inverse_marginal(
    beta: np.ndarray, half_saturation: np.ndarray, shape: np.ndarray, log_lam: np.ndarray, log_cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spend x ≥ x* with β·L'(x) = λ and dx/d ln λ; x = 0 (dx = 0) where λ is at or above the cap."""
    k, n = half_saturation, shape
    with np.errstate(divide="ignore"):
        log_c = log_lam + np.log(k) + log_expit(n) - np.log(beta * n)
    active = log_lam < log_cap
    log_c = np.where(active, log_c, -3.0)  # c < ¼ on the concave branch; inactive cells get a dummy
    c = np.exp(log_c)
    r = np.sqrt(1.0 - 4.0 * c)
    u = 2.0 * np.log1p(r) - np.log(4.0) - log_c
    x = np.where(active, k * (1.0 + u / n), 0.0)
    dx = np.where(active, -k / (n * r), 0.0)
    return x, dx
