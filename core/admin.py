"""Read models (and the few small writes) behind the administration and profile pages.

Pages hold no SQL: they call these with the principal of whoever asks. Every list is narrowed by
`scope_filter` for the permission the page is about (users: `user:manage`, grants and roles:
`role:manage`, the trail: `audit:read`), so an administrator of one organization never receives a
row of another, whatever ids the browser posts. Writes re-check authorization here as well, not
only in the page: the same rules hold for the API and for jobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models.base import utcnow
from core.models.portfolio import Brand, Organization, Project
from core.models.security import AuditEvent, Role, RoleGrant, SecurityKey, User
from core.security import mfa
from core.security.audit import Action, iso_utc, record
from core.security.authorizer import can, deny, permissions_for, scope_filter
from core.security.permissions import ORGANIZATION_PERMISSIONS, SYSTEM_ADMINISTRATOR, Permission, allowed_scopes
from core.security.principal import Principal, load_principal, role_permissions
from core.security.role_names import role_label
from core.sessions import SessionStore

USER_MANAGE = Permission.USER_MANAGE.value
ROLE_MANAGE = Permission.ROLE_MANAGE.value
AUDIT_READ = Permission.AUDIT_READ.value
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def _int(value: Any) -> int | None:
    """An id posted by a browser, or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---- organizations ---------------------------------------------------------------------------


def organizations_in_scope(db: Database, principal: Principal, permission: str) -> list[dict]:
    """Live organizations where the principal holds `permission` (a selector; archived ones are left out)."""
    with db.session() as s:
        rows = s.execute(select(Organization.id, Organization.name)
                         .where(scope_filter(principal, permission, Organization), Organization.archived_at.is_(None))
                         .order_by(Organization.name)).all()
    return [{"id": r.id, "name": r.name} for r in rows]


# ---- users -----------------------------------------------------------------------------------


def erasure_requests(session: Session, user_ids: list[int] | None = None) -> dict[int, datetime]:
    """Pending erasure requests by user id (the latest request of each person not yet erased)."""
    stmt = (select(AuditEvent.target_id, func.max(AuditEvent.created_at))
            .where(AuditEvent.action == Action.ERASURE_REQUESTED, AuditEvent.target_type == "user")
            .group_by(AuditEvent.target_id))
    if user_ids is not None:
        stmt = stmt.where(AuditEvent.target_id.in_([str(i) for i in user_ids]))
    found = {int(target): _aware(moment) for target, moment in session.execute(stmt).all() if str(target).isdigit()}
    if not found:
        return {}
    erased = set(session.scalars(select(User.id).where(User.id.in_(found), User.erased_at.is_not(None))))
    return {uid: moment for uid, moment in found.items() if uid not in erased}


def _role_names(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    """Each user's roles as people see them (custom ones marked, see core.security.role_names)."""
    names: dict[int, set[str]] = {}
    if user_ids:
        rows = session.execute(select(RoleGrant.user_id, Role.name, Role.is_builtin, Role.organization_id)
                               .join(Role, Role.id == RoleGrant.role_id).where(RoleGrant.user_id.in_(user_ids)))
        for user_id, name, builtin, organization_id in rows:
            names.setdefault(user_id, set()).add(role_label(name, builtin and organization_id is None))
    return {uid: sorted(v) for uid, v in names.items()}


def list_users(db: Database, principal: Principal, now: datetime | None = None) -> list[dict]:
    """Users the principal may administer, with their lock, MFA and sign-in state, newest first."""
    now = now or utcnow()
    with db.session() as s:
        rows = s.execute(
            select(User, Organization.name).outerjoin(Organization, Organization.id == User.organization_id)
            .where(scope_filter(principal, USER_MANAGE, User)).order_by(User.id.desc())
        ).all()
        ids = [user.id for user, _ in rows]
        roles = _role_names(s, ids)
        requests = erasure_requests(s, ids)
        keys = dict(s.execute(select(SecurityKey.user_id, func.count()).where(SecurityKey.user_id.in_(ids))
                              .group_by(SecurityKey.user_id)).all())
        out = []
        for user, org_name in rows:
            locked_until = _aware(user.locked_until)
            locked = locked_until is not None and locked_until > now
            status = "erased" if user.erased_at else "disabled" if not user.is_active else \
                "locked" if locked else "active"
            out.append({
                "id": user.id, "email": user.email, "name": user.name, "organization_id": user.organization_id,
                "organization": org_name or "— (system)", "status": status, "active": user.is_active,
                "locked": locked, "locked_until": _iso(locked_until) if locked else None,
                "failed_attempts": user.failed_attempts, "mfa": user.mfa_enabled, "security_keys": keys.get(user.id, 0),
                "must_change_password": user.must_change_password,
                "last_sign_in_at": _iso(user.last_sign_in_at), "created_at": _iso(user.created_at),
                "erased": user.erased_at is not None, "roles": ", ".join(roles.get(user.id, [])),
                "erasure_requested_at": _iso(requests.get(user.id)),
            })
    return out


def user_options(db: Database, principal: Principal, permission: str) -> list[dict]:
    """Dropdown options for users (not erased) on whom the principal holds `permission`."""
    with db.session() as s:
        rows = s.execute(select(User.id, User.email, User.name)
                         .where(scope_filter(principal, permission, User), User.erased_at.is_(None))
                         .order_by(User.email)).all()
    return [{"label": f"{r.name} <{r.email}>" if r.name else r.email, "value": r.id} for r in rows]


def can_see_user(principal: Principal, user_id: Any, permission: str) -> bool:
    """Whether the user exists and lies in the principal's scope for `permission`."""
    ident = _int(user_id)
    return ident is not None and can(principal, permission, ("user", ident))


def _authorize_manage(session: Session, actor: Principal, user: User | None) -> User:
    """`user:manage` on the user, and at least every permission they hold (no takeover of a stronger account)."""
    if user is None:
        deny(actor, USER_MANAGE, ("user", None), "not found")
    held = permissions_for(actor, user, session=session)
    if USER_MANAGE not in held:
        deny(actor, USER_MANAGE, ("user", user.id))
    if not load_principal(session, user.id).all_permissions <= held:
        deny(actor, USER_MANAGE, ("user", user.id), "the user holds permissions the actor does not")
    return user


def revoke_user_sessions(db: Database, store: SessionStore, actor: Principal, user_id: int,
                         keep: str | None = None) -> int:
    """End every session of a user (an administrator's action); returns how many were deleted.

    The user's session epoch moves too, so a session in a store we could not list dies as well;
    when administrators end their own sessions, `keep` (the current one) survives and the epoch stays.
    """
    with db.session() as s:
        user = _authorize_manage(s, actor, s.get(User, _int(user_id)))
        own = user.id == actor.user_id
        if not own:
            user.session_epoch += 1
        count = store.delete_for_user(user.id, keep=keep if own else None)
        record(s, Action.SESSION_REVOKED, actor=actor, organization_id=user.organization_id,
               target=("user", user.id), data={"sessions": count, "all": True})
        return count


# ---- the person's own sessions and data ------------------------------------------------------


def own_sessions(store: SessionStore, user_id: int, current_key: str | None) -> list[dict]:
    """The person's live sessions for the profile page, the current one marked."""
    return [{
        "key": r.key, "current": r.key == current_key, "ip": r.ip or "unknown",
        "user_agent": r.user_agent or "unknown", "created_at": _iso(r.created_at),
        "last_seen_at": _iso(r.last_seen_at),
    } for r in store.for_user(user_id)]


def owns_session(store: SessionStore, user_id: int | None, key: Any) -> bool:
    """Whether `key` names a live session of this person (a key posted by a browser is checked here)."""
    return user_id is not None and isinstance(key, str) and any(r.key == key for r in store.for_user(user_id))


def revoke_own_session(db: Database, store: SessionStore, user_id: int, key: str, current_key: str | None) -> None:
    """Sign one of the person's other sessions out; never someone else's, never the current one."""
    if not owns_session(store, user_id, key):
        raise PermissionError("not one of your sessions")
    if key == current_key:
        raise ValueError("this is the session you are using: sign out instead")
    store.delete(key)
    with db.session() as s:
        user = s.get(User, user_id)
        record(s, Action.SESSION_REVOKED, actor=user_id, organization_id=user.organization_id if user else None,
               target=("user", user_id), data={"sessions": 1, "all": False})


def revoke_other_own_sessions(db: Database, store: SessionStore, user_id: int, current_key: str | None) -> int:
    """Sign the person out everywhere but here; returns how many sessions ended."""
    count = store.delete_for_user(user_id, keep=current_key)
    with db.session() as s:
        user = s.get(User, user_id)
        record(s, Action.SESSION_REVOKED, actor=user_id, organization_id=user.organization_id if user else None,
               target=("user", user_id), data={"sessions": count, "all": True})
    return count


def my_profile(db: Database, user_id: int) -> dict:
    """What the profile page shows about the person: account, roles at scopes, MFA, erasure request."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError("no such user")
        org = s.get(Organization, user.organization_id) if user.organization_id is not None else None
        grants = _grant_rows(s, user.id)
        return {
            "id": user.id, "email": user.email, "name": user.name, "organization": org.name if org else None,
            "mfa": user.mfa_enabled, "recovery_codes_left": mfa.remaining_recovery_codes(s, user.id),
            "last_sign_in_at": _iso(user.last_sign_in_at), "password_changed_at": _iso(user.password_changed_at),
            "created_at": _iso(user.created_at), "grants": grants,
            "erasure_requested_at": _iso(erasure_requests(s, [user.id]).get(user.id)),
        }


def request_erasure(db: Database, user_id: int) -> datetime:
    """Record the person's request to be erased (an administrator executes it); idempotent while pending."""
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None or user.erased_at is not None:
            raise LookupError("no such user")
        pending = erasure_requests(s, [user.id]).get(user.id)
        if pending is not None:
            return pending
        event = record(s, Action.ERASURE_REQUESTED, actor=user.id, organization_id=user.organization_id,
                       target=("user", user.id))
        return _aware(event.created_at)


# ---- grants and roles ------------------------------------------------------------------------


def _scope_names(session: Session, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {("system", 0): "the whole system"}
    for kind, model in (("organization", Organization), ("project", Project), ("brand", Brand)):
        ids = [i for k, i in pairs if k == kind]
        if ids:
            for ident, name in session.execute(select(model.id, model.name).where(model.id.in_(ids))):
                names[(kind, ident)] = name
    return names


def _grant_rows(session: Session, user_id: int) -> list[dict]:
    rows = session.execute(select(RoleGrant, Role).join(Role, Role.id == RoleGrant.role_id)
                           .where(RoleGrant.user_id == user_id).order_by(RoleGrant.id)).all()
    names = _scope_names(session, {(g.scope_type, g.scope_id) for g, _ in rows})
    return [{
        "id": g.id, "role": r.name, "custom": not r.is_builtin,
        "role_label": role_label(r.name, r.is_builtin and r.organization_id is None),
        "scope_type": g.scope_type, "scope_id": g.scope_id,
        "scope": names.get((g.scope_type, g.scope_id), f"{g.scope_type} {g.scope_id} (deleted)"),
        "granted_at": _iso(g.created_at),
    } for g, r in rows]


def user_grants(db: Database, principal: Principal, user_id: int) -> list[dict]:
    """The grants of one user, if the principal may manage roles for them (else Forbidden, audited)."""
    ident = _int(user_id)
    if not can_see_user(principal, ident, ROLE_MANAGE):
        deny(principal, ROLE_MANAGE, ("user", ident), "user out of scope")
    with db.session() as s:
        return _grant_rows(s, ident)


def grant_in_scope(db: Database, principal: Principal, grant_id: Any) -> bool:
    """Whether the grant exists and its holder lies in the principal's `role:manage` scope."""
    ident = _int(grant_id)
    if ident is None:
        return False
    with db.session() as s:
        user_id = s.scalar(select(RoleGrant.user_id).where(RoleGrant.id == ident))
        return user_id is not None and can(principal, ROLE_MANAGE, ("user", user_id), session=s)


def role_usable(db: Database, principal: Principal, role_id: Any) -> bool:
    """A built-in role (System Administrator for system administrators only) or a custom role in scope."""
    ident = _int(role_id)
    if ident is None:
        return False
    with db.session() as s:
        role = s.get(Role, ident)
        if role is None:
            return False
        if role.is_builtin and role.organization_id is None:
            return role.name != SYSTEM_ADMINISTRATOR or principal.is_system_admin
        return can(principal, ROLE_MANAGE, role, session=s)


def grantable_roles(db: Database, principal: Principal, user_id: int) -> list[dict]:
    """Roles the principal could grant this user somewhere in their organization (the server re-checks
    each grant at its scope): built-in and the organization's custom roles, within what the principal holds."""
    with db.session() as s:
        user = s.get(User, _int(user_id))
        if user is None:
            return []
        held = permissions_for(principal, ("organization", user.organization_id), session=s) \
            if user.organization_id is not None else principal.system
        roles = s.scalars(select(Role).where(
            (Role.organization_id.is_(None) & Role.is_builtin.is_(True))
            | (Role.organization_id == user.organization_id)).order_by(Role.is_builtin.desc(), Role.name)).all()
        out = []
        for role in roles:
            builtin = role.is_builtin and role.organization_id is None
            if builtin and role.name == SYSTEM_ADMINISTRATOR and not principal.is_system_admin:
                continue
            if not role_permissions(role) <= held:
                continue
            out.append({"label": role_label(role.name, builtin), "value": role.id,
                        "scopes": list(allowed_scopes(role.name, builtin=builtin))})
        return out


def scope_choices(db: Database, principal: Principal, user_id: int, scope_type: str) -> list[dict]:
    """Scopes of `scope_type` inside the user's organization where the principal holds `role:manage`."""
    with db.session() as s:
        user = s.get(User, _int(user_id))
        if user is None:
            return []
        if scope_type == "system":
            return [{"label": "The whole system", "value": 0}] if principal.is_system_admin else []
        if user.organization_id is None:
            return []
        model = {"organization": Organization, "project": Project, "brand": Brand}.get(scope_type)
        if model is None:
            return []
        org_column = Organization.id if model is Organization else model.organization_id
        rows = s.execute(select(model.id, model.name).where(org_column == user.organization_id,
                                                            scope_filter(principal, ROLE_MANAGE, model))
                         .order_by(model.name)).all()
        return [{"label": r.name, "value": r.id} for r in rows]


def custom_roles(db: Database, principal: Principal) -> list[dict]:
    """Custom roles of the organizations where the principal manages roles, with how many hold each."""
    with db.session() as s:
        holders = (select(RoleGrant.role_id, func.count(func.distinct(RoleGrant.user_id)).label("n"))
                   .group_by(RoleGrant.role_id).subquery())
        rows = s.execute(
            select(Role, Organization.name, holders.c.n).join(Organization, Organization.id == Role.organization_id)
            .outerjoin(holders, holders.c.role_id == Role.id)
            .where(Role.is_builtin.is_(False), scope_filter(principal, ROLE_MANAGE, Role)).order_by(Role.name)
        ).all()
    return [{"id": role.id, "name": role.name, "label": role_label(role.name, False),
             "organization_id": role.organization_id, "organization": org,
             "permissions": ", ".join(role.permissions or []),
             "holders": n or 0} for role, org, n in rows]


def definable_permissions(principal: Principal, organization_id: int | None) -> list[str]:
    """Permissions the principal may put into a custom role of this organization."""
    if organization_id is None:
        return []
    held = permissions_for(principal, ("organization", organization_id))
    return sorted(held & ORGANIZATION_PERMISSIONS) if ROLE_MANAGE in held else []


# ---- the audit trail -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    rows: list[dict]
    total: int
    page: int
    pages: int


def audit_actions() -> list[str]:
    """Every audited action name, for the filter."""
    return sorted(v for k, v in vars(Action).items() if k.isupper() and isinstance(v, str))


def _day_start(value: date | str) -> datetime:
    day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_events(db: Database, principal: Principal, *, action: str | None = None, actor_id: int | None = None,
                 organization_id: int | None = None, start: date | str | None = None, end: date | str | None = None,
                 page: int = 1, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of audit events in the principal's `audit:read` scope, newest first.

    `start`/`end` are whole days in UTC, both included. Actors and targets are named only when
    they lie in the principal's scope (an operator outside organizations stays "user #id").
    """
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    conditions = [scope_filter(principal, AUDIT_READ, AuditEvent)]
    if action:
        conditions.append(AuditEvent.action == action)
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == int(actor_id))
    if organization_id is not None:
        conditions.append(AuditEvent.organization_id == int(organization_id))
    if start:
        conditions.append(AuditEvent.created_at >= _day_start(start))
    if end:
        conditions.append(AuditEvent.created_at < _day_start(end) + timedelta(days=1))
    where = and_(*conditions)
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(AuditEvent).where(where)) or 0
        pages = max(1, math.ceil(total / page_size))
        page = max(1, min(int(page), pages))
        events = s.scalars(select(AuditEvent).where(where).order_by(AuditEvent.id.desc())
                           .offset((page - 1) * page_size).limit(page_size)).all()
        people = {e.actor_id for e in events if e.actor_id is not None}
        people |= {int(e.target_id) for e in events if e.target_type == "user" and (e.target_id or "").isdigit()}
        emails = dict(s.execute(select(User.id, User.email).where(User.id.in_(people),
                                                                  scope_filter(principal, AUDIT_READ, User))).all()) \
            if people else {}
        orgs = dict(s.execute(select(Organization.id, Organization.name)).all())

        def who(user_id: int | None) -> str:
            if user_id is None:
                return "system"
            return emails.get(user_id, f"user #{user_id}")

        rows = []
        for e in events:
            target = f"{e.target_type} {e.target_id}" if e.target_type else ""
            if e.target_type == "user" and (e.target_id or "").isdigit():
                target = who(int(e.target_id))
            details = {**(e.data or {}), **{k: v for k, v in (e.personal or {}).items() if v}}
            rows.append({
                "id": e.id, "created_at": _iso(e.created_at), "action": e.action, "actor": who(e.actor_id),
                "target": target, "organization": orgs.get(e.organization_id, "—"),
                "details": ", ".join(f"{k}={v}" for k, v in sorted(details.items())),
            })
    return AuditPage(rows, total, page, pages)
