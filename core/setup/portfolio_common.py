"""What the project and brand services share: the permission, names, audit action names, errors.

Projects and brands are set up under `portfolio:manage` held at the organization (or system)
scope: a grant on one project or brand never lets anyone create, rename, merge or delete, because
each of these changes what the whole organization's scores are computed against.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database
from core.models.portfolio import Brand, BrandRole, Organization, Project
from core.security.authorizer import authorize, deny, scope_filter
from core.security.permissions import Permission
from core.security.principal import Principal

MANAGE = Permission.PORTFOLIO_MANAGE.value
NAME_MAX = 200
ROLES = tuple(r.value for r in BrandRole)


class Audit:
    """Audit action names of portfolio setup (one place, so writers and readers agree)."""

    PROJECT_CREATED = "project.created"
    PROJECT_RENAMED = "project.renamed"
    PROJECT_ARCHIVED = "project.archived"
    PROJECT_UNARCHIVED = "project.unarchived"
    PROJECT_SCORING_CHANGED = "project.scoring_changed"
    PROJECT_MEMBER_SET = "project.brand_set"
    PROJECT_MEMBER_REMOVED = "project.brand_removed"
    BRAND_CREATED = "brand.created"
    BRAND_RENAMED = "brand.renamed"
    BRAND_ARCHIVED = "brand.archived"
    BRAND_UNARCHIVED = "brand.unarchived"
    BRAND_DELETED = "brand.deleted"
    BRAND_MERGED = "brand.merged"
    BRANDS_IMPORTED = "brand.bulk_added"


class PortfolioError(ValueError):
    """A change that cannot be made as asked; the message says why, in the words of the page."""


class PortfolioConflict(PortfolioError):
    """Refused because of what exists (a name taken, scenarios using a brand, data on both sides of a merge)."""


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn")


def clean_name(raw: Any, what: str) -> str:
    """A project or brand name as stored: NFKC, single spaces, trimmed, 1–200 characters, nothing
    invisible (which could only make two names look alike)."""
    if not isinstance(raw, str):
        raise PortfolioError(f"give the {what} a name")
    text = unicodedata.normalize("NFKC", raw)
    if any(_invisible(ch) for ch in text):
        raise PortfolioError(f"a {what} name cannot contain invisible or control characters")
    text = " ".join(text.split())
    if not text:
        raise PortfolioError(f"give the {what} a name")
    if len(text) > NAME_MAX:
        raise PortfolioError(f"a {what} name has at most {NAME_MAX} characters")
    return text


def name_key(name: str) -> str:
    """Two names with the same key are the same name to a person (case and spacing aside)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def check_role(raw: Any) -> str:
    role = str(raw or "").strip().lower()
    if role not in ROLES:
        raise PortfolioError(f"a brand's role in a project is one of {', '.join(ROLES)}, not “{raw}”")
    return role


def as_id(raw: Any) -> int | None:
    """An id as posted (text from a browser or a CSV), or None when it is not a positive whole number."""
    if isinstance(raw, bool):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 < value <= 2**63 - 1 else None


def require_org(principal: Principal, organization_id: Any) -> int:
    """The organization id, if the principal may manage its portfolio (Forbidden, audited, otherwise)."""
    ident = as_id(organization_id)
    if ident is None:
        deny(principal, MANAGE, ("organization", organization_id), "not an organization id")
    authorize(principal, MANAGE, ("organization", ident))
    return ident


def load_project(session: Session, principal: Principal, project_id: Any) -> Project:
    """The project, if the principal manages its organization (an unknown id is refused the same way)."""
    ident = as_id(project_id)
    project = session.get(Project, ident) if ident is not None else None
    if project is None:
        deny(principal, MANAGE, ("project", project_id), "no such project")
    authorize(principal, MANAGE, ("organization", project.organization_id))
    return project


def load_brand(session: Session, principal: Principal, brand_id: Any) -> Brand:
    """The brand, if the principal manages its organization (an unknown id is refused the same way)."""
    ident = as_id(brand_id)
    brand = session.get(Brand, ident) if ident is not None else None
    if brand is None:
        deny(principal, MANAGE, ("brand", brand_id), "no such brand")
    authorize(principal, MANAGE, ("organization", brand.organization_id))
    return brand


def unique_name(session: Session, model: type[Project] | type[Brand], organization_id: int, name: str,
                what: str, *, own_id: int | None = None) -> None:
    """Refuse a name another project (brand) of the organization already has, whatever its case."""
    key = name_key(name)
    rows = session.execute(select(model.id, model.name).where(model.organization_id == organization_id)).all()
    for other_id, other in rows:
        if other_id != own_id and name_key(other) == key:
            raise PortfolioConflict(f"the organization already has a {what} named “{other}”; choose another name"
                                 + (" or merge the two brands" if what == "brand" else ""))


@contextmanager
def name_race(what: str) -> Iterator[None]:
    """Someone else took the name between our check and our write: the same refusal, not a crash."""
    try:
        yield
    except IntegrityError:
        raise PortfolioConflict(f"another {what} of that name was just created; choose another name") from None


def managed_organizations(db: Database, principal: Principal) -> list[dict]:
    """Live organizations whose portfolio the principal manages (system administrators: all)."""
    with db.session() as session:
        rows = session.execute(select(Organization.id, Organization.name)
                               .where(scope_filter(principal, MANAGE, Organization),
                                      Organization.archived_at.is_(None))
                               .order_by(func.lower(Organization.name))).all()
    return [{"id": r.id, "name": r.name} for r in rows]
