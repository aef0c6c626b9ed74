"""Concave envelopes of S-shaped response curves, and turning envelope solutions into real ones.

The concave hull of an S-curve (β·hill(x) with n > 1, or any β·logistic(x)) is the ray m*·x from 0 to
the tangent point x* (Hill: where hill = 1 − 1/n; logistic: curves.logistic_branch) and the curve
itself beyond. Allocating on envelopes is a concave problem the exact
allocator solves; its value bounds the real optimum from above and its solution seeds the genetic
search once the cells left on the ray are made "all or nothing".
"""

from __future__ import annotations

import numpy as np

from core.optimize.allocate import _exact_x
from core.optimize.problem import AllocationProblem, InfeasibleError


def polish(problem: AllocationProblem, x: np.ndarray, budget: float, on_min: np.ndarray) -> np.ndarray | None:
    """Best spend for the active set of `x`: exact on each active cell's concave part.

    Active S-shaped cells are held at or above their tangent point, where the curve is concave and
    equals its envelope, so the exact allocator returns the optimum for that set of cells. Returns None
    when that set cannot absorb the budget within its bounds.
    """
    lo, hi = problem.cell_bounds()
    active = x > lo + 1e-12 * max(budget, 1.0)
    floor = np.maximum(np.where(active, np.maximum(on_min, problem.curves.tangent_point()), lo), lo)
    floor = np.where(active & (floor > hi), np.maximum(on_min, lo), floor)
    upper = np.where(active, hi, lo)
    sub = AllocationProblem(
        problem.curves, problem.brands, problem.channels, lower=floor, upper=upper,
        brand_bounds=problem.brand_bounds, channel_bounds=problem.channel_bounds,
    )
    try:
        return _exact_x(sub, budget, True, 1e-12)[0]
    except InfeasibleError:
        return None
