"""The KKT conditions of a flighting plan, checked from the plan alone (no solver state is trusted).

At the optimum of max f(x) s.t. lo ≤ x ≤ hi and the totals, each binding total g has a price p_g
(d outcome / d total; ≥ 0 for a binding maximum, ≤ 0 for a binding minimum, any sign for the exact
total budget) and each week's price is the sum of its totals' prices, P_st = Σ_{g∋(s,t)} p_g. Then:
a week strictly inside its bounds has marginal ∂f/∂x_st = P_st, a week at its floor has ∂f/∂x_st ≤ P_st,
a week at its cap ∂f/∂x_st ≥ P_st. The prices are estimated by least squares on the free weeks; the
report is the largest violation relative to the typical marginal (and the plan's own infeasibility
relative to the budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.flighting.model import WeeklyModel
from core.flighting.problem import Group


@dataclass
class KktReport:
    max_violation: float  # the largest of the parts, relative
    parts: dict[str, float] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)  # binding totals' estimated prices

    @property
    def ok(self) -> bool:
        return self.max_violation <= 1e-6


def kkt_residual(model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, groups: list[Group], x: np.ndarray,
                 active_tol: float = 1e-7) -> KktReport:
    """Largest relative violation of the KKT conditions of plan `x` (0 for an exact optimum)."""
    x = np.asarray(x, dtype=float)
    grad = model.gradient(x)
    fixed = (hi - lo) <= 1e-12 * np.maximum(1.0, np.abs(lo))
    budget = max(float(max((g.hi for g in groups if np.isfinite(g.hi)), default=x.sum())), 1e-300)
    xs = budget / max(int((~fixed).sum()), 1)
    at_lo = ~fixed & (x - lo <= active_tol * xs)
    at_hi = ~fixed & ~at_lo & (hi - x <= active_tol * xs)
    inner = ~fixed & ~at_lo & ~at_hi
    totals = [float(x[g.mask].sum()) for g in groups]
    side = []  # 0 exact, +1 at its maximum, −1 at its minimum, None slack
    for g, v in zip(groups, totals, strict=True):
        if g.lo == g.hi:
            side.append(0)
        elif np.isfinite(g.hi) and g.hi - v <= active_tol * budget:
            side.append(1)
        elif g.lo - v >= -active_tol * budget and g.lo > 0:
            side.append(-1)
        else:
            side.append(None)
    active = [i for i, sd in enumerate(side) if sd is not None]
    a = np.array([groups[i].mask[inner] for i in active], dtype=float).T.reshape(int(inner.sum()), len(active))
    p = np.linalg.lstsq(a, grad[inner], rcond=None)[0] if a.size else np.zeros(len(active))
    price = np.zeros_like(x)
    for i, pi in zip(active, p, strict=True):
        price = price + pi * groups[i].mask
    scale = float(np.median(np.abs(grad[inner]))) if inner.any() else float(np.median(np.abs(grad[~fixed])))
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    diff = (grad - price) / scale
    parts = {
        "stationarity": float(np.abs(diff[inner]).max(initial=0.0)),
        "at_floor": float(np.maximum(diff[at_lo], 0.0).max(initial=0.0)),
        "at_cap": float(np.maximum(-diff[at_hi], 0.0).max(initial=0.0)),
        "price_sign": float(max((max(0.0, -side[i] * pi) / scale for i, pi in zip(active, p, strict=True)
                                 if side[i]), default=0.0)),
        "bounds": float(np.maximum(np.maximum(lo - x, x - hi), 0.0).max(initial=0.0) / xs),
        "totals": float(max((max(g.lo - v, v - g.hi, 0.0) for g, v in zip(groups, totals, strict=True)),
                            default=0.0) / budget),
    }
    prices = {groups[i].name: float(pi) for i, pi in zip(active, p, strict=True)}
    return KktReport(max(parts.values()), parts, prices)
