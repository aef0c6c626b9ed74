"""The allowed range of every number a person types that reaches an optimizer, defined once.

Why one place: a spend unit of 1e-320 is finite and positive, so it passed every check and then
overflowed inside the run (budget / unit); and the API, the job kinds and the pages each kept their
own limits, so one could take what another refused. core.budget_inputs, core.jobs.builtin and the
What-if page read numbers through these ranges, and the API publishes them as its schema's bounds
(api/v1/types.py `ranged`), so a value is refused at the edge with the same plain message everywhere.

Money is annual and in the organization's own currency; the ceilings are far above any real
marketing budget yet keep every sum, ratio and step count well inside a float's exact range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_MONEY = 1e15
# Whole spend units: the budget may be split into at most this many units. A float counts whole
# units exactly far beyond this, and the repair step of the genetic search stays a short loop.
MAX_UNIT_STEPS = 1_000_000_000


class RangeError(ValueError):
    """A value that is not a number in its range; the message names the field and the allowed range."""


def show(number: float) -> str:
    """A number as a person reads it: 1,000,000 rather than 1e+06, 0.01 rather than 1.000e-02."""
    if number == int(number) and abs(number) < 1e18:
        return f"{int(number):,}"
    return f"{number:,.6g}" if abs(number) >= 1e-4 else f"{number:.3g}"


def finite(value: Any) -> float | None:
    """`value` as a finite float (a JSON number or numeric text), else None: for browser values that
    are silently ignored when bad (a slider position), where there is no field to show a message."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class NumberRange:
    """A closed range lo … hi (or lo exclusive when `above_lo`), of whole numbers when `whole`."""

    name: str
    lo: float
    hi: float
    above_lo: bool = False
    whole: bool = False

    def allowed(self) -> str:
        """The range in words, e.g. "a number from 0.01 to 1,000,000"."""
        kind = "a whole number" if self.whole else "a number"
        if self.above_lo:
            return f"{kind} above {show(self.lo)} and at most {show(self.hi)}"
        return f"{kind} from {show(self.lo)} to {show(self.hi)}"

    def problem(self, number: float, name: str | None = None) -> str | None:
        """What is wrong with an already-parsed number, or None when it is in range."""
        inside = self.lo < number if self.above_lo else self.lo <= number
        if math.isfinite(number) and inside and number <= self.hi and (not self.whole or number == int(number)):
            return None
        return f"{name or self.name}: {self.allowed()}"

    def read(self, value: Any, name: str | None = None) -> float | int | None:
        """The number in a form field, grid cell or JSON value; None when left empty.

        Thousands separators are accepted ("1,000,000"), as people type them; booleans, text,
        NaN, infinities and anything outside the range raise RangeError.
        """
        label = name or self.name
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise RangeError(f"{label}: {self.allowed()}")
        try:
            number = float(str(value).replace(",", "").replace("_", "").strip())
        except (ValueError, OverflowError):
            raise RangeError(f"{label}: {str(value)[:40]!r} is not a number; enter {self.allowed()}") from None
        message = self.problem(number, label)
        if message:
            raise RangeError(message)
        return int(number) if self.whole else number


# ------------------------------------------------------------------------------------------------ budget what-if

MONEY = NumberRange("amount", 0.0, MAX_MONEY)
BUDGET = NumberRange("budget", 0.0, MAX_MONEY)
TARGET = NumberRange("target outcome", 0.0, MAX_MONEY)
# Outcome per unit of spend (₹1.50 per ₹1 is 1.5; a count per ₹1 can be far below 1): above zero, and far above
# any return a real channel makes.
TARGET_ROAS = NumberRange("target ROAS", 0.0, 1e9, above_lo=True)
MAX_CHANGE_PCT = NumberRange("max change %", 0.0, 1000.0)
UNIT = NumberRange("spend unit", 0.01, MAX_MONEY)
MAX_ACTIVE = NumberRange("max active channels", 1, 50, whole=True)
GENERATIONS = NumberRange("generations", 10, 2000, whole=True)
FRONTIER_POINTS = NumberRange("frontier points", 3, 41, whole=True)
SEED = NumberRange("seed", 0, 2**31 - 1, whole=True)

# ------------------------------------------------------------------------------------------------ metric recommender

EFFORT_BUDGET = NumberRange("effort budget", 0.0, 100.0, above_lo=True)
RECOMMEND_K = NumberRange("number of metrics (k)", 1, 10, whole=True)
PERCENTILE_CAP = NumberRange("percentile cap", 0.0, 100.0)


def unit_steps_problem(budget: float, unit: float, *, at_least_one: bool = True) -> str | None:
    """Why `unit` cannot split `budget` into whole units, or None: at most MAX_UNIT_STEPS of them, and
    (`at_least_one`, for a budget the person chose) not a unit larger than the whole budget."""
    if budget <= 0:
        return None
    if at_least_one and unit > budget:
        return f"spend unit: {show(unit)} is larger than the whole budget of {show(budget)}"
    steps = budget / unit
    if steps > MAX_UNIT_STEPS:
        return (f"spend unit: {show(unit)} splits the budget of {show(budget)} into more than "
                f"{show(MAX_UNIT_STEPS)} units; use a unit of at least {show(math.ceil(budget / MAX_UNIT_STEPS))}")
    return None
