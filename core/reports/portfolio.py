"""Executive portfolio summary: per project, the "what changed and why" paragraph
(core/portfolio_summary.py), the KPI figures, the DC score trend, brands ranked,
section scores (heatmap and own vs competitors), the biggest movers and the alerts — the Portfolio
page's read models (core/portfolio.py), read with the exporting principal.

params: {"project_ids": [ids]} or {"organization_id": id}, and optionally {"as_of": "YYYY-MM"}.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select

from core import portfolio as pf
from core import portfolio_alerts as pa
from core.classified import left_out, view_level
from core.db import Database
from core.formatting import Units
from core.models import Organization, Project
from core.portfolio_summary import executive_summary, summary_subjects
from core.reports import charts
from core.reports.access import check_keys, int_param, month_label, month_param, not_found
from core.reports.document import (
    ChartSpec,
    Document,
    Figure,
    Heading,
    Kpi,
    Kpis,
    PageBreak,
    Table,
    Text,
    fmt_value,
    terms,
)
from core.security import Principal
from core.settings import project_units

PARAMS = {"project_ids", "organization_id", "as_of"}
MAX_PROJECTS = 12
TOP_TREND = 5
RANK_HEADERS = {"rank": "#", "brand": "Brand", "role": "Role", "score": "DC score", "change_1m": "Δ month",
                "change_12m": "Δ year", "coverage": "Coverage", "spend": "Spend, 12 m", "revenue": "Revenue, 12 m",
                "roi": "MER"}


def _project_ids(params: dict[str, Any]) -> tuple[list[int] | None, int | None]:
    raw = params.get("project_ids")
    org = int_param(params, "organization_id", required=False)
    if (raw in (None, [], "")) == (org is None):
        raise ValueError("give either project_ids or organization_id")
    if org is not None:
        return None, org
    items = raw if isinstance(raw, list | tuple) else [raw]
    ids = list(dict.fromkeys(int_param({"project_ids": i}, "project_ids") for i in items))
    if len(ids) > MAX_PROJECTS:
        raise ValueError(f"a portfolio report covers at most {MAX_PROJECTS} projects")
    return ids, None


def _projects(conn, principal: Principal, params: dict[str, Any]) -> tuple[str, list[dict]]:
    """(organization name, projects in report order), every one visible to the exporting principal."""
    ids, org = _project_ids(params)
    visible = pf.list_projects(conn, principal)
    org_of = dict(conn.execute(select(Project.id, Project.organization_id)
                               .where(Project.id.in_([p["id"] for p in visible]))).all())
    if org is not None:
        chosen = [p for p in visible if org_of.get(p["id"]) == org]
        if not chosen:
            not_found(principal, "organization", org)
    else:
        by_id = {p["id"]: p for p in visible}
        for pid in ids:
            if pid not in by_id:
                not_found(principal, "project", pid)
        chosen = [by_id[pid] for pid in ids]
        if len({org_of[p["id"]] for p in chosen}) > 1:
            raise ValueError("a portfolio report covers projects of one organization")
    name = conn.execute(select(Organization.name).where(Organization.id == org_of[chosen[0]["id"]])).scalar_one()
    return name, chosen


def _outcome_headers(units: Units) -> dict[str, str]:
    """The ranking's outcome and ratio headers when the organization counts something other than revenue."""
    if units.revenue:
        return {}
    return {"revenue": f"{units.outcome.capitalize()}, 12 m", "roi": f"{units.outcome.capitalize()} per spend"}


def _kpis(ranking: pd.DataFrame, money: dict[str, float | None], outcome: str) -> list[Kpi]:
    own, comp = ranking[ranking.role == "own"], ranking[ranking.role == "competitor"]
    avg = own["score"].mean() if len(own) else None
    comp_avg = comp["score"].mean() if len(comp) else None

    def pct(now, before):
        return (now / before - 1) if now is not None and before else None

    spend_change, revenue_change = pct(money["spend"], money["spend_prev"]), pct(money["revenue"],
                                                                                  money["revenue_prev"])
    return [
        Kpi("Portfolio DC score (own brands' average)", avg, "score",
            f"{_signed(own['change_1m'].mean())} vs previous month · {_signed(own['change_12m'].mean())} vs a year "
            "earlier" if len(own) else ""),
        Kpi("Competitor average", comp_avg, "score",
            f"own brands {_signed(avg - comp_avg)}" if avg is not None and comp_avg is not None else ""),
        Kpi("Spend, 12 months", money["spend"], "money",
            f"{_signed(spend_change * 100)} % vs the 12 before" if spend_change is not None else ""),
        Kpi(f"{outcome.capitalize()}, 12 months", money["revenue"], "outcome",
            f"{_signed(revenue_change * 100)} % vs the 12 before" if revenue_change is not None else ""),
        Kpi("MER (revenue ÷ spend)" if outcome == "revenue" else f"{outcome.capitalize()} per spend", money["roi"],
            "roas",
            f"{_signed(money['roi'] - money['roi_prev'], 2)} vs the 12 months before"
            if money["roi"] is not None and money["roi_prev"] else ""),
        Kpi("Own brands improving / declining", float((own["change_1m"] > 0.5).sum()), "int",
            f"{int((own['change_1m'] < -0.5).sum())} declining; ±0.5 points month on month"),
    ]


def _signed(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:+.{digits}f}".replace("-", "−")


def _alerts(drops: pd.DataFrame, anomalies: pd.DataFrame) -> pd.DataFrame:
    rows = [{"kind": "score drop", "brand": r["brand"], "what": "DC score", "value": r["score"],
             "change": r["change_1m"], "detail": f"fell {abs(r['change_1m']):.1f} points month on month"}
            for r in drops.to_dict("records")]
    for r in anomalies.to_dict("records"):
        worse = (r["z"] < 0) == (r["direction"] == "higher")
        rows.append({"kind": "anomaly", "brand": r["brand"], "what": r["metric"], "value": r["value"],
                     "change": r["value"] - r["previous"],
                     "detail": f"from {fmt_value(r['previous'], 'number')}; the usual change would give "
                               f"{fmt_value(r['typical'], 'number')}; "
                               f"robust z {_signed(r['z'])} ({'worse' if worse else 'better'})"})
    return pd.DataFrame(rows, columns=["kind", "brand", "what", "value", "change", "detail"])


def _project_blocks(conn, principal: Principal, project: dict, as_of: date | None, several: bool) -> tuple[list, date]:
    pid = project["id"]
    periods = [pd.Timestamp(p).date() for p in pf.project_periods(conn, principal, pid)]
    if not periods:
        raise ValueError(f"project {project['name']} has no DC scores to report on yet")
    if as_of is not None and as_of not in periods:
        raise ValueError(f"project {project['name']} has no DC scores for {month_label(as_of)}; scored months run "
                         f"{month_label(periods[0])} – {month_label(periods[-1])}")
    period = as_of or periods[-1]
    previous = [p for p in periods if p < period]
    scored = pf.brand_ranking(conn, principal, pid, period)
    money = pf.financials(conn, principal, pid, period)
    ranking = scored.merge(money[["brand_id", "spend", "revenue", "roi"]], on="brand_id", how="left")
    top = ranking[ranking.role == "own"].head(TOP_TREND)["brand_id"].tolist()
    trend = pf.score_trend(conn, principal, pid, top, own_average=True)
    trend = trend[pd.to_datetime(trend["period"]) <= pd.Timestamp(period)]
    wide = trend.pivot_table(index="period", columns="brand", values="score", sort=False)
    order = list(dict.fromkeys(trend.sort_values("brand_id", key=lambda s: s.map({-1: -2, 0: -1}).fillna(s))
                               ["brand"]))
    wide = wide.reindex(columns=order)
    wide.index = pd.to_datetime(wide.index)
    sections = pf.section_columns(scored)
    comparison = pf.section_comparison(scored)
    matrix = pf.section_matrix(scored)
    moved = pf.movers(ranking, 6)
    if previous and len(moved):
        drivers = pf.score_drivers(conn, pid, moved["brand_id"].tolist(), previous[-1], period,
                                     clearance=principal.clearance.value)
        moved = moved.merge(drivers, on="brand_id", how="left")
        moved = moved.assign(why=[pf.mover_reason(r) for r in moved.to_dict("records")])
    else:
        moved = moved.assign(why="")
    alerts = _alerts(pa.score_drop_alerts(ranking), pa.metric_anomalies(conn, principal, pid, period))
    subjects = summary_subjects(scored)  # what changed and why: the page's paragraph, over this report's data
    why = (pf.score_drivers(conn, pid, subjects, previous[-1], period, clearance=principal.clearance.value)
           if previous and subjects else None)
    label = f"{project['name']} · {month_label(period)}"
    own_names = set(ranking.loc[ranking.role == "own", "brand"])
    suffix = f" · {project['name']}" if several else ""
    window = (f"{money.attrs['start']:%b %Y} – {period:%b %Y}" if "start" in money.attrs else "")
    rank_cols = ["rank", "brand", "role", "score", "change_1m", "change_12m", "coverage", *sections, "spend",
                 "revenue", "roi"]
    blocks: list = [
        Heading(label),
        Text(executive_summary(scored, why, len(alerts), period)),
        Kpis(_kpis(ranking, pf.financial_totals(money), project_units(conn, pid).outcome_name)),
        Text(f"Money covers the own brands in your scope over 12 months ({window}). Averages are over the brands "
             "you may see.", muted=True),
        Figure(charts.trend(wide, emphasis="Own brands' average", muted="Competitor average"),
               f"DC score trend: the own brands' average, the top {len(top)} own brands and the competitor average."),
        Table("Brands ranked by DC score" + suffix, ranking[rank_cols],
              {"rank": "int", "score": "score", "change_1m": "signed", "change_12m": "signed", "coverage": "pct",
               **{s: "score" for s in sections}, "spend": "money", "revenue": "outcome", "roi": "roas"},
              sheet="Ranking" + suffix, headers={**RANK_HEADERS, **_outcome_headers(project_units(conn, pid))},
              pdf_columns=[c for c in rank_cols if c not in ("coverage", "spend", "revenue")],
              chart=ChartSpec("bar", "brand", ["score"], "DC score by brand", "DC score")),
        Table("DC score trend" + suffix, wide.rename_axis("period").reset_index(),
              {c: "score" for c in wide.columns}, sheet="Trend" + suffix, in_pdf=False,
              chart=ChartSpec("line", "period", list(wide.columns), "DC score trend", "DC score")),
        Figure(charts.heatmap(matrix, own_names), "Section scores by brand (own brands in bold, listed first)."),
        Table("Section scores by brand" + suffix, matrix.reset_index(), {s: "score" for s in sections},
              sheet="Sections" + suffix, in_pdf=False),
        Figure(charts.grouped_bars(list(comparison["section"]),
                                   {"Own brands": comparison["own"].tolist(),
                                    "Competitor average": comparison["competitor"].tolist()},
                                   y_label="section score", y_max=110,
                                   annotate=[_signed(g) for g in comparison["gap"]]),
               "Own brands' average vs competitor average per section; the figure on top is the gap."),
        Table("Own vs competitors per section" + suffix, comparison,
              {"own": "score", "competitor": "score", "gap": "signed"}, sheet="Own vs competitors" + suffix,
              headers={"section": "Section", "own": "Own brands", "competitor": "Competitor average", "gap": "Gap"},
              chart=ChartSpec("bar", "section", ["own", "competitor"], "Own vs competitors", "section score")),
        Table("Biggest movers this month" + suffix, moved[["brand", "role", "score", "change_1m", "why"]],
              {"score": "score", "change_1m": "signed"}, sheet="Movers" + suffix,
              headers={"brand": "Brand", "role": "Role", "score": "DC score", "change_1m": "Δ month",
                       "why": "Why it moved (points of DC score)"}),
        Table("Alerts" + suffix, alerts, {"value": "number", "change": "number"}, sheet="Alerts" + suffix,
              max_rows_pdf=15, headers={"kind": "Alert", "brand": "Brand", "what": "What", "value": "Value",
                                        "change": "Change", "detail": "Detail"},
              note=f"Score drops of {pa.DROP_THRESHOLD:g} points or more, and metrics whose latest monthly change "
                   f"is {pa.ANOMALY_Z:g} robust standard deviations from the brand's usual change."),
    ]
    return blocks, period


def check(db: Database, principal: Principal, params: dict[str, Any]) -> None:
    """The parameters and the projects' scope, without building anything (a report job's submit check)."""
    check_keys(params, PARAMS)
    month_param(params)
    with db.engine.connect() as conn:
        _projects(conn, principal, params)


def build(db: Database, principal: Principal, params: dict[str, Any]) -> Document:
    check_keys(params, PARAMS)
    as_of = month_param(params)
    with db.engine.connect() as conn:
        organization, projects = _projects(conn, principal, params)
        several = len(projects) > 1
        units = project_units(conn, projects[0]["id"])  # the projects are one organization's
        organization_id = conn.execute(select(Project.organization_id).where(Project.id == projects[0]["id"])).scalar()
        level, left = view_level(conn, principal, organization_id), left_out(conn, principal, organization_id)
        parts, periods = [], []
        for i, project in enumerate(projects):
            blocks, period = _project_blocks(conn, principal, project, as_of, several)
            parts += ([PageBreak()] if i else []) + blocks
            periods.append(period)
    first, last = min(periods), max(periods)
    period = month_label(last) if first == last else f"{month_label(first)} – {month_label(last)}"
    names = ", ".join(p["name"] for p in projects)
    stem = f"portfolio-{'-'.join(str(p['id']) for p in projects)}-{last:%Y-%m}"
    doc = Document("Executive portfolio summary", organization, period,
                   f"{organization} · {names} · scores as of {period}", stem, last, units=units)
    doc.classification = level.value
    if left.total:
        doc.add(Text(left.note(), muted=True))
    return doc.add(*parts, *terms("dc_score", "spend", "outcome", *(("mer",) if units.revenue else ())))
