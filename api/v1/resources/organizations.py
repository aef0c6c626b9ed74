"""Setting organizations up, for System Administrators (`system:manage`): create, rename, archive,
unarchive, and invite an Organization Administrator.

Reading is `GET /organizations` of the portfolio resource (`include_archived=true` lists archived
ones too, for System Administrators: nobody else sees an archived organization). These
operations call core/setup/organizations.py, which authorizes (a refusal is audited and answers 403
whatever the id, so nothing is learnt about other organizations), validates and audits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core.runtime import get_db
from core.security import Forbidden
from core.setup import organizations as service

router = Router("organizations", "For System Administrators: create, rename, archive organizations and invite "
                                 "their first administrator.")
REFUSED = "Only System Administrators manage organizations."


class OrganizationDetail(BaseModel):
    id: int
    name: str
    slug: str = Field(description="Derived from the first name, unique, kept on rename.")
    status: Literal["live", "archived"]
    created_at: str
    archived_at: str | None = Field(description="When it was archived; null while live.")
    members: int = Field(description="Users of the organization (erased ones not counted).")
    projects: int = Field(description="Live projects.")
    brands: int = Field(description="Live brands.")


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="The new name; the slug stays.")


class AdministratorInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)
    method: Literal["invite", "password"] = Field(
        default="invite", description="An invitation link (default) or a temporary password changed at first sign-in.")


class AdministratorCreated(BaseModel):
    user_id: int
    organization_id: int
    invite_path: str | None = Field(description="Send this path on your site to the person; it works once.")
    invite_expires_at: datetime | None
    temporary_password: str | None = Field(description="Shown only in this response.")


def _call(action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a service function; its refusals and reasons become problems (nothing was changed)."""
    try:
        return action(get_db(), current_principal(), *args, **kwargs)
    except Forbidden:
        raise ApiProblem(403, REFUSED) from None
    except service.OrganizationNotFound:
        raise not_found() from None
    except service.OrganizationExists as exc:
        raise ApiProblem(409, str(exc)) from None
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None


@router.post("/organizations", summary="Create an organization", response=OrganizationDetail, status=201,
             body=OrganizationCreate, location=lambda body: f"/api/v1/organizations/{body['id']}")
def create(body: OrganizationCreate) -> Created:
    """A unique name (case does not count); the slug is derived from it; settings start at the system defaults."""
    return Created(OrganizationDetail.model_validate(_call(service.create_organization, body.name)))


@router.patch("/organizations/<id:organization_id>", summary="Rename an organization", response=OrganizationDetail,
              body=OrganizationUpdate)
def rename(organization_id: int, body: OrganizationUpdate) -> OrganizationDetail:
    return OrganizationDetail.model_validate(_call(service.rename_organization, organization_id, body.name))


@router.post("/organizations/<id:organization_id>/archive", summary="Archive an organization (data kept)",
             response=OrganizationDetail)
def archive(organization_id: int) -> OrganizationDetail:
    """Off every list; its members see an "archived" page and the API gives them nothing until it is unarchived."""
    return OrganizationDetail.model_validate(_call(service.archive_organization, organization_id))


@router.post("/organizations/<id:organization_id>/unarchive", summary="Bring an archived organization back",
             response=OrganizationDetail)
def unarchive(organization_id: int) -> OrganizationDetail:
    return OrganizationDetail.model_validate(_call(service.unarchive_organization, organization_id))


@router.post("/organizations/<id:organization_id>/administrators", summary="Invite an Organization Administrator",
             response=AdministratorCreated, status=201, body=AdministratorInvite)
def invite_administrator(organization_id: int, body: AdministratorInvite) -> Created:
    """The account is made as on the Users page; they set up two-factor sign-in at their first sign-in."""
    accounts = current_app.extensions["digicadence.accounts"]
    new = _call(lambda db, principal: service.invite_administrator(
        db, accounts, principal, organization_id, email=body.email, name=body.name, invite=body.method == "invite"))
    return Created(AdministratorCreated(
        user_id=new.user_id, organization_id=organization_id,
        invite_path=f"/login/invite/{new.invite_token}" if new.invite_token else None,
        invite_expires_at=new.invite_expires_at, temporary_password=new.temporary_password))
