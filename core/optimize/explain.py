"""Why this plan: each cell's reason from the optimality (KKT) conditions, what relaxing each binding
limit is worth, and a short plain-language summary — the same words on the page and in the PDF.

At an optimum of a concave allocation every cell either sits at a limit (its cap, its floor, a lock,
no spend at all) or returns the same marginal outcome λ per extra unit as every other free cell; a
cell whose brand or channel total binds shares that total's own multiplier instead. A free cell whose
elasticity is below SATURATED (1 % more spend adds under 0.05 % to its outcome) is called saturated.
The value of relaxing a limit is its shadow price (core.optimize.shadow) times a round step of about
1 % of the budget. Plans that are not proven optimal (S-shaped curves solved through their envelope,
the genetic search) keep their per-cell positions but get no shadow prices, and say so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.formatting import Units
from core.optimize.problem import AllocationProblem
from core.optimize.results import AllocationResult, _f
from core.optimize.shadow import (
    ActiveSet,
    Limit,
    active_set,
    binding_limits,
    finite_difference,
    improving_move,
    shadow_price,
)

SATURATED = 0.05  # elasticity x·f'/f below which a free cell counts as saturated
SAME_MARGIN = 1e-6  # relative: a free cell's marginal return this close to λ shares it
CHECK_STEP = 1e-6  # relative to the budget: the finite-difference step of the run's own check
LOCAL_TOL = 1e-6  # relative to the largest marginal return: a search result this close meets the KKT conditions

REASONS = {
    "locked": "locked",
    "cap": "at its cap",
    "floor": "at its floor",
    "off": "no spend",
    "saturated": "saturated",
    "total": "held by a total",
    "margin": "at the common marginal return",
    "free": "between its limits",
}


def round_step(budget: float) -> float:
    """The largest of 1, 2, 5 × 10ᵏ within 1 % of the budget (462 M → 2 M): the step "+2 M on its cap" speaks of."""
    if not budget > 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(budget / 100.0))
    return max(m * scale for m in (1, 2, 5) if m * scale <= budget / 100.0 * (1 + 1e-12))


def _ratio(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "unbounded" if value is not None and value > 0 else "n/a"
    return f"{value:.2f}"


class _Plan:
    """The facts the reasons and the summary read, computed once."""

    def __init__(self, problem: AllocationProblem, result: AllocationResult, step: float, units: Units) -> None:
        self.problem, self.result, self.step, self.units = problem, result, step, units
        self.x = np.asarray(result.allocation, dtype=float)
        self.optimal = result.status == "optimal"
        self.envelope = "envelope" in (result.method or "")
        curves = problem.curves
        off = ~curves.concave() & (self.x < curves.tangent_point()) & (self.x <= 0.0)
        pinned = off if not (self.optimal or self.envelope) else None
        self.act: ActiveSet = active_set(problem, self.x, result.budget, pinned)
        self.locked = problem.locked if problem.locked is not None else np.zeros(problem.n, bool)
        self.margin = np.asarray(result.marginal_roi, dtype=float)
        self.outcome = problem.curves.response(self.x)
        self.labels = self._labels()
        self.prices: dict[Limit, float | None] = {}
        self.local = not self.optimal and self._kkt_holds()
        self.kkt = self.optimal or self.local  # each cell's reason and value follow from the KKT conditions
        if self.optimal or self.local:
            self.prices = {lim: shadow_price(self.act, lim) for lim in binding_limits(self.act)}
        self.lam = self._multiplier()
        noise = SAME_MARGIN * abs(self.lam or 0.0)  # a rounding residue is no value: 0, not 6e−16
        self.prices = {k: (0.0 if v is not None and abs(v) <= noise else v) for k, v in self.prices.items()}

    def _labels(self) -> list[str]:
        brands, channels = self.problem.brands, self.problem.channels
        one = len(set(brands.tolist())) == 1
        return [str(c) if one else f"{b} · {c}" for b, c in zip(brands, channels, strict=True)]

    def _kkt_holds(self) -> bool:
        """Whether no budget-neutral move within the active limits gains (a polished search result does)."""
        scale = float(np.max(np.abs(self.act.grad), initial=0.0))
        return scale > 0 and improving_move(self.act) <= LOCAL_TOL * scale

    def _multiplier(self) -> float | None:
        """λ: the budget's shadow price where the KKT conditions hold, else the median free marginal return."""
        if self.optimal or self.local:
            lam = self.prices.get(Limit("budget", -1, "upper"))
            return lam if lam is not None else self.result.multiplier
        free = ~(self.act.at_cap | self.act.at_floor)
        return float(np.median(self.margin[free])) if free.any() else None

    def price(self, kind: str, i: int) -> float | None:
        return self.prices.get(Limit(kind, i, "upper" if kind == "cap" else "lower"))

    def group_of(self, i: int) -> tuple[str, str, str] | None:
        """(kind, name, "maximum"/"minimum") of a binding total that holds cell i, if any."""
        for kind, (idx, names, up, down) in self.act.groups.items():
            g = idx[i]
            if up[g] or down[g]:
                return kind, str(names[g]), "maximum" if up[g] else "minimum"
        return None

    def group_limit(self, i: int) -> Limit:
        """The binding total that holds cell i (see group_of)."""
        kind, _, side = self.group_of(i)
        return Limit(kind, int(self.act.groups[kind][0][i]), "upper" if side == "maximum" else "lower")

    def elasticity(self, i: int) -> float:
        value = float(self.outcome[i])
        return float(self.x[i] * self.margin[i] / value) if value > 0 else 1.0

    def source(self, i: int, kind: str) -> str:
        """Where a cell's cap or floor comes from: the change limit or the person's own bound."""
        p, mc = self.problem, self.problem.max_change
        if mc is None or p.current is None:
            return "maximum" if kind == "cap" else "minimum"
        limit = p.current[i] * (1 + mc if kind == "cap" else 1 - mc)
        bound = self.act.hi[i] if kind == "cap" else self.act.lo[i]
        pct = f"{mc * 100:.0f} %"
        if abs(bound - limit) <= 1e-9 * max(abs(limit), 1.0):
            return f"+{pct} change limit" if kind == "cap" else f"−{pct} change limit"
        return "maximum" if kind == "cap" else "minimum"


def _gain(plan: _Plan, price: float | None) -> str:
    if price is None:
        return "n/a"
    return "without limit" if not np.isfinite(price) else plan.units.outcome_value(price * plan.step)


def _kind(plan: _Plan, i: int) -> str:
    """The reason code of cell i (precedence: lock, cap, floor, no spend, saturated, total, margin)."""
    act = plan.act
    if plan.locked[i]:
        return "locked"
    if act.pinned[i]:
        return "off"
    if act.at_cap[i] and act.at_floor[i]:
        return "cap" if (plan.price("cap", i) or 0.0) >= (plan.price("floor", i) or 0.0) else "floor"
    if act.at_cap[i]:
        return "cap"
    if act.at_floor[i]:
        return "floor" if act.lo[i] > 0 else "off"
    if plan.elasticity(i) < SATURATED:
        return "saturated"
    if plan.kkt and plan.group_of(i) and plan.lam and abs(act.grad[i] - plan.lam) > SAME_MARGIN * plan.lam:
        return "total"
    return "margin" if plan.kkt else "free"


def _why(plan: _Plan, i: int, kind: str) -> str:
    """The reason in words, with the numbers that make it true."""
    m = _ratio(plan.act.grad[i] if plan.act.grad[i] else plan.margin[i])
    # The common return of the free cells; when every cell sits at a limit there is none to compare with
    # (at the largest budget the caps allow, any λ up to the smallest capped return fits the conditions).
    act = plan.act
    free = ~(act.at_cap | act.at_floor | plan.locked | act.pinned)
    known = plan.lam is not None and bool(np.isfinite(plan.lam)) and bool(free.any())
    more, less = ((f", more than the {_ratio(plan.lam)} elsewhere", f", less than the {_ratio(plan.lam)} elsewhere")
                  if known else ("", ""))
    if kind == "locked":
        return "locked at its current spend"
    if kind == "cap":
        return f"at its {plan.source(i, 'cap')}: an extra unit here returns {m}{more}"
    if kind == "floor":
        return f"at its {plan.source(i, 'floor')}: it returns {m} per unit{less}"
    if kind == "off" and plan.act.pinned[i]:
        return f"no spend: the search left its S-shaped curve off (past its threshold it returns up to {m})"
    if kind == "off":
        return f"no spend: even its best unit returns {m}{less}"
    if kind == "saturated":
        return (
            f"saturated: 1 % more spend adds only {plan.elasticity(i):.2g} % to its outcome "
            f"(marginal return {_ratio(plan.margin[i])})"
        )
    if kind == "total":
        group, name, side = plan.group_of(i)
        tail = f"{m} differs from the {_ratio(plan.lam)} elsewhere" if known else f"is {m}"
        return f"held by the {side} total of {group} {name}: its marginal return {tail}"
    if kind == "margin":
        return f"its last unit returns {_ratio(plan.lam)}, the same as every other free cell's"
    return f"between its limits, marginal return {_ratio(plan.margin[i])} (not proven optimal)"


def _relax(plan: _Plan, i: int, kind: str) -> tuple[str | None, float | None]:
    """What relaxing the cell's own limit is worth, in words, and the shadow price."""
    step = plan.units.money(plan.step)
    if kind == "cap":
        price = plan.price("cap", i)
        return f"+{step} on its cap adds about {_gain(plan, price)}", price
    if kind == "floor":
        price = plan.price("floor", i)
        return f"−{step} on its floor adds about {_gain(plan, price)}", price
    if kind == "total" and plan.kkt:
        limit = plan.group_limit(i)
        price = plan.prices.get(limit)
        return f"{_limit_text(plan, limit, price)}", price
    if kind != "locked" or not plan.kkt:
        return None, None
    up, down = plan.price("cap", i) or 0.0, plan.price("floor", i) or 0.0
    if max(up, down) <= SAME_MARGIN * (plan.lam or 1.0):
        return "the lock costs nothing", 0.0
    if up >= down:
        return f"unlocked, +{step} here adds about {_gain(plan, up)}", up
    return f"unlocked, −{step} here adds about {_gain(plan, down)}", down


def _limit_name(plan: _Plan, limit: Limit) -> str:
    if limit.kind == "budget":
        return "the budget"
    if limit.kind in ("cap", "floor"):
        return f"{plan.labels[limit.index]}'s {limit.kind}"
    names = plan.problem.group_bounds(limit.kind)[0]
    return f"{limit.kind} {names[limit.index]}'s {'maximum' if limit.side == 'upper' else 'minimum'} total"


def _limit_text(plan: _Plan, limit: Limit, price: float | None) -> str:
    """ "+1 M on TV's cap adds about 310 K"; a lock reads as unlocking it one way."""
    step = plan.units.money(plan.step)
    if limit.kind in ("cap", "floor") and plan.locked[limit.index]:
        way = "adding" if limit.kind == "cap" else "cutting"
        return f"unlocking {plan.labels[limit.index]} and {way} {step} adds about {_gain(plan, price)}"
    sign = "+" if limit.side == "upper" else "−"
    return f"{sign}{step} on {_limit_name(plan, limit)} adds about {_gain(plan, price)}"


def _limits(plan: _Plan) -> list[dict[str, Any]]:
    """Every binding limit with its shadow price and the gain of one step, the most valuable first."""
    rows = []
    for limit, price in plan.prices.items():
        rows.append(
            {
                "kind": limit.kind,
                "side": limit.side,
                "index": limit.index,
                "name": _limit_name(plan, limit),
                "shadow_price": _f(price),
                "unbounded": bool(price is not None and np.isposinf(price)),
                "gain": _f(None if price is None else price * plan.step),
                "text": _limit_text(plan, limit, price),
            }
        )
    return sorted(rows, key=lambda r: (not r["unbounded"], -(r["gain"] if r["gain"] is not None else -1.0), r["name"]))


def _moves(plan: _Plan) -> str:
    """The first sentence: how much moves where, for how much more outcome."""
    r, labels = plan.result, plan.labels
    if r.current is None:
        return f"The plan spreads {plan.units.money(r.budget)} over {len(plan.x)} cells."
    change = plan.x - r.current
    moved = float(np.clip(change, 0, None).sum())
    if moved <= 1e-9 * max(r.budget, 1.0):
        return "The plan keeps the current allocation: no move adds predicted outcome."
    up, down = int(np.argmax(change)), int(np.argmin(change))
    money = plan.units.money
    text = f"The plan moves {money(moved)} ({moved / r.budget * 100:.0f} % of the budget), most into {labels[up]}"
    if change[down] < 0:
        text += f" and out of {labels[down]}"
    gain = r.gain
    more = f", for {plan.units.outcome_value(gain)} more predicted {plan.units.outcome_name}."
    return text + (more if gain is not None else ".")


def _counts(kinds: list[str]) -> str:
    words = {
        "cap": "at their cap",
        "floor": "at their floor",
        "locked": "locked",
        "off": "without spend",
        "saturated": "saturated",
        "total": "held by a brand or channel total",
    }
    parts = [f"{kinds.count(k)} {w}" for k, w in words.items() if kinds.count(k)]
    return ", ".join(parts)


def _why_sentence(plan: _Plan, kinds: list[str]) -> str:
    held = _counts(kinds)
    n_margin = kinds.count("margin")
    if not plan.kkt:
        return f"Where each cell ends: {held}." if held else "Every cell ends between its limits."
    if n_margin:
        verb = "ends" if n_margin == 1 else "end"
        text = (
            f"{n_margin} of {len(kinds)} cells {verb} at the common marginal return of {_ratio(plan.lam)}, "
            "so moving money between free cells adds nothing"
        )
        return text + (f"; the others: {held}." if held else ".")
    return f"Every cell is held by a limit: {held}."


def _caveat(plan: _Plan) -> str | None:
    """What the explanation cannot claim: a plan not proven optimal says so, and how far its reasons go."""
    if plan.optimal:
        return None
    what = (
        "a heuristic plan for S-shaped curves"
        if plan.envelope or not np.all(plan.problem.curves.concave())
        else "a plan found by search"
    )
    if plan.local and plan.envelope:
        return (
            f"This is {what}, not proven optimal: the reasons and values are those of the curves' concave "
            "envelopes, an upper bound on what the real curves return."
        )
    if plan.local:
        return (
            f"This is {what}, not proven optimal (another choice of which cells are on could do better); "
            "holding that choice, the reasons and values follow from the optimality conditions."
        )
    return (
        f"This is {what}, not proven optimal, so it carries no values for relaxing limits: read the "
        "reasons as where each cell ends, not as a proof."
    )


def _check(plan: _Plan, limits: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most valuable finite shadow price against a re-solve with its limit relaxed (concave plans)."""
    p = plan.problem
    if not plan.optimal or not np.all(p.curves.concave()) or p.has_hard_constraints:
        return None
    if p.brand_bounds and p.channel_bounds:
        return None  # the coupled re-solve is SLSQP's, not exact
    top = next((r for r in limits if r["shadow_price"] is not None and not r["unbounded"]), None)
    if top is None:
        return None
    limit = Limit(top["kind"], top["index"], top["side"])
    fd = finite_difference(p, plan.result.budget, limit, CHECK_STEP * max(plan.result.budget, 1.0))
    scale = max(abs(fd), 0.01 * (plan.lam or 0.0), 1e-300)
    return {
        "limit": top["name"],
        "shadow_price": top["shadow_price"],
        "finite_difference": _f(fd),
        "relative_error": _f(abs(top["shadow_price"] - fd) / scale),
    }


def explain_plan(problem: AllocationProblem, result: AllocationResult, step: float | None = None,
                 units: Units | None = None) -> dict[str, Any]:
    """The plan's explanation as a JSON-able dict: summary, per-cell reasons, binding limits' values;
    money and outcome in `units` (the organization's currency; plain figures without)."""
    plan = _Plan(problem, result, step or round_step(result.budget), units or Units())
    kinds = [_kind(plan, i) for i in range(problem.n)]
    cells = []
    for i, kind in enumerate(kinds):
        relax, price = _relax(plan, i, kind)
        cells.append(
            {
                "brand": str(problem.brands[i]),
                "channel": str(problem.channels[i]),
                "reason": kind,
                "reason_label": REASONS[kind],
                "why": _why(plan, i, kind),
                "relax": relax,
                "shadow_price": _f(price),
            }
        )
    limits = _limits(plan)
    sentences = [_moves(plan), _why_sentence(plan, kinds)]
    best = next((r for r in limits if r["kind"] != "budget" and (r["gain"] or r["unbounded"])), None)
    if best:
        sentences.append(f"The limit most worth relaxing: {best['text']}.")
    elif plan.kkt and plan.lam is not None:
        sentences.append(f"Each extra {plan.units.money(plan.step)} of budget adds about {_gain(plan, plan.lam)}.")
    caveat = _caveat(plan)
    if caveat:
        sentences.append(caveat)
    return {
        "optimal": plan.optimal,
        "multiplier": _f(plan.lam),
        "step": plan.step,
        "summary": " ".join(sentences),
        "caveat": caveat,
        "cells": cells,
        "limits": limits,
        "check": _check(plan, limits),
    }
