"""Random allocation instances and a scipy SLSQP reference shared by the optimizer tests."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from core.optimize.curves import CurveArrays
from core.optimize.problem import AllocationProblem


def random_problem(seed: int, n: int = 24, shape: tuple[float, float] = (0.4, 1.0), **kw) -> AllocationProblem:
    rng = np.random.default_rng(seed)
    curves = CurveArrays(rng.uniform(1, 10, n), rng.uniform(1, 5, n), rng.uniform(*shape, n))
    brands = [f"b{i % 4}" for i in range(n)]
    channels = [f"c{i % 3}" for i in range(n)]
    return AllocationProblem(curves, brands, channels, **kw)


def slsqp(problem: AllocationProblem, budget: float, x0: np.ndarray | None = None) -> np.ndarray:
    """Reference optimum with scipy SLSQP and analytic gradients (what Robyn and PyMC-Marketing use)."""
    lo, hi = problem.cell_bounds()
    n = problem.n
    c = problem.curves
    floor = np.maximum(lo, 1e-9)
    cons = [{"type": "eq", "fun": lambda x: np.array([x.sum() - budget]), "jac": lambda x: np.ones((1, n))}]
    a_ub, b_ub = problem.group_rows()
    if len(b_ub):
        cons.append({"type": "ineq", "fun": lambda x: b_ub - a_ub @ x, "jac": lambda x: -a_ub})
    start = np.clip(np.full(n, budget / n) if x0 is None else x0, floor, np.minimum(hi, budget))
    res = minimize(
        lambda x: -c.response(x).sum(),
        start,
        jac=lambda x: -c.marginal(x),
        bounds=list(zip(floor, np.where(np.isfinite(hi), hi, None), strict=True)),
        constraints=cons,
        method="SLSQP",
        options={"maxiter": 2000, "ftol": 1e-15},
    )
    return np.clip(res.x, lo, hi)
