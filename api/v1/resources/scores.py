"""DC scores (materialized, scoped, cursor-paginated) and a brand's score contributions."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.v1 import pagination
from api.v1.framework import Router
from api.v1.problems import not_found
from api.v1.security import current_principal
from core import records
from core.brand_explorer import can_explore, score_breakdown
from core.classified import LeftOut, brand_organization, left_out, project_organization
from core.runtime import get_db

router = Router("scores", "DC scores per project, period and brand, and what each metric contributes.")
ID = Field(ge=1, le=2**31 - 1)


class ScoreQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: int = ID
    brand_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    level: Literal["total", "section", "platform"] = "total"
    period_from: date | None = None
    period_to: date | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=500)


class ScoreOut(BaseModel):
    project_id: int
    period: date
    brand_id: int
    level: str
    node_id: int = Field(description="Section or platform id; 0 for the total.")
    score: float
    coverage: float


class LeftOutOut(BaseModel):
    """Metrics of the organization above your data classification clearance (issue 17)."""

    metrics: int = Field(description="How many; 0 when nothing was left out.")
    levels: list[str] = Field(description="Their levels (confidential, restricted).")
    note: str = Field(description="The sentence the pages show, e.g. \"2 metrics left out: classified "
                                  "confidential. …\"; empty when nothing was left out.")


class ScorePage(BaseModel):
    items: list[ScoreOut]
    next_cursor: str | None
    left_out: LeftOutOut = Field(description="Stored DC scores include every metric: these were left out of "
                                             "the section and platform scores you may read, not of the totals.")


class ContributionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: int = ID
    brand_id: int = ID
    period: date


class ContributionOut(BaseModel):
    section: str
    platform: str
    metric: str
    unit: str
    metric_id: int
    value: float | None
    norm: float | None = Field(description="Normalized value, 0–100.")
    weight: float = Field(description="Effective weight; the weights sum to 1.")
    contribution: float | None = Field(description="DC points; with nothing in `left_out` the contributions sum "
                                                   "to the DC score.")


class ContributionList(BaseModel):
    project_id: int
    brand_id: int
    period: date
    score: float | None = Field(description="The sum of the contributions listed: the DC score less what the "
                                            "metrics in `left_out` contribute.")
    items: list[ContributionOut]
    left_out: LeftOutOut = Field(description="Metrics above your clearance, not listed and not in `score`.")


def _left_out(gone: LeftOut) -> LeftOutOut:
    return LeftOutOut(metrics=gone.total, levels=sorted(gone.counts), note=gone.note())


def _num(value) -> float | None:
    return None if value is None or value != value else float(value)


@router.get("/scores", summary="DC scores of a project in your scope", response=ScorePage, query=ScoreQuery)
def list_scores(query: ScoreQuery) -> ScorePage:
    cursor = pagination.decode(query.cursor, 3)
    with get_db().session() as s:
        rows, nxt = records.scores(s, current_principal(), project_id=query.project_id, brand_id=query.brand_id,
                                   level=query.level, period_from=query.period_from, period_to=query.period_to,
                                   cursor=cursor, limit=query.limit)
        # Only with rows in sight: counting for a project out of scope would tell about its organization.
        gone = left_out(s.connection(), current_principal(),
                        project_organization(s.connection(), query.project_id)) if rows else LeftOut()
    items = [ScoreOut(project_id=r.project_id, period=r.period, brand_id=r.brand_id, level=r.level,
                      node_id=r.node_id, score=r.score, coverage=r.coverage) for r in rows]
    return ScorePage(items=items, next_cursor=pagination.encode(nxt), left_out=_left_out(gone))


@router.get("/scores/contributions", summary="Section → platform → metric contributions to a brand's DC score",
            response=ContributionList, query=ContributionQuery)
def contributions(query: ContributionQuery) -> ContributionList:
    """For an own brand of the project that you may explore (as in the brand explorer)."""
    principal = current_principal()
    with get_db().engine.connect() as conn:
        if not can_explore(conn, principal, query.brand_id, query.project_id):
            raise not_found()
        frame = score_breakdown(conn, principal, query.brand_id, query.project_id, query.period)
        gone = left_out(conn, principal, brand_organization(conn, query.brand_id))
    items = [ContributionOut(section=r.section, platform=r.platform, metric=r.metric, unit=r.unit or "",
                             metric_id=int(r.metric_id), value=_num(r.value), norm=_num(r.norm),
                             weight=float(r.weight), contribution=_num(r.contribution))
             for r in frame.itertuples(index=False)]
    total = sum(i.contribution for i in items if i.contribution is not None) if items else None
    return ContributionList(project_id=query.project_id, brand_id=query.brand_id, period=query.period,
                            score=total, items=items, left_out=_left_out(gone))
