"""A flighting scenario: series (brand × channel) with their fitted curves, a horizon of weeks and every limit.

Weekly limits fold into one [lo, hi] per series and week: a blackout week has hi = 0, a booked
commitment raises lo (and switches the week on, so lo ≥ the minimum-when-on there), the weekly minimum
and maximum bound the rest. A minimum weekly spend when a channel is on (x = 0 or x ≥ m) is not convex:
the solver treats it separately (core.flighting.solve). Totals are linear constraints over groups of
(series, week) entries: the total budget (spent exactly), and optionally per period (month, quarter: any
label per week), per channel and per brand (each a (min, max) range; equal ends mean exactly).

`validate` refuses what cannot hold with a sentence a marketer can act on, before any solving; clashes
only the totals together reveal are caught by a small linear feasibility check (HiGHS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from core.flighting.model import WeeklyModel, carryover_state
from core.formatting import Units
from core.optimize.curves import CurveParams
from core.optimize.problem import InfeasibleError

Range = tuple[float, float]


@dataclass(frozen=True)
class Group:
    """A linear total: Σ of the plan over `mask` within [lo, hi] (lo == hi: exactly)."""

    name: str
    mask: np.ndarray  # (series, weeks) bool
    lo: float
    hi: float


@dataclass
class FlightingProblem:
    """Inputs of a flighting plan; arrays are (series, weeks) or broadcast to it (series in `brands` order)."""

    curves: Sequence[CurveParams]
    brands: Sequence[str]
    channels: Sequence[str]
    weeks: int
    budget: float
    lower: np.ndarray | float | None = None  # weekly minimum
    upper: np.ndarray | float | None = None  # weekly maximum
    blackout: np.ndarray | None = None  # bool: no spend that week
    commitments: np.ndarray | None = None  # spend already booked (a floor)
    min_when_on: np.ndarray | float | None = None  # per series (or series × week): x = 0 or x ≥ this
    history: np.ndarray | None = None  # (series, past weeks) spend, oldest first: the carry-over in
    carry_in: np.ndarray | None = None  # adstock at the start, overrides `history`
    week_weight: np.ndarray | None = None  # value of a week's outcome (1: the fitted model)
    carryover_out: bool = False  # count the outcome the plan's adstock brings after the horizon
    periods: Sequence[str | Sequence[str]] | None = None  # per week its label(s) ("2027-01", "2027-Q1")
    period_budgets: Mapping[str, Range] = field(default_factory=dict)
    channel_budgets: Mapping[str, Range] = field(default_factory=dict)
    brand_budgets: Mapping[str, Range] = field(default_factory=dict)
    units: Units | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.curves), int(self.weeks)

    def label(self, s: int) -> str:
        return f"{self.brands[s]} · {self.channels[s]}"

    def money(self, value: float) -> str:
        return (self.units or Units()).money(value)

    def _grid(self, value: np.ndarray | float | None, default: float, what: str) -> np.ndarray:
        """`value` broadcast to (series, weeks); a 1-d value is per series."""
        if value is None:
            return np.full(self.shape, default)
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1 and len(arr) == self.shape[0]:
            arr = arr[:, None]
        try:
            return np.broadcast_to(arr, self.shape).astype(float)
        except ValueError:
            raise InfeasibleError(f"the {what} need one row per brand and channel and one column per week "
                                  f"({self.shape[0]} × {self.shape[1]})") from None

    def on_minimum(self) -> np.ndarray:
        return self._grid(self.min_when_on, 0.0, "minimum weekly spends")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per series and week with blackouts, commitments and the minimum-when-on folded in."""
        lo = self._grid(self.lower, 0.0, "weekly minimums")
        hi = self._grid(self.upper, np.inf, "weekly maximums")
        booked = self._grid(self.commitments, 0.0, "commitments")
        on_min = self.on_minimum()
        lo = np.maximum(lo, booked)
        lo = np.where(lo > 0, np.maximum(lo, on_min), lo)  # a week with spend required is on
        if self.blackout is not None:
            hi = np.where(self._grid(self.blackout, 0.0, "blackout weeks") > 0, 0.0, hi)
        return lo, hi

    def groups(self) -> list[Group]:
        """The total budget (exact) and every period, channel and brand range, as masks over the plan."""
        s, t = self.shape
        out = [Group("total budget", np.ones((s, t), bool), float(self.budget), float(self.budget))]
        if self.period_budgets:
            labels = [{w} if isinstance(w, str) else set(w) for w in (self.periods or [])]
            if len(labels) != t:
                raise InfeasibleError(f"period budgets need a period for each of the {t} weeks")
            for name, rng in self.period_budgets.items():
                inside = np.array([name in w for w in labels])
                if not inside.any():
                    raise InfeasibleError(f"the budget for {name} names a period with no week in the plan")
                out.append(Group(f"period {name}", np.broadcast_to(inside, (s, t)).copy(), *_range(rng)))
        for attr, key in (("channel_budgets", self.channels), ("brand_budgets", self.brands)):
            names = np.asarray(key, dtype=object)
            for name, rng in getattr(self, attr).items():
                kind = attr.split("_")[0]
                if name not in set(names):
                    raise InfeasibleError(f"the {kind} budget names {name!r}, which is not in the plan")
                out.append(Group(f"{kind} {name}", np.broadcast_to((names == name)[:, None], (s, t)).copy(),
                                 *_range(rng)))
        return out

    def model(self, envelope: bool = False) -> WeeklyModel:
        carry = self.carry_in
        if carry is None and self.history is not None:
            carry = carryover_state(np.asarray(self.history, dtype=float), np.array([c.decay for c in self.curves]))
        return WeeklyModel(self.curves, self.weeks, carry, self.week_weight, self.carryover_out, envelope=envelope)

    def validate(self) -> tuple[np.ndarray, np.ndarray, list[Group]]:
        """(lo, hi, groups) once every input is checked; InfeasibleError (a reason to act on) otherwise."""
        s, t = self.shape
        if s == 0 or t < 1:
            raise InfeasibleError("a plan needs at least one channel and one week")
        if not (len(self.brands) == len(self.channels) == s):
            raise InfeasibleError("each response curve needs its brand and channel")
        if not np.isfinite(self.budget) or self.budget <= 0:
            raise InfeasibleError("the budget must be a positive amount")
        lo, hi = self.bounds()
        booked = self._grid(self.commitments, 0.0, "commitments")
        for arr, what, inf_ok in ((lo, "weekly minimums", False), (hi, "weekly maximums", True),
                                  (booked, "commitments", False), (self.on_minimum(), "minimum weekly spends", False)):
            if np.any(np.isnan(arr)) or np.any(arr < 0) or (not inf_ok and np.any(np.isinf(arr))):
                raise InfeasibleError(f"the {what} must be amounts of zero or more")
        if self.history is not None and np.any(np.asarray(self.history, dtype=float) < 0):
            raise InfeasibleError("the spend history must be amounts of zero or more")
        self._check_weeks(lo, hi, booked)
        groups = self.groups()
        self._check_totals(lo, hi, groups)
        return lo, hi, groups

    def _check_weeks(self, lo: np.ndarray, hi: np.ndarray, booked: np.ndarray) -> None:
        blocked = self.blackout is not None and np.any((booked > 0) & (self._grid(self.blackout, 0, "") > 0))
        if blocked:
            s, t = np.argwhere((booked > 0) & (self._grid(self.blackout, 0, "") > 0))[0]
            raise InfeasibleError(f"{self.label(s)}: {self.money(booked[s, t])} is booked in week {t + 1}, "
                                  f"a blackout week")
        bad = np.argwhere(lo > hi * (1 + 1e-12) + 1e-12)
        if len(bad):
            s, t = bad[0]
            raise InfeasibleError(f"{self.label(s)}, week {t + 1}: the spend required there ({self.money(lo[s, t])}, "
                                  f"from commitments, the weekly minimum or the minimum when on) is above the "
                                  f"weekly maximum ({self.money(hi[s, t])})")

    def _check_totals(self, lo: np.ndarray, hi: np.ndarray, groups: list[Group]) -> None:
        for g in groups:
            least, most = float(lo[g.mask].sum()), float(hi[g.mask].sum())
            if g.lo > g.hi:
                raise InfeasibleError(f"the {g.name}: its minimum {self.money(g.lo)} is above its maximum "
                                      f"{self.money(g.hi)}")
            if least > g.hi * (1 + 1e-12) + 1e-9:
                raise InfeasibleError(f"the {g.name} ({self.money(g.hi)}) is below the {self.money(least)} "
                                      f"already booked or required by weekly minimums")
            if most < g.lo * (1 - 1e-12) - 1e-9:
                raise InfeasibleError(f"the {g.name} ({self.money(g.lo)}) is more than the weekly maximums "
                                      f"and blackout weeks allow ({self.money(most)})")
        if len(groups) > 1 and not _feasible(lo, hi, groups):
            raise InfeasibleError("the period, channel and brand budgets cannot all be met together with the "
                                  "total budget and the weekly limits; loosen one of them")


def _range(rng: Range | float) -> Range:
    if np.isscalar(rng):
        return float(rng), float(rng)  # type: ignore[arg-type]
    a, b = rng  # type: ignore[misc]
    return float(0.0 if a is None else a), float(np.inf if b is None else b)


def _feasible(lo: np.ndarray, hi: np.ndarray, groups: list[Group]) -> bool:
    """Whether some plan meets every total within the weekly bounds (a linear feasibility problem)."""
    free = (hi - lo) > 0
    rows, b_lo, b_hi = [], [], []
    for g in groups:
        rows.append(g.mask[free].astype(float))
        fixed = float(lo[g.mask & ~free].sum())
        b_lo.append(g.lo - fixed)
        b_hi.append(g.hi - fixed)
    a = np.array(rows)
    b_lo, b_hi = np.array(b_lo), np.array(b_hi)
    scale = max(float(np.max(np.abs(b_lo[np.isfinite(b_lo)]), initial=1.0)), 1.0)
    ub_rows = np.vstack([a[np.isfinite(b_hi)], -a])
    ub = np.r_[b_hi[np.isfinite(b_hi)], -b_lo] / scale
    hi_f = hi[free] / scale
    res = linprog(np.zeros(a.shape[1]), A_ub=ub_rows, b_ub=ub + 1e-9,
                  bounds=list(zip(lo[free] / scale, np.where(np.isfinite(hi_f), hi_f, None), strict=True)),
                  method="highs")
    return bool(res.status == 0)
