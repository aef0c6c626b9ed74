"""What differs between saved scenarios: their inputs side by side and their results as deltas.

A comparison is only readable when it says *why* two plans differ (a larger budget, a change cap,
other curves) and *by how much* each headline moved. The first scenario selected is the reference:
every delta is "this one minus the first". Inputs are compared on the values the optimizer ran
with (`Scenario.inputs`), shown with the optimizer's own words.
"""

from __future__ import annotations

from typing import Any

from core.formatting import Units, compact

# The optimizer's inputs in a marketer's words, in the order a person reads a plan.
INPUT_LABELS: dict[str, str] = {
    "scenario": "Goal",
    "budget": "Budget",
    "target": "Target outcome",
    "target_roas": "Target ROAS",
    "curve_source": "Response curves",
    "max_change_pct": "Max change per channel",
    "max_active_per_brand": "Max channels per brand",
    "brand_ids": "Brands",
    "channels": "Channels",
    "cells": "Spend limits per brand × channel",
    "brand_bounds": "Brand totals",
    "channel_bounds": "Channel totals",
    "unit": "Spend in multiples of",
    "generations": "Search effort (generations)",
    "risk_front": "Risk front",
    "seed": "Seed",
}
GOALS = {"max_outcome": "Most outcome for the budget", "min_budget": "Least budget for the target",
         "marginal_roas": "Spend until the marginal ROAS falls to the target",
         "overall_roas": "Largest budget whose ROAS meets the target"}
CURVES = {"fitted": "Fitted from your data", "truth": "Demo truth curves"}
HEADLINES = ("budget", "outcome", "uplift", "uplift_pct")
MONEY_INPUTS = ("budget", "unit")  # amounts in the currency; "target" is an outcome (money or a count), "target_roas"
# a ratio in those units


def _shown(key: str, value: Any, brands: list[str], units: Units) -> str:
    """One input value as the page prints it: amounts in the scenario's currency, counts compact."""
    if value is None or value == []:
        return {"budget": "last year's spend", "max_change_pct": "no limit", "max_active_per_brand": "no limit",
                "unit": "any amount"}.get(key, "—")
    if key in ("scenario", "curve_source"):
        return (GOALS if key == "scenario" else CURVES).get(value, str(value))
    if key == "brand_ids":
        return ", ".join(brands) if brands else f"{len(value)} brand(s)"
    if key == "max_change_pct":
        return f"±{float(value):g} %"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return ", ".join(value)
        return f"{len(value)} set"
    if isinstance(value, (int, float)):
        write = {"target": units.outcome_value, "target_roas": units.roas,
                 **dict.fromkeys(MONEY_INPUTS, units.money)}.get(key, compact)
        return write(float(value))
    return str(value)


def input_differences(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inputs whose values differ between the scenarios: [{"input", "values": [one text per scenario]}].

    Empty when every input is the same (then the plans differ only by the data they ran on).
    """
    rows = []
    inputs = [sc.get("inputs") or {} for sc in scenarios]
    keys = [k for k in INPUT_LABELS if any(k in i for i in inputs)]
    keys += sorted({k for i in inputs for k in i} - set(INPUT_LABELS))
    for key in keys:
        raw = [i.get(key) for i in inputs]
        if all(_same(raw[0], r) for r in raw[1:]):
            continue
        values = [_shown(key, r, sc.get("brands") or [], Units.of((sc.get("result") or {}).get("units")))
                  for r, sc in zip(raw, scenarios, strict=True)]
        rows.append({"input": INPUT_LABELS.get(key, key.replace("_", " ")), "values": values})
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(v, (str, int)) for v in a + b):
        return sorted(map(str, a)) == sorted(map(str, b))  # the same brands or channels in another order
    return a == b


def headline_deltas(scenarios: list[dict[str, Any]]) -> list[dict[str, float | None]]:
    """Per scenario, each headline figure minus the first scenario's (None where either is missing)."""
    first = (scenarios[0].get("result") or {}) if scenarios else {}
    out = []
    for sc in scenarios:
        r = sc.get("result") or {}
        out.append({k: (float(r[k]) - float(first[k]) if r.get(k) is not None and first.get(k) is not None
                        else None) for k in HEADLINES})
    return out
