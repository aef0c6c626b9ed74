"""A brand's stored response curves (fitted from its history, or the demo's generating truth)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from api.v1.framework import Router
from api.v1.problems import not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core import records
from core.runtime import get_db

router = Router("response-curves", "revenue = β · saturation(adstock(spend)) per brand and channel; the saturation "
                                   "is Hill or logistic (params.family).")


class CurveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["fitted", "truth"] = "fitted"


class CurveOut(BaseModel):
    channel: str
    params: dict[str, Any]
    diagnostics: dict[str, Any]
    fitted_at: UtcDatetime


class CurveList(BaseModel):
    brand_id: int
    kind: str
    items: list[CurveOut]


@router.get("/brands/<id:brand_id>/response-curves", summary="A brand's response curves", response=CurveList,
            query=CurveQuery)
def brand_curves(brand_id: int, query: CurveQuery) -> CurveList:
    with get_db().session() as s:
        curves = records.response_curves(s, current_principal(), brand_id, query.kind)
    if curves is None:
        raise not_found()
    return CurveList(brand_id=brand_id, kind=query.kind, items=[CurveOut(**c) for c in curves])
