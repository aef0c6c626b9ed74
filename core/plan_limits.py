"""Why a budget plan cannot be made, in words a marketer acts on: the one place for those words.

The allocator (core.optimize) refuses an impossible problem in an engineer's terms ("cannot place
budget 5.5495e+08: no cell left to switch on"). A budget run (core.budget) checks its problem here
before any engine runs and refuses with what to change and the number that makes it possible: the
most the limits let it place, the least they make it spend, the outcome they can reach. An engine's
refusal that still gets through is worded here too. The page and the API show the same text: the
failed job's `error`.

Money and outcomes are written by core.formatting.Units, in the currency of the brands' organization.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from core.budget_inputs import BudgetInputError
from core.formatting import Units
from core.optimize.efficiency import TargetRoasError
from core.optimize.problem import AllocationProblem, InfeasibleError

SLACK = 1e-9  # a budget this close to a limit (relative) is rounding: it is placed at the limit

__all__ = ["PlanError", "check_budget", "check_limits", "check_target", "engine_refusal", "no_curves",
           "no_truth_curves", "roas_note", "roas_refusal"]


Money = Callable[[float], str]


class PlanError(InfeasibleError):
    """A plan the limits rule out; the message says what to change and by how much."""


def _apart(a: float, b: float, write: Callable[[float, int], str]) -> tuple[str, str]:
    """Two amounts printed by `write` (Units.money or Units.outcome_value) with just enough digits to
    tell them apart (₹554.9 M against ₹555 M)."""
    for digits in range(4, 10):
        first, second = write(a, digits), write(b, digits)
        if first != second:
            return first, second
    return write(a, 4), write(b, 4)


def _either(fixes: Sequence[str]) -> str:
    """ "a or b", "a, b or c": the changes a person may choose from."""
    fixes = list(dict.fromkeys(fixes))
    return fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + " or " + fixes[-1]


def _listed(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _per(problem: AllocationProblem) -> str:
    return "per channel" if len(problem.brand_names) == 1 else "per brand and channel"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g} %"


# ------------------------------------------------------------------------------------------------ data


def no_curves(brands: Sequence[str], channels: Sequence[str]) -> BudgetInputError:
    """No chosen brand × channel has spend history, so no curve to plan with."""
    return BudgetInputError(
        f"{_listed(list(brands))} spent nothing on {_listed(list(channels))}, so there is no "
        "response curve to plan with; choose channels these brands spent on."
    )


def no_truth_curves(brands: Sequence[str]) -> BudgetInputError:
    """Demo truth curves exist only for the demo's generated brands."""
    return BudgetInputError(
        f"{_listed(list(brands))} has no demo truth curves (only the demo's generated brands do); choose Fitted curves."
    )


# ------------------------------------------------------------------------------------------------ cells


def _cell_clash(problem: AllocationProblem, lo: np.ndarray, hi: np.ndarray, money: Money) -> None:
    """A cell whose minimum is above the most the cap allows (or maximum below the least)."""
    bad = np.flatnonzero(lo > hi * (1 + SLACK) + 1e-9)
    if not bad.size:
        return
    i = int(bad[0])
    cap = problem.max_change
    name = problem.labels(i)
    more = f" ({bad.size - 1} more like it)" if bad.size > 1 else ""
    if cap is not None and problem.lower is not None and problem.lower[i] > hi[i]:
        raise PlanError(
            f"{name}: its minimum {money(lo[i])} is more than the {money(hi[i])} that at most "
            f"+{_pct(cap)} allows{more}; lower the minimum or raise the cap."
        )
    if cap is not None:
        raise PlanError(
            f"{name}: its maximum {money(hi[i])} is less than the {money(lo[i])} that at most "
            f"−{_pct(cap)} keeps{more}; raise the maximum or raise the cap."
        )
    raise PlanError(f"{name}: its minimum {money(lo[i])} is more than its maximum {money(hi[i])}{more}.")


def _group_clash(problem: AllocationProblem, lo: np.ndarray, hi: np.ndarray, money: Money) -> None:
    """A brand or channel total its cells cannot reach (or cannot stay under)."""
    for kind in ("brand", "channel"):
        names, idx, gl, gu = problem.group_bounds(kind)
        least, most = np.bincount(idx, lo, len(names)), np.bincount(idx, hi, len(names))
        for g in range(len(names)):
            if gl[g] > most[g] * (1 + SLACK) + 1e-9:
                raise PlanError(
                    f"The {kind} total for {names[g]} must be at least {money(gl[g])}, but its cells may "
                    f"take at most {money(most[g])}; lower that minimum or widen the cells' limits."
                )
            if gu[g] < least[g] * (1 - SLACK) - 1e-9:
                raise PlanError(
                    f"The {kind} total for {names[g]} may be at most {money(gu[g])}, but its cells need "
                    f"at least {money(least[g])}; raise that maximum or lower the cells' minimums."
                )


def _on_off_clash(problem: AllocationProblem, hi: np.ndarray, money: Money) -> None:
    """A cell whose minimum-when-on spend is above the most it may spend."""
    if problem.min_spend is None:
        return
    bad = np.flatnonzero(problem.min_spend > hi * (1 + SLACK) + 1e-9)
    if bad.size:
        i = int(bad[0])
        raise PlanError(
            f"{problem.labels(i)}: its minimum when on, {money(problem.min_spend[i])}, is more than the "
            f"{money(hi[i])} it may spend; lower the minimum when on, or widen its limits."
        )


# ------------------------------------------------------------------------------------------------ totals


def _total_range(problem: AllocationProblem, lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """Least and most the limits let the plan spend, with at most k active channels per brand counted."""
    try:
        least, most = problem.total_range()
    except InfeasibleError:
        raise PlanError(
            "The brand totals and the channel totals cannot all hold at once; loosen one of them."
        ) from None
    k = problem.max_active_per_brand
    if k is None:
        return least, most
    active_most = 0.0
    for b in range(len(problem.brand_names)):
        cells = np.flatnonzero(problem.brand_index == b)
        forced = cells[lo[cells] > 0]
        if len(forced) > k:
            raise PlanError(
                f"{problem.brand_names[b]}: {len(forced)} channels must spend (a minimum, the cap or a "
                f"lock) but at most {k} may be active; allow more active channels or free a channel."
            )
        rest = cells[lo[cells] <= 0]
        active_most += float(hi[forced].sum() + np.sort(hi[rest])[::-1][: k - len(forced)].sum())
    return least, min(most, active_most)


def _why_most(problem: AllocationProblem, lo: np.ndarray, hi: np.ndarray) -> tuple[list[str], list[str]]:
    """What keeps the plan from spending more: (the limits in words, what to change)."""
    free = np.ones(problem.n, bool) if problem.locked is None else ~problem.locked
    parts, fixes = [], []
    if problem.max_change is not None and free.any():
        parts.append(f"at most +{_pct(problem.max_change)} {_per(problem)}")
        fixes.append("raise the cap")
    if problem.upper is not None and np.isfinite(problem.upper[free]).any():
        parts.append("the maximums you set")
        fixes.append("raise a maximum")
    if any(np.isfinite(hi_g) for _, hi_g in [*problem.brand_bounds.values(), *problem.channel_bounds.values()]):
        parts.append("the maximum totals")
        fixes.append("raise a maximum total")
    if problem.max_active_per_brand is not None:
        k = problem.max_active_per_brand
        parts.append(f"at most {k} active {'channel' if k == 1 else 'channels'} per brand")
        fixes.append("allow more active channels")
    _locks(problem, parts, fixes)
    return parts, fixes


def _why_least(problem: AllocationProblem) -> tuple[list[str], list[str]]:
    """What makes the plan spend at least this much: (the limits in words, what to change)."""
    free = np.ones(problem.n, bool) if problem.locked is None else ~problem.locked
    parts, fixes = [], []
    if problem.max_change is not None and free.any():
        parts.append(f"at most −{_pct(problem.max_change)} {_per(problem)}")
        fixes.append("widen the cap")
    if problem.lower is not None and (problem.lower[free] > 0).any():
        parts.append("the minimums you set")
        fixes.append("lower a minimum")
    if any(lo_g > 0 for lo_g, _ in [*problem.brand_bounds.values(), *problem.channel_bounds.values()]):
        parts.append("the minimum totals")
        fixes.append("lower a minimum total")
    _locks(problem, parts, fixes)
    return parts, fixes


def _locks(problem: AllocationProblem, parts: list[str], fixes: list[str]) -> None:
    n = 0 if problem.locked is None else int(problem.locked.sum())
    if n:
        parts.append(f"{n} locked {'channel' if n == 1 else 'channels'}")
        fixes.append("unlock a channel")


def check_budget(problem: AllocationProblem, budget: float, units: Units | None = None) -> float:
    """The budget to place (a rounding hair past a limit is placed at it), or PlanError saying what to change.

    Checks, in the order a person fixes them: a cell's own limits, a brand or channel total, a
    minimum-when-on spend, locked spend alone above the budget, the budget above the most or below
    the least the limits allow.
    """
    units = units or Units()
    money = partial(units.money, digits=4)
    lo, hi = problem.unchecked_cell_bounds()
    _cell_clash(problem, lo, hi, money)
    hi = np.maximum(hi, lo)
    _group_clash(problem, lo, hi, money)
    _on_off_clash(problem, hi, money)
    least, most = _total_range(problem, lo, hi)
    locked = 0.0 if problem.locked is None else float(problem.current[problem.locked].sum())
    if locked > budget * (1 + SLACK):
        spent, asked = _apart(locked, budget, units.money)
        raise PlanError(
            f"The locked channels alone spend {spent}, more than the budget of {asked}; raise the budget "
            "or unlock a channel."
        )
    if budget > most * (1 + SLACK):
        parts, fixes = _why_most(problem, lo, hi)
        most_s, asked = _apart(most, budget, units.money)
        raise PlanError(
            f"With {_listed(parts)} the most you can place is {most_s}, less than the budget of {asked}; "
            f"{_either(['lower the budget', *fixes])}."
        )
    if budget < least * (1 - SLACK):
        parts, fixes = _why_least(problem)
        least_s, asked = _apart(least, budget, units.money)
        raise PlanError(
            f"With {_listed(parts)} the least you must place is {least_s}, more than the budget of "
            f"{asked}; {_either(['raise the budget', *fixes])}."
        )
    return float(min(max(budget, least), most))


def check_limits(problem: AllocationProblem, units: Units | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """PlanError when the limits clash whatever the budget (a cell, a total, a minimum when on); else the cells'
    [lo, hi] and the least and most the plan may spend."""
    money = partial((units or Units()).money, digits=4)
    lo, hi = problem.unchecked_cell_bounds()
    _cell_clash(problem, lo, hi, money)
    hi = np.maximum(hi, lo)
    _group_clash(problem, lo, hi, money)
    _on_off_clash(problem, hi, money)
    least, most = _total_range(problem, lo, hi)
    return lo, hi, least, most


def check_target(problem: AllocationProblem, target: float, best_at: Callable[[float], float],
                 units: Units | None = None) -> None:
    """PlanError when no budget the limits allow reaches `target`; `best_at(budget)` is the best outcome there."""
    units = units or Units()
    money = partial(units.money, digits=4)
    lo, hi, _, most = check_limits(problem, units)
    if np.isfinite(most):
        best = best_at(most)
        if best < target * (1 - SLACK):
            parts, fixes = _why_most(problem, lo, hi)
            reach, asked = _apart(best, target, units.outcome_value)
            raise PlanError(
                f"With {_listed(parts)} the most the plan can reach is {reach} a year (spending "
                f"{money(most)}), less than the target of {asked}; {_either(['lower the target', *fixes])}."
            )
        return
    ceiling = float(np.sum(np.where(np.isfinite(hi), problem.curves.response(hi), problem.curves.beta)))
    if target >= ceiling * (1 - 1e-6):
        reach, asked = _apart(ceiling, target, units.outcome_value)
        raise PlanError(
            f"However much is spent, these channels level off at about {reach} a year, short of the "
            f"target of {asked}; lower the target or add channels."
        )


def roas_refusal(problem: AllocationProblem, exc: TargetRoasError, units: Units | None = None) -> PlanError:
    """A target ROAS no plan meets (core.optimize.efficiency), with the best return the limits allow."""
    units = units or Units()
    asked, best = units.roas(exc.target), units.roas(exc.best)
    if exc.kind == "low":
        return PlanError(
            f"Spending keeps returning more than {asked} beyond {units.money(exc.budget)}, so there is no budget "
            "to stop at; raise the target or set a maximum."
        )
    parts, fixes = _why_least(problem)
    if exc.kind == "overall":
        return PlanError(
            f"The best overall ROAS the limits allow is {best} (at a budget of {units.money(exc.budget, 4)}), "
            f"less than the target of {asked}; {_either(['lower the target', *fixes])}."
        )
    lo, _ = problem.cell_bounds()
    if not np.any(lo > 0):
        return PlanError(f"No channel returns {asked} even on its first {units.money(1)} of spend; the best is "
                         f"{best} ({exc.cell}). Lower the target.")
    return PlanError(
        f"With {_listed(parts)}, no channel returns {asked} on its next {units.money(1)} above the least the "
        f"limits make it spend; the best is {best} ({exc.cell}). {_either(['Lower the target', *fixes])}."
    )


def roas_note(problem: AllocationProblem, scenario: str, target: float, budget: float, outcome: float,
              units: Units | None = None) -> str | None:
    """Why a target-ROAS plan stopped at the most the limits allow, when it did, in words a marketer acts on."""
    units = units or Units()
    lo, hi = problem.cell_bounds()
    _, most = _total_range(problem, lo, hi)
    if not np.isfinite(most) or budget < most * (1 - 1e-9):
        return None
    parts, fixes = _why_most(problem, lo, hi)
    more = f"; {_either(fixes)} to spend more" if fixes else ""
    if scenario == "marginal_roas":
        return (f"Every channel reaches its limit ({_listed(parts or ['the limits'])}) before its return falls to "
                f"{units.roas(target)}: the plan is the most the limits allow, {units.money(most, 4)}{more}.")
    return (f"Even the most the limits allow, {units.money(most, 4)}, returns {units.roas(outcome / most)}, above the "
            f"target of {units.roas(target)}: the plan is the most the limits allow{more}.")


def engine_refusal(exc: InfeasibleError) -> PlanError:
    """An engine's refusal the checks above did not foresee, with what a person can do about it."""
    if isinstance(exc, PlanError):
        return exc
    return PlanError(
        f"No plan meets every limit at once ({exc.reason}); loosen the cap, a minimum, a maximum or a "
        "total and run again."
    )
