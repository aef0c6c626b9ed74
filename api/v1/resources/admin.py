"""Administration: the audit trail (`audit:read`), users (`user:manage`) and their grants (`role:manage`).

Writes go through the same services as the admin pages (core.security.grants, the Accounts
service), which re-check the actor's permission and refuse escalation. Users and grants outside
the caller's scope are 404.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from api.v1.framework import Created, Router
from api.v1.problems import ApiProblem, not_found
from api.v1.security import current_principal
from core import admin
from core.runtime import get_db
from core.security import Forbidden, grant_role, revoke_grant

router = Router("admin", "For administrators: the audit trail, users and their grants.")


def _require(permission: str) -> None:
    if permission not in current_principal().all_permissions:
        raise ApiProblem(403, f"This needs {permission}.")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str | None = Field(default=None, max_length=80)
    actor_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    organization_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    start: date | None = Field(default=None, description="First day included (UTC).")
    end: date | None = Field(default=None, description="Last day included (UTC).")
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)


class AuditEventOut(BaseModel):
    id: int
    created_at: str | None
    action: str
    actor: str
    target: str
    organization: str
    details: str


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    total: int
    page: int
    pages: int


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    organization_id: int | None
    organization: str
    status: str
    active: bool
    locked: bool
    locked_until: str | None
    failed_attempts: int
    mfa: bool
    must_change_password: bool
    last_sign_in_at: str | None
    created_at: str | None
    erased: bool
    roles: str
    erasure_requested_at: str | None


class UserList(BaseModel):
    items: list[UserOut]


class GrantOut(BaseModel):
    id: int
    role: str
    custom: bool
    role_label: str = Field(description="The role as people see it: a custom role's name is marked “(custom)”.")
    scope_type: str
    scope_id: int | None
    scope: str
    granted_at: str | None


class GrantList(BaseModel):
    user_id: int
    items: list[GrantOut]


@router.get("/audit-events", summary="The audit trail in your scope, newest first", response=AuditPageOut,
            query=AuditQuery)
def audit_events(query: AuditQuery) -> AuditPageOut:
    _require("audit:read")
    page = admin.audit_events(get_db(), current_principal(), action=query.action, actor_id=query.actor_id,
                              organization_id=query.organization_id, start=query.start, end=query.end,
                              page=query.page, page_size=query.page_size)
    return AuditPageOut(items=[AuditEventOut.model_validate(r) for r in page.rows], total=page.total,
                        page=page.page, pages=page.pages)


@router.get("/users", summary="Users you may administer", response=UserList)
def list_users() -> UserList:
    _require("user:manage")
    return UserList(items=[UserOut.model_validate(u) for u in admin.list_users(get_db(), current_principal())])


@router.get("/users/<id:user_id>/grants", summary="A user's role grants", response=GrantList)
def user_grants(user_id: int) -> GrantList:
    _require("role:manage")
    try:
        rows = admin.user_grants(get_db(), current_principal(), user_id)
    except Forbidden:
        raise not_found() from None
    return GrantList(user_id=user_id, items=[GrantOut.model_validate(g) for g in rows])


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role_id: int = Field(ge=1, le=2**31 - 1)
    scope_type: Literal["organization", "project", "brand"]
    scope_id: int = Field(ge=1, le=2**31 - 1)


def _grants(user_id: int) -> GrantList:
    rows = admin.user_grants(get_db(), current_principal(), user_id)
    return GrantList(user_id=user_id, items=[GrantOut.model_validate(g) for g in rows])


@router.post("/users/<id:user_id>/grants", summary="Grant a user a role at a scope", response=GrantList,
             status=201, body=GrantCreate)
def create_grant(user_id: int, body: GrantCreate) -> Created:
    """Only roles and scopes you could hold yourself; granting twice changes nothing."""
    _require("role:manage")
    principal, db = current_principal(), get_db()
    if not admin.can_see_user(principal, user_id, "role:manage") or not admin.role_usable(db, principal, body.role_id):
        raise not_found()
    try:
        grant_role(db, principal, user_id, body.role_id, body.scope_type, body.scope_id)
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None
    return Created(_grants(user_id))


@router.delete("/grants/<id:grant_id>", summary="Revoke a grant", status=204)
def delete_grant(grant_id: int) -> None:
    _require("role:manage")
    principal, db = current_principal(), get_db()
    if not admin.grant_in_scope(db, principal, grant_id):
        raise not_found()
    revoke_grant(db, principal, grant_id)


def _account_action(user_id: int, action: str) -> None:
    _require("user:manage")
    principal = current_principal()
    if not admin.can_see_user(principal, user_id, "user:manage"):
        raise not_found()
    accounts = current_app.extensions["digicadence.accounts"]
    try:
        getattr(accounts, action)(principal, user_id)
    except ValueError as exc:
        raise ApiProblem(422, str(exc)) from None


@router.post("/users/<id:user_id>/disable", summary="Disable a user (ends their sessions and tokens)", status=204)
def disable_user(user_id: int) -> None:
    _account_action(user_id, "disable_user")


@router.post("/users/<id:user_id>/enable", summary="Enable a disabled user", status=204)
def enable_user(user_id: int) -> None:
    _account_action(user_id, "enable_user")
