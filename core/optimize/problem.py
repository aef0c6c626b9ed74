"""The budget-allocation problem: cells (brand × channel), their curves and every constraint.

One object is shared by the exact allocator, the genetic search and the risk front, so that all
three read bounds the same way: per-cell bounds, locked cells and the ±% change cap fold into one
[lo, hi] per cell; brand and channel totals stay as group bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from core.optimize.curves import CurveArrays


class InfeasibleError(ValueError):
    """The constraints cannot all hold; `reason` says which ones clash."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class AllocationProblem:
    """Inputs of an allocation scenario; arrays are per cell, in the order of `brands`/`channels`."""

    curves: CurveArrays
    brands: Sequence[str]
    channels: Sequence[str]
    current: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    locked: np.ndarray | None = None  # bool per cell: keep the current spend
    max_change: float | None = None  # fraction: 0.3 keeps every free cell within ±30 % of current
    brand_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    channel_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    min_spend: np.ndarray | None = None  # on/off cells: spend is 0 or at least this (genetic search only)
    max_active_per_brand: int | None = None  # genetic search only
    unit: float | None = None  # whole spend units (genetic search only)
    draws: CurveArrays | None = None  # bootstrap draws, arrays of shape (draws, cells), for intervals

    def __post_init__(self) -> None:
        n = self.curves.size
        self.brands = np.asarray(self.brands, dtype=str)
        self.channels = np.asarray(self.channels, dtype=str)
        if self.brands.shape != (n,) or self.channels.shape != (n,):
            raise ValueError(f"brands and channels need one label per cell ({n})")
        for name in ("current", "lower", "upper", "min_spend"):
            value = getattr(self, name)
            if value is not None:
                arr = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
                setattr(self, name, arr)
        if self.locked is not None:
            self.locked = np.broadcast_to(np.asarray(self.locked, dtype=bool), (n,)).copy()
        needs_current = (self.locked is not None and self.locked.any()) or self.max_change is not None
        if needs_current and self.current is None:
            raise ValueError("locked cells and max_change need the current spend")
        self.brand_names, self.brand_index = np.unique(self.brands, return_inverse=True)
        self.channel_names, self.channel_index = np.unique(self.channels, return_inverse=True)

    @property
    def n(self) -> int:
        return self.curves.size

    @property
    def has_hard_constraints(self) -> bool:
        on_off = self.min_spend is not None and bool(np.any(self.min_spend > 0))
        return on_off or self.max_active_per_brand is not None or self.unit is not None

    def labels(self, i: int) -> str:
        return f"{self.brands[i]} / {self.channels[i]}"

    def cell_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell [lo, hi] after bounds, the change cap and locks; raises when a cell's range is empty."""
        lo, hi = self.unchecked_cell_bounds()
        bad = np.flatnonzero(lo > hi * (1 + 1e-12) + 1e-12)
        if bad.size:
            i = int(bad[0])
            raise InfeasibleError(
                f"cell {self.labels(i)}: lower bound {lo[i]:.6g} exceeds upper bound {hi[i]:.6g} "
                f"after the change cap and locks ({bad.size} such cell(s))"
            )
        return lo, np.maximum(hi, lo)

    def unchecked_cell_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell [lo, hi] after bounds, the change cap and locks, possibly empty (lo > hi): for a caller
        that words the clash itself (core.plan_limits)."""
        n = self.n
        lo = np.zeros(n) if self.lower is None else np.maximum(self.lower, 0.0)
        hi = np.full(n, np.inf) if self.upper is None else self.upper.copy()
        if self.max_change is not None:
            if self.max_change < 0:
                raise ValueError("max_change is a non-negative fraction")
            lo = np.maximum(lo, self.current * (1.0 - self.max_change))
            hi = np.minimum(hi, self.current * (1.0 + self.max_change))
        if self.locked is not None and self.locked.any():
            lo = np.where(self.locked, self.current, lo)
            hi = np.where(self.locked, self.current, hi)
        return lo, hi

    def group_bounds(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(names, index per cell, lower totals, upper totals) for 'brand' or 'channel' groups."""
        names, index, given = (
            (self.brand_names, self.brand_index, self.brand_bounds)
            if kind == "brand"
            else (self.channel_names, self.channel_index, self.channel_bounds)
        )
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"{kind} bounds name unknown {kind}(s): {sorted(unknown)}")
        lower = np.array([float(given.get(g, (0.0, np.inf))[0]) for g in names])
        upper = np.array([float(given.get(g, (0.0, np.inf))[1]) for g in names])
        return names, index, lower, upper

    def total_range(self) -> tuple[float, float]:
        """Smallest and largest total spend the constraints allow; raises with the clash if none."""
        lo, hi = self.cell_bounds()
        ranges = []
        for kind in ("brand", "channel"):
            names, idx, gl, gu = self.group_bounds(kind)
            slo = np.bincount(idx, lo, len(names))
            shi = np.bincount(idx, hi, len(names))
            glo, ghi = np.maximum(gl, slo), np.minimum(gu, shi)
            bad = np.flatnonzero(glo > ghi * (1 + 1e-12) + 1e-9)
            if bad.size:
                g = int(bad[0])
                raise InfeasibleError(
                    f"{kind} {names[g]}: its total must lie in [{gl[g]:.6g}, {gu[g]:.6g}] but its cells allow "
                    f"only [{slo[g]:.6g}, {shi[g]:.6g}]"
                )
            ranges.append((float(glo.sum()), float(ghi.sum())))
        if not (self.brand_bounds and self.channel_bounds):
            return (max(r[0] for r in ranges), min(r[1] for r in ranges))
        return self._total_range_lp(lo, hi)

    def _total_range_lp(self, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
        """With brand and channel totals together, the reachable totals come from two small LPs."""
        a_ub, b_ub = self.group_rows()
        out = []
        for sign in (1.0, -1.0):
            bounds = list(zip(lo, np.where(np.isfinite(hi), hi, None), strict=True))
            res = linprog(sign * np.ones(self.n), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
            if res.status == 2:
                raise InfeasibleError("the brand totals and the channel totals cannot hold together")
            out.append(np.inf if res.status == 3 else sign * res.fun)
        return out[0], out[1]

    def group_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Brand and channel totals as A·x ≤ b rows (two per bounded group)."""
        rows, rhs = [], []
        for kind in ("brand", "channel"):
            names, idx, gl, gu = self.group_bounds(kind)
            member = np.zeros((len(names), self.n))
            member[idx, np.arange(self.n)] = 1.0
            for g in range(len(names)):
                if gl[g] > 0:
                    rows.append(-member[g])
                    rhs.append(-gl[g])
                if np.isfinite(gu[g]):
                    rows.append(member[g])
                    rhs.append(gu[g])
        if not rows:
            return np.zeros((0, self.n)), np.zeros(0)
        return np.array(rows), np.array(rhs)
