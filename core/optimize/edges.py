"""The best outcome's slope at the ends of the feasible budget range, where the multiplier is not unique.

At the smallest (largest) feasible budget every cell and group sits at its least (most) spend, so the
allocator's root in ln λ has a whole interval of solutions; what a marketer needs there is the
one-sided derivative of the best outcome V(B): right-hand at the smallest budget (+inf when a cell
without spend is infinitely steep at zero), left-hand at the largest. S-shaped cells count by their
concave envelope, as the exact allocator solves them.
"""

from __future__ import annotations

import numpy as np

from core.optimize.curves import CurveArrays


def _envelope_slope(curves: CurveArrays, x: np.ndarray, side: int) -> np.ndarray:
    """Right-hand (side > 0) or left-hand (side < 0) derivative of each cell's concave envelope at x."""
    tp = curves.tangent_point()
    on_ray = (x < tp) if side > 0 else (x <= tp)
    return np.where(on_ray & ~curves.concave(), curves.marginal_cap(), curves.marginal(x))


def edge_log_multiplier(
    curves: CurveArrays, lo: np.ndarray, hi: np.ndarray, groups: tuple[np.ndarray, np.ndarray, np.ndarray],
    s_groups: np.ndarray, side: int,
) -> float:
    """ln dV/dB at the smallest (side > 0, right-hand) or largest (side < 0, left-hand) feasible budget.

    Every group then sits at its least (most) total, so any λ beyond the edge value reproduces the
    allocation. The derivative is the best (worst) envelope slope among the cells that can still move
    that way, or the group's own multiplier λ_g where its total bound binds; the best (worst) over the
    groups that can move. NaN when no budget but this one is feasible.
    """
    idx, gl, gu = groups
    g = len(gl)
    room = hi > lo
    lo_t, hi_t = np.bincount(idx, lo, g), np.bincount(idx, hi, g)
    movable = np.minimum(gu, hi_t) > np.maximum(gl, lo_t) * (1 + 1e-12)
    if not movable.any():
        return float("nan")
    slope = _envelope_slope(curves, lo if side > 0 else hi, side)
    best = np.full(g, -np.inf if side > 0 else np.inf)
    (np.maximum if side > 0 else np.minimum).at(best, idx[room], slope[room])
    binds = gl > lo_t * (1 + 1e-12) if side > 0 else gu < hi_t * (1 - 1e-12)
    value = np.where(binds, np.exp(s_groups), best)[movable]
    with np.errstate(divide="ignore"):  # a zero slope (β = 0) is ln λ = −inf
        return float(np.log(value.max() if side > 0 else value.min()))
