"""Why each brand · channel gets what the flighting plan gives it, read off the plan's optimality conditions.

At an optimal weekly plan every week of a series either sits at a limit (a blackout, its weekly cap, a
booking, no spend) or returns, per extra unit, the price of the totals it belongs to: the total budget's
price plus that of any binding period, channel or brand budget (core.flighting.kkt). So a series' reason
is which of those holds in most of its weeks, with the money in the organization's currency:

- "blackout": no week open to it;
- "off": no spend, because even its first unit returns less than the budget's price at the margin;
- "held": a binding channel or brand budget of its own sets its level, not the common price;
- "cap": at its weekly cap in some weeks (it earns more there than the budget's price);
- "margin": spent where each week's extra unit returns the common price.

Timing is said in words too: the peak week, and a taper at the end when carry-over past the horizon is not
counted (spend in the last weeks pays back after the plan). For a plan not proven optimal (S-shaped curves,
minimum spends) the price is the estimate read off its free weeks and the words say "about".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.flighting.compare import last_year_window
from core.flighting.problem import FlightingProblem, Group

TOL = 1e-6  # relative to a week's typical spend: a week this close to a limit is at it


def week_prices(groups: list[Group], prices: dict[str, float], shape: tuple[int, int],
                budget_price: float | None) -> np.ndarray:
    """Each week's price: the sum of the prices of the totals it belongs to (the budget's estimate if no prices)."""
    out = np.zeros(shape)
    known = {g.name for g in groups} & set(prices)
    for g in groups:
        if g.name in known:
            out = out + prices[g.name] * g.mask
    if "total budget" not in known and budget_price is not None:
        out = out + budget_price
    return out


def _span(labels: list[str], weeks: np.ndarray) -> str:
    """"W3 (week of 2027-01-18)" for the week index given."""
    w = int(weeks)
    return f"W{w + 1} (week of {labels[w]})" if labels[w][:1].isdigit() else f"W{w + 1}"


def explain(problem: FlightingProblem, plan: np.ndarray, prices: dict[str, float], status: str,
            budget_price: float | None, week_labels: list[str]) -> list[dict[str, Any]]:
    """One entry per series (the plan's row order): the reason code, a sentence, and the figures it rests on."""
    units = problem.units
    money, roas = (units.money, units.roas) if units else (problem.money, lambda v: f"{v:.2f} per 1")
    lo, hi = problem.bounds()
    groups = problem.groups()
    model = problem.model()
    x = np.asarray(plan, dtype=float)
    grad = model.gradient(x)
    price = week_prices(groups, prices, x.shape, budget_price)
    scale = max(float(problem.budget) / max(x.size, 1), 1e-12)
    blackout = hi <= 0
    at_cap = ~blackout & np.isfinite(hi) & (x >= hi - TOL * scale) & (hi > lo)
    off = ~blackout & (x <= lo + TOL * scale) & (lo <= 0)
    booked = (lo > 0) & (x <= lo + TOL * scale)
    free = ~blackout & ~at_cap & ~off & ~booked
    history = problem.history if problem.history is not None else np.zeros((x.shape[0], 0))
    last_year = last_year_window(np.asarray(history, dtype=float), problem.weeks).sum(axis=1)
    about = "" if status == "optimal" else "about "
    common = float(np.median(price[free])) if free.any() else (budget_price or float("nan"))
    own = {g.name for g in groups if g.name.split(" ", 1)[0] in ("channel", "brand") and abs(prices.get(g.name, 0.0))
           > 1e-9 * max(abs(common), 1e-300)}
    out = []
    for s in range(x.shape[0]):
        total = float(x[s].sum())
        on = x[s] > TOL * scale
        weeks_on, caps, dark = int(on.sum()), int(at_cap[s].sum()), int(blackout[s].sum())
        marginal = float(np.mean(grad[s][free[s]])) if free[s].any() else (
            float(np.mean(grad[s][on])) if on.any() else float(np.max(grad[s], initial=0.0)))
        held = [n for n in own if n in (f"channel {problem.channels[s]}", f"brand {problem.brands[s]}")]
        if dark == problem.weeks:
            code, why = "blackout", "Blacked out in every week of the horizon."
        elif total <= TOL * scale * problem.weeks:
            first = float(np.max(grad[s][~blackout[s]], initial=0.0))
            code, why = "off", (f"No spend: even its first {money(1.0)} returns {roas(first)}, below the rate of "
                                f"{about}{roas(common)} the budget earns at the margin elsewhere.")
        elif held:
            code, why = "held", (f"Held by its {held[0]} budget: its weeks return {roas(marginal)} at the margin, "
                                 f"{'more' if marginal > common else 'less'} than the rate of {about}{roas(common)} "
                                 "the rest of the budget earns.")
        elif caps:
            rest = f"; in the other weeks it returns the common rate of {about}{roas(common)}" if free[s].any() else ""
            code, why = "cap", (f"At its weekly cap in {caps} of {problem.weeks} weeks, where it still returns more "
                                f"than the budget's rate of {about}{roas(common)}: a higher cap would earn more{rest}.")
        else:
            code, why = "margin", (f"Spent where each week's extra {money(1.0)} returns the common rate of "
                                   f"{about}{roas(common)}.")
        if code in ("cap", "margin", "held") and weeks_on:
            if x[s][on].max() > 1.05 * x[s][on].min():  # an even plan has no peak to name
                why += f" Peak: {_span(week_labels, np.argmax(x[s]))}."
            tail = x[s][-2:] if problem.weeks >= 6 else x[s][-1:]
            if not problem.carryover_out and on.sum() > 2 and tail.mean() < 0.5 * float(np.median(x[s][on])):
                why += " Less in the last weeks: their carry-over would fall after the horizon, which is not counted."
        if dark and code != "blackout":
            why += f" Blacked out in {dark} week{'s' if dark > 1 else ''}."
        if booked[s].any():
            why += (f" {int(booked[s].sum())} week{'s' if booked[s].sum() > 1 else ''} held at the amount already "
                    "booked or required.")
        out.append({"reason": code, "why": why, "weeks_on": weeks_on, "weeks_at_cap": caps, "weeks_blackout": dark,
                    "marginal": marginal, "last_year": float(last_year[s]), "total": total})
    return out
