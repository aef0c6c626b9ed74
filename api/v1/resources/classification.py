"""Data classification of metrics, sections and scenarios (issue 17): read it, set it.

Reading needs what seeing the item needs (the organization's metrics or framework; a scenario's
`scenario:read`), and an item above your clearance is a 404 like one out of scope. Setting goes
through the same service as the Framework and Scenarios pages (`core.setup.classification`): metrics
and sections need `framework:manage` on their organization, a scenario is set by its owner up to
their own clearance; every change is audited as `classification.changed`. A refused change is a 403,
a level that is not one of the four a 422 with the reason; either changes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core.classification import ClassificationError
from core.runtime import get_db
from core.setup.classification import set_framework_level, set_scenario_level
from core.setup.classification_read import read_level

router = Router("classification", "Data classification levels of metrics, sections and scenarios.")


class LevelOut(BaseModel):
    kind: Literal["metric", "section", "scenario"]
    id: int
    organization_id: int
    classification: str = Field(description="Its own level: public, internal, confidential or restricted.")
    reads_at: str = Field(description="The level its values are read at: for a metric the higher of its own and "
                                      "its section's, otherwise its own.")


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classification: str = Field(min_length=1, max_length=40,
                                description="public, internal, confidential or restricted (any case).")


def _read(kind: str, item_id: int) -> LevelOut:
    try:
        return LevelOut.model_validate(read_level(get_db(), current_principal(), kind, item_id))
    except LookupError:
        raise not_found() from None


def _set(kind: str, item_id: int, level: str) -> LevelOut:
    _read(kind, item_id)  # out of sight first: a 404, never a hint through a 403 or a 422
    principal, db = current_principal(), get_db()
    try:
        if kind == "scenario":
            set_scenario_level(db, principal, item_id, level)
        else:
            set_framework_level(db, principal, kind, item_id, level)
    except ClassificationError as exc:
        raise ApiProblem(422, f"Nothing was changed: {exc}.") from None
    except LookupError:
        raise not_found() from None
    return _read(kind, item_id)


@router.get("/metrics/<id:metric_id>/classification", summary="A metric's data classification", response=LevelOut)
def get_metric_level(metric_id: int) -> LevelOut:
    return _read("metric", metric_id)


@router.patch("/metrics/<id:metric_id>/classification", summary="Classify a metric", response=LevelOut,
              body=LevelIn)
def put_metric_level(metric_id: int, body: LevelIn) -> LevelOut:
    """Needs `framework:manage` on the metric's organization; audited."""
    return _set("metric", metric_id, body.classification)


@router.get("/sections/<id:section_id>/classification", summary="A section's data classification", response=LevelOut)
def get_section_level(section_id: int) -> LevelOut:
    return _read("section", section_id)


@router.patch("/sections/<id:section_id>/classification", summary="Classify a section (its platforms and "
              "metrics read at least at its level)", response=LevelOut, body=LevelIn)
def put_section_level(section_id: int, body: LevelIn) -> LevelOut:
    """Needs `framework:manage` on the section's organization; audited."""
    return _set("section", section_id, body.classification)


@router.get("/scenarios/<id:scenario_id>/classification", summary="A scenario's data classification",
            response=LevelOut)
def get_scenario_level(scenario_id: int) -> LevelOut:
    return _read("scenario", scenario_id)


@router.patch("/scenarios/<id:scenario_id>/classification", summary="Classify a scenario of yours",
              response=LevelOut, body=LevelIn)
def put_scenario_level(scenario_id: int, body: LevelIn) -> LevelOut:
    """Its owner only, up to the highest level they read (so they never lose it); audited."""
    return _set("scenario", scenario_id, body.classification)
