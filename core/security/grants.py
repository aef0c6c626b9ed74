"""Roles and grants: built-in roles kept in step with the code, custom roles, grant and revoke.

Nobody can hand out more than they hold: a role granted at a scope must be a subset of the
granter's own permissions there, a custom role may only be defined from permissions the creator
holds in the organization, and only System Administrators grant System Administrator. Every
refusal goes through `deny`, so it is audited like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.models.portfolio import Brand, Organization, Project
from core.models.security import Role, RoleGrant, User
from core.security.audit import Action, record
from core.security.authorizer import deny, permissions_for
from core.security.permissions import (
    BUILTIN_ROLES,
    SYSTEM_ADMINISTRATOR,
    Permission,
    allowed_scopes,
    validate_permissions,
)
from core.security.principal import Principal, role_permissions
from core.security.role_names import role_label

_SCOPE_MODELS = {"organization": Organization, "project": Project, "brand": Brand}


def ensure_builtin_roles(session: Session) -> dict[str, Role]:
    """Create or refresh the built-in role rows; returns them by name."""
    existing = {r.name: r for r in session.scalars(
        select(Role).where(Role.organization_id.is_(None), Role.is_builtin.is_(True)))}
    for name, perms in BUILTIN_ROLES.items():
        role = existing.get(name)
        if role is None:
            role = existing[name] = Role(name=name, organization_id=None, is_builtin=True, permissions=[])
            session.add(role)
        if sorted(role.permissions or []) != sorted(perms):
            role.permissions = sorted(perms)
    session.flush()
    return existing


def create_custom_role(db: Database, actor: Principal, organization_id: int, name: str,
                       permissions: Iterable[str]) -> int:
    """A role of one organization from the permission list; returns its id."""
    perms = validate_permissions(permissions)
    with db.session() as session:
        org = session.get(Organization, organization_id)
        target = org if org is not None else ("organization", organization_id)
        held = permissions_for(actor, target, session=session)
        if Permission.ROLE_MANAGE.value not in held:
            deny(actor, Permission.ROLE_MANAGE, target)
        if not perms <= held:
            deny(actor, Permission.ROLE_MANAGE, target, f"cannot define a role with {sorted(perms - held)}")
        role = Role(organization_id=organization_id, name=name, permissions=sorted(perms), is_builtin=False)
        session.add(role)
        session.flush()  # core.security.role_names cleans the name and refuses a reserved or look-alike one
        record(session, Action.ROLE_CREATED, actor=actor, organization_id=organization_id, target=role,
               data={"name": role.name, "permissions": sorted(perms)})
        return role.id


def _scope_object(session: Session, scope_type: str, scope_id: int):
    if scope_type == "system":
        return "system"
    if scope_type not in _SCOPE_MODELS:
        raise ValueError(f"unknown scope type {scope_type!r}")
    return session.get(_SCOPE_MODELS[scope_type], scope_id)


def _scope_organization(scope: object) -> int | None:
    if isinstance(scope, Organization):
        return scope.id
    return getattr(scope, "organization_id", None)


def grant_role(db: Database, actor: Principal, user_id: int, role_id: int, scope_type: str,
               scope_id: int = 0) -> int:
    """Give a user a role at a scope, after the escalation checks; returns the grant id (idempotent)."""
    with db.session() as session:
        user = session.get(User, user_id)
        role = session.get(Role, role_id)
        scope = _scope_object(session, scope_type, scope_id)
        target = ("role_grant", f"{user_id}:{role_id}:{scope_type}:{scope_id}")
        if user is None or role is None or scope is None:
            deny(actor, Permission.ROLE_MANAGE, target, "user, role or scope not found")
        if scope_type not in allowed_scopes(role.name, builtin=role.is_builtin and role.organization_id is None):
            raise ValueError(f"{role.name} cannot be granted at {scope_type} scope")
        if role.name == SYSTEM_ADMINISTRATOR and role.is_builtin:
            if not actor.is_system_admin:
                deny(actor, Permission.SYSTEM_MANAGE, target, "only System Administrators grant System Administrator")
        else:
            org = _scope_organization(scope)
            if user.organization_id != org or (role.organization_id is not None and role.organization_id != org):
                deny(actor, Permission.ROLE_MANAGE, target, "user, role and scope must share one organization")
        held = actor.system if scope == "system" else permissions_for(actor, scope, session=session)
        if Permission.ROLE_MANAGE.value not in held:
            deny(actor, Permission.ROLE_MANAGE, target)
        wanted = role_permissions(role)
        if not wanted <= held:
            deny(actor, Permission.ROLE_MANAGE, target, f"cannot grant more than held: {sorted(wanted - held)}")
        grant = session.scalar(select(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role_id == role_id,
            RoleGrant.scope_type == scope_type, RoleGrant.scope_id == scope_id))
        if grant is not None:
            return grant.id
        grant = RoleGrant(user_id=user_id, role_id=role_id, scope_type=scope_type, scope_id=scope_id)
        session.add(grant)
        session.flush()
        record(session, Action.GRANT_CREATED, actor=actor, organization_id=user.organization_id,
               target=("user", user_id),
               data={"grant_id": grant.id, "role": role_label(role.name, role.is_builtin), "role_id": role.id,
                     "scope_type": scope_type, "scope_id": scope_id})
        return grant.id


def revoke_grant(db: Database, actor: Principal, grant_id: int) -> None:
    """Remove a grant; the same rule as granting (you can only take away what you could give)."""
    with db.session() as session:
        grant = session.get(RoleGrant, grant_id)
        if grant is None:
            deny(actor, Permission.ROLE_MANAGE, ("role_grant", grant_id), "not found")
        scope = _scope_object(session, grant.scope_type, grant.scope_id)
        held = actor.system if scope == "system" or scope is None else permissions_for(actor, scope, session=session)
        if Permission.ROLE_MANAGE.value not in held or not role_permissions(grant.role) <= held:
            deny(actor, Permission.ROLE_MANAGE, ("role_grant", grant_id))
        user = grant.user
        data = {"grant_id": grant.id, "role": role_label(grant.role.name, grant.role.is_builtin),
                "scope_type": grant.scope_type,
                "scope_id": grant.scope_id}
        session.delete(grant)
        session.flush()
        record(session, Action.GRANT_REVOKED, actor=actor, organization_id=user.organization_id,
               target=("user", user.id), data=data)


def holds_role(session: Session, user_id: int, role_names: Iterable[str]) -> bool:
    """Whether the user has a grant of any of these built-in roles (e.g. to require MFA)."""
    return session.scalar(
        select(RoleGrant.id).join(Role, Role.id == RoleGrant.role_id)
        .where(RoleGrant.user_id == user_id, Role.is_builtin.is_(True), Role.organization_id.is_(None),
               Role.name.in_(list(role_names))).limit(1)
    ) is not None
