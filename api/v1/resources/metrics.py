"""Each organization's metric framework and raw metric values (filtered, cursor-paginated, scoped)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from api.v1 import pagination
from api.v1.framework import Router
from api.v1.problems import ApiProblem
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core import records
from core.classified import shown
from core.portfolio import metric_catalogue
from core.runtime import get_db

router = Router("metrics", "The metric frameworks and the raw monthly values behind the DC score.")
ID = Field(default=None, ge=1, le=2**31 - 1)


class MetricOut(BaseModel):
    id: int
    organization_id: int
    code: str
    name: str
    unit: str
    direction: str
    weight: float
    description: str
    min_value: float | None
    max_value: float | None
    platform_id: int
    platform: str
    section_id: int
    section: str
    classification: str = Field(description="The level its values read at (the higher of the metric's and its "
                                             "section's); metrics above your clearance are not listed.")


class MetricList(BaseModel):
    items: list[MetricOut]


class MetricValueQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    brand_id: int | None = ID
    metric_id: int | None = ID
    section_id: int | None = ID
    period_from: date | None = Field(default=None, description="First period included (YYYY-MM-DD).")
    period_to: date | None = Field(default=None, description="Last period included (YYYY-MM-DD).")
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, max_length=500, description="`next_cursor` of the previous page.")


class MetricValueOut(BaseModel):
    brand_id: int
    metric_id: int
    period: date
    value: float
    source: str
    updated_at: UtcDatetime


class MetricValuePage(BaseModel):
    items: list[MetricValueOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="Only this organization's framework.")


@router.get("/metrics", summary="The metric frameworks of your organizations (section, platform, metric)",
            response=MetricList, query=MetricQuery)
def list_metrics(query: MetricQuery) -> MetricList:
    """Each organization has its own framework (`organization_id` on every item): the metrics of the
    organizations you can see. Needs `metrics:read` somewhere."""
    principal = current_principal()
    if "metrics:read" not in principal.all_permissions:
        raise ApiProblem(403, "You may not read metrics.")
    db = get_db()
    with db.session() as s:
        orgs = [o.id for o in records.organizations(s, principal, query.organization_id)]
    items: list[MetricOut] = []
    with db.engine.connect() as conn:
        for org in orgs:
            frame = shown(metric_catalogue(conn, org), principal).reset_index()  # classified above: left out
            items += [MetricOut(id=r.metric_id, organization_id=org, code=r.code, name=r.metric, unit=r.unit or "",
                                direction=r.direction, weight=float(r.weight), description=r.description or "",
                                min_value=_num(r.min_value), max_value=_num(r.max_value), platform_id=r.platform_id,
                                platform=r.platform, section_id=r.section_id, section=r.section,
                                classification=r.classification)
                      for r in frame.itertuples(index=False)]
    return MetricList(items=items)


def _num(value) -> float | None:
    return None if value is None or value != value else float(value)


@router.get("/metric-values", summary="Raw metric values in your scope, a page at a time",
            response=MetricValuePage, query=MetricValueQuery)
def list_metric_values(query: MetricValueQuery) -> MetricValuePage:
    """Ordered by brand, metric and period. Filter by brand, metric, section and a period range."""
    cursor = pagination.decode(query.cursor, 3)
    with get_db().session() as s:
        rows, nxt = records.metric_values(
            s, current_principal(), brand_id=query.brand_id, metric_id=query.metric_id, section_id=query.section_id,
            period_from=query.period_from, period_to=query.period_to, cursor=cursor, limit=query.limit)
    items = [MetricValueOut(brand_id=r.brand_id, metric_id=r.metric_id, period=r.period, value=r.raw_value,
                            source=r.source, updated_at=r.updated_at) for r in rows]
    return MetricValuePage(items=items, next_cursor=pagination.encode(nxt))
