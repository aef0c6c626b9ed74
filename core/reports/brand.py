"""Brand health card: one own brand in one project — its DC score and how it is made up (sections,
platforms, metrics), what moved it since the previous month, and where it trails the competitors
the reader may see. The Brand explorer's read models (core/brand_explorer.py), read with the
exporting principal.

params: {"brand_id": id, "project_id": id} and optionally {"as_of": "YYYY-MM"}.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from core import brand_explorer as bx
from core.classified import left_out, view_level
from core.db import Database
from core.models import Brand
from core.reports import charts
from core.reports.access import check_keys, int_param, month_label, month_param, not_found
from core.reports.document import ChartSpec, Document, Figure, Heading, Kpi, Kpis, Table, Text
from core.security import Principal

PARAMS = {"brand_id", "project_id", "as_of"}
TOP_MOVES = 12
TOP_GAPS = 12


def _sections(breakdown: pd.DataFrame) -> pd.DataFrame:
    by = breakdown.groupby("section", sort=False)[["weight", "contribution"]].sum()
    by["score"] = by["contribution"] / by["weight"]
    return by.reset_index()


def _signed(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.1f}".replace("-", "−")


def _pair(conn, principal: Principal, params: dict[str, Any]) -> tuple[int, int, Any, pd.DataFrame]:
    """(brand id, project id, as_of, the explorable pair's row); ReportNotFound when out of scope."""
    check_keys(params, PARAMS)
    brand_id, project_id = int_param(params, "brand_id"), int_param(params, "project_id")
    as_of = month_param(params)
    pairs = bx.explorable(conn, principal)
    row = pairs[(pairs["brand_id"] == brand_id) & (pairs["project_id"] == project_id)]
    if row.empty:
        not_found(principal, "brand", brand_id)
    return brand_id, project_id, as_of, row


def check(db: Database, principal: Principal, params: dict[str, Any]) -> None:
    """The parameters and the pair's scope, without building anything (a report job's submit check)."""
    with db.engine.connect() as conn:
        _pair(conn, principal, params)


def build(db: Database, principal: Principal, params: dict[str, Any]) -> Document:
    with db.engine.connect() as conn:
        brand_id, project_id, as_of, row = _pair(conn, principal, params)
        brand, project, organization = (str(row.iloc[0][c]) for c in ("brand", "project", "organization"))
        periods = bx.periods(conn, principal, brand_id, project_id)
        if not periods:
            raise ValueError(f"{brand} has no DC scores in {project} yet")
        if as_of is not None and as_of not in periods:
            raise ValueError(f"{brand} has no DC score for {month_label(as_of)} in {project}; scored months run "
                             f"{month_label(periods[0])} – {month_label(periods[-1])}")
        period = as_of or periods[-1]
        earlier = [p for p in periods if p < period]
        before = earlier[-1] if earlier else None
        breakdown = bx.score_breakdown(conn, principal, brand_id, project_id, period)
        previous = bx.score_breakdown(conn, principal, brand_id, project_id, before) if before else None
        moved = bx.score_waterfall(conn, principal, brand_id, project_id, before, period) if before else None
        gaps = bx.gaps(conn, principal, brand_id, project_id, period)
        comp = bx.competitors(conn, principal, brand_id, project_id)
        organization_id = conn.execute(select(Brand.organization_id).where(Brand.id == brand_id)).scalar()
        level, left = view_level(conn, principal, organization_id), left_out(conn, principal, organization_id)

    score = float(breakdown["contribution"].sum()) if len(breakdown) else None
    sections = _sections(breakdown)
    if previous is not None and len(previous):
        sections = sections.merge(_sections(previous)[["section", "score"]].rename(columns={"score": "previous"}),
                                  on="section", how="left")
    else:
        sections["previous"] = float("nan")
    sections["change"] = sections["score"] - sections["previous"]
    change = moved.score_to - moved.score_from if moved is not None else None
    strongest = sections.sort_values("score", ascending=False).iloc[0] if len(sections) else None
    weakest = sections.sort_values("score").iloc[0] if len(sections) else None

    gap_col = "gap_to_avg_points" if gaps.basis == "competitors" else "gap_to_best_points"
    gap_frame = gaps.frame.dropna(subset=[gap_col])
    behind = gap_frame.sort_values(gap_col, kind="stable").head(TOP_GAPS)
    label = month_label(period)
    doc = Document("Brand health card", organization, label, f"{brand} in {project} · {label}"
                   + (f" compared with {month_label(before)}" if before else ""),
                   f"brand-{brand_id}-project-{project_id}-{period:%Y-%m}", period)
    kpis = [
        Kpi("DC score", score, "score", f"{_signed(change)} vs {month_label(before)}" if before else "first month"),
        Kpi("Change vs previous month", change, "signed", "sum of the metric contributions below"),
        Kpi("Strongest section", strongest["score"] if strongest is not None else None, "score",
            str(strongest["section"]) if strongest is not None else ""),
        Kpi("Weakest section", weakest["score"] if weakest is not None else None, "score",
            str(weakest["section"]) if weakest is not None else ""),
        Kpi("Metrics behind the " + ("competitor average" if gaps.basis == "competitors" else "project's best"),
            float((gap_frame[gap_col] < 0).sum()), "int", f"of {len(gap_frame)} metrics"),
        Kpi("Competitors compared", float(comp.total - comp.hidden), "int",
            f"of {comp.total} in the project (those you may see)"),
    ]
    doc.classification = level.value
    doc.add(Kpis(kpis))
    if left.total:
        doc.add(Text(left.note(), muted=True))
    if comp.hidden:
        doc.add(Text(f"You may see {comp.total - comp.hidden} of this project's {comp.total} competitors; comparisons "
                     "use only those, and the others are never shown.", muted=True))

    doc.add(Heading("Score breakdown"))
    if len(sections):
        series = {"This month": sections["score"].tolist()}
        if before:
            series = {month_label(before): sections["previous"].tolist(), label: sections["score"].tolist()}
        doc.add(Figure(charts.grouped_bars(list(sections["section"]), series, y_label="section score", y_max=110,
                                           annotate=[_signed(c) for c in sections["change"]] if before else None,
                                           colors=[charts.MUTED, charts.PALETTE[0]] if before else None),
                       "Section scores (0–100); the figure on top is the change since the previous month."))
    doc.add(Table("Sections", sections[["section", "score", "previous", "change", "weight", "contribution"]],
                  {"score": "score", "previous": "score", "change": "signed", "weight": "pct",
                   "contribution": "score"}, sheet="Sections",
                  headers={"section": "Section", "score": "Score", "previous": "Previous month", "change": "Change",
                           "weight": "Weight", "contribution": "DC points"},
                  chart=ChartSpec("bar", "section", ["score"], "Section scores", "score"),
                  note="A section's DC points are its weight times its score; they add up to the DC score."))
    doc.add(Table("Metrics", breakdown[["section", "platform", "metric", "unit", "value", "norm", "weight",
                                        "contribution"]],
                  {"value": "number", "norm": "score", "weight": "pct", "contribution": "ratio"},
                  sheet="Metrics", in_pdf=False,
                  headers={"norm": "Normalized (0–100)", "contribution": "DC points"}))

    doc.add(Heading("What moved the score"))
    if moved is not None and len(moved.frame):
        frame = moved.frame.dropna(subset=["contribution"])
        top = frame.reindex(frame["contribution"].abs().sort_values(ascending=False, kind="stable").index)
        top = top.head(TOP_MOVES)
        doc.add(Text(f"DC score {moved.score_from:.1f} in {month_label(before)} → {moved.score_to:.1f} in {label}. "
                     "Each metric's contribution splits into its own value moving and its weight moving."))
        doc.add(Figure(charts.signed_bars([f"{m} ({p})" for m, p in zip(top["metric"], top["platform"], strict=True)],
                                          top["contribution"].tolist(), x_label="DC points"),
                       f"The {len(top)} metrics that moved the DC score most."))
        doc.add(Table("What moved", frame[["section", "platform", "metric", "value_from", "value_to", "contribution",
                                           "value_effect", "weight_effect"]].sort_values(
                          "contribution", key=lambda s: -s.abs(), kind="stable"),
                      {"value_from": "number", "value_to": "number", "contribution": "ratio",
                       "value_effect": "ratio", "weight_effect": "ratio"}, sheet="What moved", max_rows_pdf=TOP_MOVES,
                      headers={"value_from": month_label(before), "value_to": label, "contribution": "DC points",
                               "value_effect": "From value", "weight_effect": "From weight"}))
    else:
        doc.add(Text("This is the first scored month, so there is no change to explain yet.", muted=True))

    doc.add(Heading("Metric gaps"))
    if len(behind):
        what = "the average visible competitor" if gaps.basis == "competitors" else "the project's best value"
        doc.add(Figure(charts.signed_bars([f"{m} ({p})" for m, p in zip(behind["metric"], behind["platform"],
                                                                        strict=True)],
                                          behind[gap_col].tolist(), x_label="normalized points"),
                       f"Gap to {what} in normalized points (negative: behind)."))
    gap_cols = ["section", "platform", "metric", "unit", "value", "competitor_avg", "best_competitor", "gap_to_avg",
                "gap_to_avg_points", "gap_to_best_points"]
    doc.add(Table("Gaps to competitors", gap_frame.sort_values(gap_col, kind="stable")[gap_cols],
                  {"value": "number", "competitor_avg": "number", "best_competitor": "number", "gap_to_avg": "number",
                   "gap_to_avg_points": "signed", "gap_to_best_points": "signed"}, sheet="Gaps",
                  max_rows_pdf=TOP_GAPS, pdf_columns=[c for c in gap_cols if c not in ("section", "gap_to_avg")],
                  headers={"competitor_avg": "Competitor avg", "best_competitor": "Best competitor",
                           "gap_to_avg": "Gap to avg", "gap_to_avg_points": "Gap to avg (points)",
                           "gap_to_best_points": "Gap to best (points)"},
                  note="Positive: ahead. Competitors you may not see take part only in the normalization."))
    return doc
