"""Organizations, as System Administrators set them up (issue 14, item 2): create, rename, archive
and unarchive, and invite an organization's first administrator.

Every function takes the acting principal and authorizes `system:manage` here (an Organization
Administrator holds everything but that), validates the name with a sentence a person can act on,
and audits the change in the same transaction. The admin page, the REST API
(`api/v1/resources/organizations.py`) and `python -m core.setup org-…` (core/setup/organization_commands.py)
all call these, so a rule holds everywhere at once.

Archiving keeps every row: the organization leaves the lists and selectors, and its members hold
no permission while it is archived (core.security.principal), so they see the "archived" page
instead of empty ones (dashboard.auth.gate). Unarchiving gives everything back as it was.
The slug is derived once from the first name and kept on rename: scripts name organizations by it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database
from core.models.base import utcnow
from core.models.portfolio import Brand, Organization, Project
from core.models.security import OrganizationSecurity, User
from core.security.accounts import Accounts, NewUser
from core.security.audit import Action, iso_utc, record
from core.security.authorizer import authorize, can
from core.security.grants import ensure_builtin_roles, grant_role
from core.security.identity import IdentityRejected, normalize_display_name
from core.security.permissions import ORGANIZATION_ADMINISTRATOR, Permission
from core.security.principal import Principal

SYSTEM_MANAGE = Permission.SYSTEM_MANAGE.value
SLUG_MAX = 60


class OrganizationInvalid(ValueError):
    """The request cannot be done as asked; the message says why in plain words. Nothing was changed."""


class OrganizationExists(OrganizationInvalid):
    """Another organization already has this name (compared without regard to case)."""


class OrganizationNotFound(LookupError):
    """No organization has this id."""


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        ident = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return ident if 0 < ident < 2**31 else None


def may_manage(principal: Principal, organization_id: Any) -> bool:
    """Whether the principal may manage this organization (for ids a browser sends; not audited)."""
    ident = _id(organization_id)
    return ident is not None and can(principal, SYSTEM_MANAGE, ("organization", ident))


def _authorize(principal: Principal, organization_id: Any = None) -> int | None:
    """`system:manage` on the organization (or on the system to create one); a refusal is audited."""
    if organization_id is None:
        authorize(principal, SYSTEM_MANAGE, ("system", None))
        return None
    ident = _id(organization_id)
    authorize(principal, SYSTEM_MANAGE, ("organization", ident if ident is not None else 0))
    if ident is None:
        raise OrganizationNotFound("No such organization.")
    return ident


def clean_name(raw: Any) -> str:
    """The name as stored: NFKC, single spaces, trimmed; refused when empty, too long or a look-alike trick."""
    if not isinstance(raw, str) or not raw.strip():
        raise OrganizationInvalid("Enter the organization's name.")
    try:
        return normalize_display_name(raw)
    except IdentityRejected as exc:
        raise OrganizationInvalid(str(exc)) from None


def slugify(name: str) -> str:
    """A URL- and command-line-friendly form of the name: ASCII letters and digits joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_MAX].strip("-")
    return slug or "organization"


def _unique_slug(session: Session, base: str) -> str:
    taken = set(session.scalars(select(Organization.slug)))
    slug, number = base, 2
    while slug in taken:
        suffix = f"-{number}"
        slug, number = base[:SLUG_MAX - len(suffix)] + suffix, number + 1
    return slug


def _refuse_duplicate(session: Session, name: str, except_id: int | None = None) -> None:
    """Names compare without regard to case, so "ACME" and "Acme" cannot both exist."""
    key = name.casefold()
    for ident, existing, archived in session.execute(
            select(Organization.id, Organization.name, Organization.archived_at)):
        if ident != except_id and existing.casefold() == key:
            hint = " (archived: unarchive it instead)" if archived is not None else ""
            raise OrganizationExists(f"An organization called “{existing}” already exists{hint}.")


def _load(session: Session, ident: int) -> Organization:
    org = session.get(Organization, ident)
    if org is None:
        raise OrganizationNotFound("No such organization.")
    return org


def _rows(session: Session, where: Any = None) -> list[dict]:
    members = (select(User.organization_id, func.count().label("n")).where(User.erased_at.is_(None))
               .group_by(User.organization_id).subquery())
    projects = (select(Project.organization_id, func.count().label("n")).where(Project.archived_at.is_(None))
                .group_by(Project.organization_id).subquery())
    brands = (select(Brand.organization_id, func.count().label("n")).where(Brand.archived_at.is_(None))
              .group_by(Brand.organization_id).subquery())
    stmt = (select(Organization, members.c.n, projects.c.n, brands.c.n)
            .outerjoin(members, members.c.organization_id == Organization.id)
            .outerjoin(projects, projects.c.organization_id == Organization.id)
            .outerjoin(brands, brands.c.organization_id == Organization.id)
            .order_by(Organization.archived_at.is_not(None), Organization.name))
    if where is not None:
        stmt = stmt.where(where)
    return [{
        "id": org.id, "name": org.name, "slug": org.slug, "created_at": iso_utc(org.created_at),
        "archived_at": iso_utc(org.archived_at) if org.archived_at is not None else None,
        "status": "archived" if org.archived_at is not None else "live",
        "members": n_members or 0, "projects": n_projects or 0, "brands": n_brands or 0,
    } for org, n_members, n_projects, n_brands in session.execute(stmt)]


def list_organizations(db: Database, principal: Principal, *, include_archived: bool = True) -> list[dict]:
    """Every organization (live first, then archived) with its member, project and brand counts."""
    _authorize(principal)
    with db.session() as session:
        return _rows(session, None if include_archived else Organization.archived_at.is_(None))


def get_organization(db: Database, principal: Principal, organization_id: Any) -> dict:
    ident = _authorize(principal, organization_id)
    with db.session() as session:
        rows = _rows(session, Organization.id == ident)
    if not rows:
        raise OrganizationNotFound("No such organization.")
    return rows[0]


def create_organization(db: Database, principal: Principal, name: Any) -> dict:
    """A new live organization with a unique slug and the default settings (the system's policy)."""
    _authorize(principal)
    name = clean_name(name)
    try:
        with db.session() as session:
            _refuse_duplicate(session, name)
            org = Organization(name=name, slug=_unique_slug(session, slugify(name)))
            session.add(org)
            session.flush()
            # Its own settings row, every value "the system default" until an administrator chooses one.
            session.add(OrganizationSecurity(organization_id=org.id))
            record(session, Action.ORGANIZATION_CREATED, actor=principal, organization_id=org.id, target=org,
                   data={"name": org.name, "slug": org.slug})
            ident = org.id
    except IntegrityError:  # created at the same moment by someone else
        raise OrganizationExists(f"An organization called “{name}” already exists.") from None
    return get_organization(db, principal, ident)


def rename_organization(db: Database, principal: Principal, organization_id: Any, name: Any) -> dict:
    """A new name (the slug stays); the old and new names go to the audit trail."""
    ident = _authorize(principal, organization_id)
    name = clean_name(name)
    try:
        with db.session() as session:
            org = _load(session, ident)
            if org.name != name:
                _refuse_duplicate(session, name, except_id=org.id)
                record(session, Action.ORGANIZATION_RENAMED, actor=principal, organization_id=org.id, target=org,
                       data={"from": org.name, "to": name})
                org.name = name
    except IntegrityError:
        raise OrganizationExists(f"An organization called “{name}” already exists.") from None
    return get_organization(db, principal, ident)


def set_archived(db: Database, principal: Principal, organization_id: Any, archived: bool) -> dict:
    """Archive (off every list; members see the "archived" page; data kept) or bring it back."""
    ident = _authorize(principal, organization_id)
    with db.session() as session:
        org = _load(session, ident)
        if (org.archived_at is not None) == archived:
            raise OrganizationInvalid(f"“{org.name}” is {'already archived' if archived else 'not archived'}.")
        org.archived_at = utcnow() if archived else None
        record(session, Action.ORGANIZATION_ARCHIVED if archived else Action.ORGANIZATION_UNARCHIVED,
               actor=principal, organization_id=org.id, target=org, data={"name": org.name})
    return get_organization(db, principal, ident)


def archive_organization(db: Database, principal: Principal, organization_id: Any) -> dict:
    return set_archived(db, principal, organization_id, True)


def unarchive_organization(db: Database, principal: Principal, organization_id: Any) -> dict:
    return set_archived(db, principal, organization_id, False)


def invite_administrator(db: Database, accounts: Accounts, principal: Principal, organization_id: Any, *,
                         email: Any, name: Any = "", invite: bool = True) -> NewUser:
    """An Organization Administrator for the organization, made the way the Users page makes anyone:
    `Accounts.create_user` (an invitation link, or a temporary password changed at first sign-in), then
    the role granted at organization scope by `grant_role` (each audited). MFA enrolment follows at their
    first sign-in, as for every administrator."""
    ident = _authorize(principal, organization_id)
    if not isinstance(email, str) or not email.strip():
        raise OrganizationInvalid("Enter the administrator's e-mail address.")
    with db.session() as session:
        org = _load(session, ident)
        if org.archived_at is not None:
            raise OrganizationInvalid(f"“{org.name}” is archived: unarchive it before inviting anyone.")
        role_id = ensure_builtin_roles(session)[ORGANIZATION_ADMINISTRATOR].id
    new = accounts.create_user(principal, email=email, organization_id=ident,
                               name=name if isinstance(name, str) else "", invite=invite)
    grant_role(db, principal, new.user_id, role_id, "organization", ident)
    return new


def find_organization_id(db: Database, reference: str) -> int | None:
    """An organization named by its id or its slug (for the command line)."""
    with db.session() as session:
        ident = _id(reference) if reference.isdigit() else None
        if ident is not None and session.get(Organization, ident) is not None:
            return ident
        return session.scalar(select(Organization.id).where(Organization.slug == reference))
