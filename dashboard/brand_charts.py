"""What each brand-explorer chart reads, and the table a person downloads for it.

A chart and its download must show the same data, so both go through one `ChartSpec`: the read
model it calls and how its result becomes a table. The page's choices travel as one typed
`Selection` instead of nine positional arguments, and each chart reads only the fields it needs.
Every read first checks that the principal may explore the brand × project pair, because a browser
can post any pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from dash import dcc
from sqlalchemy import Connection

from core import brand_explorer as bx
from core.classified import brand_organization, view_level
from core.classified_export import mark_export, watermarked
from core.runtime import get_db
from core.security import Principal
from core.security.authorizer import deny
from core.spreadsheets import csv_text, xlsx_bytes

READ = bx.READ


@dataclass(frozen=True)
class Selection:
    """The page's choices for one pair; a chart reads the fields it needs and ignores the rest."""

    brand_id: int
    project_id: int
    period_from: date | None = None
    period_to: date | None = None
    metric_id: int | None = None
    competitor_ids: tuple[int, ...] = ()
    section: str | None = None


Reader = Callable[[Connection, Principal, Selection], Any]


def _as_is(result: Any) -> pd.DataFrame:
    return result


@dataclass(frozen=True)
class ChartSpec:
    """One chart: its id in component ids and file names, its card title, its read model and its table."""

    name: str
    title: str
    read: Reader
    table: Callable[[Any], pd.DataFrame] = _as_is


def _correlations(conn: Connection, principal: Principal, s: Selection) -> bx.Correlations:
    meta = bx.catalogue(conn, s.brand_id, principal)
    ids = meta.index[meta["section"] == s.section].tolist() if s.section else None
    return bx.metric_correlations(conn, principal, s.brand_id, ids)


BREAKDOWN = ChartSpec(
    "breakdown", "Score breakdown: section → platform → metric",
    lambda conn, p, s: bx.score_breakdown(conn, p, s.brand_id, s.project_id, s.period_to))
WATERFALL = ChartSpec(
    "waterfall", "What moved the score",
    lambda conn, p, s: bx.score_waterfall(conn, p, s.brand_id, s.project_id, s.period_from, s.period_to),
    lambda r: r.frame.assign(score_from=r.score_from, score_to=r.score_to))
SERIES = ChartSpec(
    "series", "Metric over time",
    lambda conn, p, s: bx.metric_series(conn, p, s.brand_id, s.project_id, s.metric_id, list(s.competitor_ids)))
GAPS = ChartSpec(
    "gaps", "Gap to competitors",
    lambda conn, p, s: bx.gaps(conn, p, s.brand_id, s.project_id, s.period_to),
    lambda r: r.frame.assign(basis=r.basis, competitors_visible=r.competitors_visible))
CORRELATION = ChartSpec(
    "correlation", "Metric correlations over time", _correlations,
    lambda r: r.matrix.rename_axis("metric").reset_index())
REVENUE = ChartSpec(
    "revenue", "Metrics most associated with revenue",
    lambda conn, p, s: bx.revenue_associations(conn, p, s.brand_id))

CHARTS: dict[str, ChartSpec] = {spec.name: spec for spec in (BREAKDOWN, WATERFALL, SERIES, GAPS, CORRELATION, REVENUE)}


def read_chart(spec: ChartSpec, principal: Principal, selection: Selection) -> Any:
    """The read-model result behind one chart (raises Forbidden when the pair is out of scope)."""
    with get_db().engine.connect() as conn:
        if not bx.can_explore(conn, principal, selection.brand_id, selection.project_id):
            deny(principal, READ, ("brand", selection.brand_id), "pair not explorable")
        return spec.read(conn, principal, selection)


def to_download(frame: pd.DataFrame, filename: str, fmt: str, principal: Principal | None = None,
                brand_id: int | None = None) -> dict:
    """dcc.Download payload: CSV or XLSX, written by core.spreadsheets (user text never runs as a formula).

    With a principal and a brand, the table is at the level its card's badge shows (the highest the
    principal is shown of the brand's organization): confidential and above get the watermark column
    and the `report.classified_export` event (core.classified_export).
    """
    if principal is not None and brand_id is not None:
        db = get_db()
        with db.engine.connect() as conn:
            level = view_level(conn, principal, brand_organization(conn, brand_id))
        frame = watermarked(frame, mark_export(db, principal, level, kind="brand chart", fmt=fmt,
                                               filename=f"{filename}.{fmt}", target=("brand", int(brand_id))))
    if fmt == "csv":
        return dcc.send_string(csv_text(frame), f"{filename}.csv", type="text/csv")
    return dcc.send_bytes(xlsx_bytes({filename[:31]: frame}), f"{filename}.xlsx")
