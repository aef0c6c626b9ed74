"""Scenario report: a saved what-if run — its spend allocation, current against optimized, the
predicted outcome with its intervals, and the constraints that bind. Read through
core.scenarios.get_scenario with the exporting principal (the owner keeps export on their own).

params: {"scenario_id": id}.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select

from core.db import Database
from core.formatting import Units
from core.models import Organization
from core.optimize.odds import odds_words
from core.optimize.results import describe_status
from core.reports import charts
from core.reports.access import ReportNotFound, check_keys, int_param
from core.reports.document import ChartSpec, Document, Figure, Heading, Kpi, Kpis, Table, Text, terms
from core.scenarios import get_scenario
from core.security import Forbidden, Principal
from core.settings import organization_units

PARAMS = {"scenario_id"}
CELL_COLUMNS = ["brand", "channel", "current", "optimal", "change", "change_pct", "marginal_roi", "lower", "upper"]


def _period(result: dict, created: date) -> str:
    """The spend window the run was based on (first … last period over its brands)."""
    windows = [w for w in (result.get("window") or {}).values() if w and len(w) >= 2]
    if not windows:
        return f"saved {created:%d %b %Y}"
    first, last = min(str(w[0])[:10] for w in windows), max(str(w[1])[:10] for w in windows)
    return f"spend {date.fromisoformat(first):%b %Y} – {date.fromisoformat(last):%b %Y}"


def _interval(pair) -> tuple[float | None, float | None]:
    return (pair[0], pair[1]) if pair and len(pair) == 2 else (None, None)


def _scenario(db: Database, principal: Principal, params: dict[str, Any]) -> tuple[dict, pd.DataFrame]:
    """(the scenario, its allocation cells); ReportNotFound when out of scope, ValueError when empty."""
    check_keys(params, PARAMS)
    scenario_id = int_param(params, "scenario_id")
    try:
        sc = get_scenario(db, principal, scenario_id)
    except Forbidden:
        raise ReportNotFound("scenario", scenario_id) from None
    cells = pd.DataFrame((sc["result"] or {}).get("cells") or [])
    if cells.empty:
        raise ValueError(f"scenario {scenario_id} holds no allocation to report on")
    return sc, cells


def _why_this_plan(doc: Document, result: dict) -> None:
    """The run's explanation (core.optimize.explain) and odds (core.optimize.odds); older runs have neither."""
    explanation = result.get("explanation")
    if not explanation:
        return
    doc.add(Heading("Why this plan"), Text(explanation["summary"]), Text(odds_words(result.get("odds"))))
    reasons = pd.DataFrame([{"brand": c["brand"], "channel": c["channel"], "reason": c["reason_label"],
                             "why": c["why"], "relax": c.get("relax") or ""} for c in explanation["cells"]])
    doc.add(Table("Why each cell ends where it does", reasons, sheet="Why this plan",
                  headers={"brand": "Brand", "channel": "Channel", "reason": "Reason", "why": "Why",
                           "relax": "Relaxing its limit"}))


def check(db: Database, principal: Principal, params: dict[str, Any]) -> None:
    """The parameters, the scenario's scope and that it holds an allocation (a report job's submit check)."""
    _scenario(db, principal, params)


def build(db: Database, principal: Principal, params: dict[str, Any]) -> Document:
    sc, cells = _scenario(db, principal, params)
    result = sc["result"] or {}
    cells = cells.reindex(columns=CELL_COLUMNS)
    with db.session() as s:
        organization = s.scalar(select(Organization.name).where(Organization.id == sc["organization_id"]))
        # The currency the run kept; a scenario saved before runs kept one reads in its organization's.
        units = Units.of(result["units"]) if result.get("units") else organization_units(s, sc["organization_id"])
    created = date.fromisoformat(sc["created_at"][:10]) if sc["created_at"] else date(2000, 1, 1)
    period = _period(result, created)
    doc = Document("Scenario report", organization or "", period,
                   f"{sc['name']} (#{sc['id']}) · {sc['status']} · {result.get('scenario_label') or sc['kind']}"
                   f"{' · project ' + sc['project'] if sc['project'] else ''} · by {sc['owner'] or 'n/a'}, "
                   f"{created:%d %b %Y}", f"scenario-{sc['id']}", created, units=units)
    doc.classification = sc.get("classification") or "internal"
    money, outcome = units.money, units.outcome_value

    lo, hi = _interval(result.get("outcome_interval"))
    clo, chi = _interval(result.get("current_outcome_interval"))
    ulo, uhi = _interval(result.get("uplift_interval"))
    pct = result.get("uplift_pct")
    doc.add(Kpis([
        Kpi("Budget, optimized", result.get("budget"), "money",
            f"current spend {money(result['current_budget'])}" if result.get("current_budget") else ""),
        Kpi(f"Predicted {units.outcome_name}", result.get("outcome"), "outcome",
            f"90 % interval {outcome(lo)} – {outcome(hi)}" if lo is not None else "no interval"),
        Kpi(f"Predicted {units.outcome_name} of the current mix", result.get("current_outcome"), "outcome",
            f"90 % interval {outcome(clo)} – {outcome(chi)}" if clo is not None else "no interval"),
        Kpi("Uplift", result.get("uplift"), "outcome",
            (f"{pct:+.1f} %".replace("-", "−") if pct is not None else "")
            + (f" · 90 % interval {outcome(ulo)} – {outcome(uhi)}" if ulo is not None else "")),
        Kpi("ROAS of the plan", result.get("roi"), "roas", "predicted outcome ÷ budget; see Terms used"),
        Kpi("Binding constraints", float(len(result.get("binding") or [])), "int",
            f"{describe_status(result)} ({result.get('method', '')})"),
    ]))
    doc.add(Text(f"Curves: {result.get('curve_source_label') or result.get('curve_source') or 'n/a'}.", muted=True))
    _why_this_plan(doc, result)

    doc.add(Heading("Allocation: current vs optimized"))
    brands = cells["brand"].nunique()
    labels = [f"{b} · {c}" if brands > 1 else str(c) for b, c in zip(cells["brand"], cells["channel"], strict=True)]
    doc.add(Figure(charts.grouped_bars(labels, {"Current": cells["current"].tolist(),
                                                "Optimized": cells["optimal"].tolist()},
                                   y_label=units.label("spend"),
                                   colors=[charts.MUTED, charts.PALETTE[0]]),
                   "Spend per brand and channel, current mix against the optimized one."))
    doc.add(Table("Allocation", cells, {"current": "money", "optimal": "money", "change": "money",
                                        "change_pct": "signed", "marginal_roi": "roas", "lower": "money",
                                        "upper": "money"},
                  sheet="Allocation", chart=ChartSpec("bar", "channel", ["current", "optimal"],
                                                      "Current vs optimized spend", units.label("spend")),
                  headers={"brand": "Brand", "channel": "Channel", "current": "Current", "optimal": "Optimized",
                           "change": "Change", "change_pct": "Change %", "marginal_roi": "Marginal ROAS",
                           "lower": "Min", "upper": "Max"}))

    doc.add(Heading(f"Predicted {units.outcome_name}"))
    outcomes = pd.DataFrame([
        {"mix": "Current", "outcome": result.get("current_outcome"), "low": clo, "high": chi},
        {"mix": "Optimized", "outcome": result.get("outcome"), "low": lo, "high": hi},
        {"mix": "Uplift", "outcome": result.get("uplift"), "low": ulo, "high": uhi},
    ])
    doc.add(Figure(charts.intervals(["Current", "Optimized"], [result.get("current_outcome"), result.get("outcome")],
                                    [clo, lo], [chi, hi], y_label=units.outcome_label(units.outcome_name)),
                   f"Predicted {units.outcome_name}; whiskers show the 90 % interval where the curves carry "
                   "uncertainty.",
                   width_cm=11))
    doc.add(Table("Outcome", outcomes, {"outcome": "outcome", "low": "outcome", "high": "outcome"}, sheet="Outcome",
                  headers={"mix": "Mix", "outcome": "Predicted", "low": "90 % low", "high": "90 % high"}))

    doc.add(Heading("Binding constraints"))
    binding = pd.DataFrame(result.get("binding") or [], columns=["kind", "name", "side", "value"])
    doc.add(Table("Constraints at their limit", binding, {"value": "money"}, sheet="Binding",
                  headers={"kind": "Kind", "name": "Applies to", "side": "Side", "value": "Value"}))
    notes = result.get("notes") or []
    if notes:
        doc.add(Heading("Notes", 2), *[Text(str(n), muted=True) for n in notes])
    return doc.add(*terms("predicted_outcome", "uplift", "roas", "marginal_roas", "interval", "binding"))
