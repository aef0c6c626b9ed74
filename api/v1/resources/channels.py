"""An organization's paid media channels: list, create, rename, merge (`portfolio:manage`).

Merging moves spend and response curves; spend of one brand in one period on both channels is
refused (422) with the list (docs/SCORING.md, "Channels"). Another organization's channel ids are 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core.runtime import get_db
from core.setup import channels

router = Router("channels", "Each organization's paid media channels.")
BASE = "/organizations/<id:organization_id>/channels"


class ChannelOut(BaseModel):
    id: int
    name: str
    spend_rows: int
    curves: int


class ChannelList(BaseModel):
    items: list[ChannelOut]


class ChannelName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, le=2**31 - 1, description="The channel that stays and receives the spend and curves.")


class MergeOut(BaseModel):
    spend_rows: int
    curves_moved: int
    curves_dropped: int


def _run(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except channels.NoSuchChannel:
        raise not_found() from None
    except channels.ChannelError as exc:
        raise ApiProblem(422, str(exc)) from None


def _one(organization_id: int, channel_id: int) -> ChannelOut:
    rows = channels.list_channels(get_db(), current_principal(), organization_id)
    return ChannelOut.model_validate(next(r for r in rows if r["id"] == channel_id))


@router.get(BASE, summary="An organization's channels", response=ChannelList)
def list_channels(organization_id: int) -> ChannelList:
    rows = channels.list_channels(get_db(), current_principal(), organization_id)
    return ChannelList(items=[ChannelOut.model_validate(r) for r in rows])


@router.post(BASE, summary="Add a channel", response=ChannelOut, status=201, body=ChannelName)
def create_channel(organization_id: int, body: ChannelName) -> Created:
    ident = _run(lambda: channels.create_channel(get_db(), current_principal(), organization_id, body.name))
    return Created(_one(organization_id, ident))


@router.route("PATCH", BASE + "/<id:channel_id>", summary="Rename a channel", response=ChannelOut, body=ChannelName)
def rename_channel(organization_id: int, channel_id: int, body: ChannelName) -> ChannelOut:
    _run(lambda: channels.rename_channel(get_db(), current_principal(), organization_id, channel_id, body.name))
    return _one(organization_id, channel_id)


@router.post(BASE + "/<id:channel_id>/merge", summary="Merge a channel into another", response=MergeOut,
             body=MergeBody)
def merge_channel(organization_id: int, channel_id: int, body: MergeBody) -> MergeOut:
    """The channel in the path goes; its spend and curves move to `into`."""
    return MergeOut.model_validate(_run(lambda: channels.merge_channels(
        get_db(), current_principal(), organization_id, channel_id, body.into)))
