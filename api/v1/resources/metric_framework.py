"""An organization's metric framework: read it, start it from the template, edit sections, platforms
and metrics, preview and save weights (`framework:manage`; reading also with `metrics:read`).

Every saved change is a new framework version and recomputes the organization's scores for all
months (docs/SCORING.md). Ids of another organization's framework are 404; a refused change is a
422 with the reason, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from api.v1.types import UtcDatetime
from core.runtime import get_db
from core.setup import framework as fw
from core.setup.framework_rules import FrameworkError, NotInFramework
from core.setup.framework_weights import apply_template, parse_proposal, preview, set_weights

router = Router("framework", "Each organization's metric framework: sections, platforms, metrics and weights.")
ID = Field(ge=1, le=2**31 - 1)
BASE = "/organizations/<id:organization_id>/framework"


class MetricNode(BaseModel):
    id: int
    code: str
    name: str
    unit: str
    direction: str
    weight: float
    description: str
    min_value: float | None
    max_value: float | None


class PlatformNode(BaseModel):
    id: int
    name: str
    weight: float
    metrics: list[MetricNode]


class SectionNode(BaseModel):
    id: int
    name: str
    weight: float
    position: int
    platforms: list[PlatformNode]


class FrameworkOut(BaseModel):
    organization_id: int
    version: int = Field(description="Bumped by every saved change; 0 before the first.")
    saved_at: UtcDatetime | None
    sections: list[SectionNode]


class ItemCreated(BaseModel):
    id: int
    version: int


class SectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    weight: float = Field(default=1.0, gt=0, le=1000)


class SectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    weight: float | None = Field(default=None, gt=0, le=1000)
    position: int | None = Field(default=None, ge=0, le=1000)


class PlatformCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section_id: int = ID
    name: str = Field(min_length=1, max_length=100)
    weight: float = Field(default=1.0, gt=0, le=1000)


class PlatformPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    weight: float | None = Field(default=None, gt=0, le=1000)
    section_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class MetricPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, min_length=1, max_length=120)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, max_length=40)
    direction: str | None = Field(default=None, pattern="^(higher|lower)$")
    weight: float | None = Field(default=None, gt=0, le=1000)
    description: str | None = Field(default=None, max_length=1000)
    min_value: float | None = Field(default=None, allow_inf_nan=False)
    max_value: float | None = Field(default=None, allow_inf_nan=False)
    platform_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class MetricCreate(MetricPatch):
    platform_id: int = ID
    code: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=200)


class RemoveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    discard_values: bool = Field(default=False, description="Also delete the imported values it holds.")


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sections: dict[int, float] = Field(default_factory=dict, description="Section id → new weight.")
    platforms: dict[int, float] = Field(default_factory=dict, description="Platform id → new weight.")
    metrics: dict[int, float] = Field(default_factory=dict, description="Metric id → new weight.")


class Move(BaseModel):
    project_id: int
    project: str
    period: str
    brand_id: int
    brand: str
    role: str
    old_score: float
    new_score: float
    old_rank: int
    new_rank: int


class PreviewOut(BaseModel):
    rows: list[Move] = Field(description="Brands whose score or rank would move, biggest move first.")
    periods: dict[str, str] = Field(description="Project → the month previewed (its latest scored month).")
    projects: int
    overridden: dict[str, list[str]] = Field(
        description="Project → changed sections it weighs itself (no effect there).")


def _run(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except NotInFramework:
        raise not_found() from None
    except FrameworkError as exc:
        raise ApiProblem(422, str(exc)) from None


def _tree(organization_id: int) -> FrameworkOut:
    return FrameworkOut.model_validate(_run(lambda: fw.framework(get_db(), current_principal(), organization_id)))


def _created(organization_id: int, ident: int) -> Created:
    return Created(ItemCreated(id=ident, version=_tree(organization_id).version))


def _given(body: BaseModel) -> dict:
    return body.model_dump(exclude_unset=True)


@router.get(BASE, summary="An organization's metric framework", response=FrameworkOut)
def get_framework(organization_id: int) -> FrameworkOut:
    """Sections → platforms → metrics with weights, units, directions and descriptions, and the
    framework version the stored scores were computed with."""
    return _tree(organization_id)


@router.post(BASE + "/template", summary="Start an empty framework from the template", response=FrameworkOut,
             status=201)
def post_template(organization_id: int) -> Created:
    """The four default sections (Marketplace, Digital Spends, Organic Performance, Socialwatch) with
    their platforms and metrics; refused (422) when the organization already has a framework."""
    _run(lambda: apply_template(get_db(), current_principal(), organization_id))
    return Created(_tree(organization_id))


@router.post(BASE + "/sections", summary="Add a section", response=ItemCreated, status=201, body=SectionCreate)
def post_section(organization_id: int, body: SectionCreate) -> Created:
    ident = _run(lambda: fw.create_section(get_db(), current_principal(), organization_id, body.name, body.weight))
    return _created(organization_id, ident)


@router.route("PATCH", BASE + "/sections/<id:section_id>", summary="Rename, reweigh or move a section",
              response=FrameworkOut, body=SectionPatch)
def patch_section(organization_id: int, section_id: int, body: SectionPatch) -> FrameworkOut:
    _run(lambda: fw.update_section(get_db(), current_principal(), organization_id, section_id, **_given(body)))
    return _tree(organization_id)


@router.delete(BASE + "/sections/<id:section_id>", summary="Remove a section with its platforms and metrics",
               status=204, query=RemoveQuery)
def delete_section(organization_id: int, section_id: int, query: RemoveQuery) -> None:
    _run(lambda: fw.delete_section(get_db(), current_principal(), organization_id, section_id,
                                   discard_values=query.discard_values))


@router.post(BASE + "/platforms", summary="Add a platform to a section", response=ItemCreated, status=201,
             body=PlatformCreate)
def post_platform(organization_id: int, body: PlatformCreate) -> Created:
    ident = _run(lambda: fw.create_platform(get_db(), current_principal(), organization_id, body.section_id,
                                            body.name, body.weight))
    return _created(organization_id, ident)


@router.route("PATCH", BASE + "/platforms/<id:platform_id>", summary="Rename, reweigh or move a platform",
              response=FrameworkOut, body=PlatformPatch)
def patch_platform(organization_id: int, platform_id: int, body: PlatformPatch) -> FrameworkOut:
    _run(lambda: fw.update_platform(get_db(), current_principal(), organization_id, platform_id, **_given(body)))
    return _tree(organization_id)


@router.delete(BASE + "/platforms/<id:platform_id>", summary="Remove a platform with its metrics", status=204,
               query=RemoveQuery)
def delete_platform(organization_id: int, platform_id: int, query: RemoveQuery) -> None:
    _run(lambda: fw.delete_platform(get_db(), current_principal(), organization_id, platform_id,
                                    discard_values=query.discard_values))


@router.post(BASE + "/metrics", summary="Add a metric to a platform", response=ItemCreated, status=201,
             body=MetricCreate)
def post_metric(organization_id: int, body: MetricCreate) -> Created:
    fields = _given(body)
    platform = fields.pop("platform_id")
    ident = _run(lambda: fw.create_metric(get_db(), current_principal(), organization_id, platform, fields))
    return _created(organization_id, ident)


@router.route("PATCH", BASE + "/metrics/<id:metric_id>", summary="Change a metric", response=FrameworkOut,
              body=MetricPatch)
def patch_metric(organization_id: int, metric_id: int, body: MetricPatch) -> FrameworkOut:
    """Code, name, unit, direction, weight, description, plausible range or platform."""
    _run(lambda: fw.update_metric(get_db(), current_principal(), organization_id, metric_id, _given(body)))
    return _tree(organization_id)


@router.delete(BASE + "/metrics/<id:metric_id>", summary="Remove a metric", status=204, query=RemoveQuery)
def delete_metric(organization_id: int, metric_id: int, query: RemoveQuery) -> None:
    """Refused (422) while it holds imported values, unless `discard_values=true`."""
    _run(lambda: fw.delete_metric(get_db(), current_principal(), organization_id, metric_id,
                                  discard_values=query.discard_values))


@router.route("PATCH", BASE + "/weights", summary="Save new weights (one version, scores recomputed)",
              response=FrameworkOut, body=Weights)
def patch_weights(organization_id: int, body: Weights) -> FrameworkOut:
    _run(lambda: set_weights(get_db(), current_principal(), organization_id, parse_proposal(body.model_dump())))
    return _tree(organization_id)


@router.post(BASE + "/preview", summary="Preview new weights on the current month (nothing saved)",
             response=PreviewOut, body=Weights, idempotent=False)
def post_preview(organization_id: int, body: Weights) -> PreviewOut:
    """Each project's latest scored month computed with the proposed weights: the brands whose score
    or rank moves (old → new)."""
    return PreviewOut.model_validate(_run(lambda: preview(get_db(), current_principal(), organization_id,
                                                          parse_proposal(body.model_dump()))))
