"""Who is asking: a user's active grants resolved to permission sets per scope, built once.

Build one `Principal` per request or job with `load_principal` and hand it to everything that
reads or writes; the authorizer and the scope filter both read only this object, so they agree.
Grants that point outside the user's organization are ignored here (organizations are isolated
even if a bad row slipped in), and a disabled or erased user, or a member of an archived
organization, gets no permissions at all.

Competitors are market data: whoever holds a grant on an own brand of a project reads that
project's competitor brands — their names, metric values and DC scores in that project, never
their money, curves, scenarios or anything else keyed by brand — with the read permissions of
that grant (`MARKET_READ`). docs/SECURITY.md states the rule; `market_projects` and
`market_members` hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.orm import Session

from core.classification import Classification
from core.db import Database
from core.models.portfolio import Brand, Organization, Project, ProjectBrand
from core.models.security import Role, RoleGrant, User
from core.security.permissions import (
    ALL_PERMISSIONS,
    BUILTIN_ROLES,
    LEVEL_PERMISSIONS,
    ORGANIZATION_PERMISSIONS,
    Permission,
)

_EMPTY: frozenset = frozenset()
# What a grant on an own brand lets its holder read of the project's competitors (market data).
MARKET_READ: frozenset[str] = frozenset({Permission.BRAND_READ.value, Permission.METRICS_READ.value,
                                         Permission.PORTFOLIO_READ.value})


@dataclass(frozen=True)
class ScopeSet:
    """Where one permission holds: everywhere, or in these organizations, projects and brands.

    `brands` already includes the brands of the granted projects (resolved when the principal was built).
    """

    everywhere: bool
    organizations: frozenset[int]
    projects: frozenset[int]
    brands: frozenset[int]
    direct_brands: frozenset[int]
    # Market data (module docstring): competitor brands readable through a grant on an own brand,
    # and the (project, competitor) pairs whose DC scores that reveals.
    market_brands: frozenset[int] = _EMPTY
    market_pairs: frozenset[tuple[int, int]] = _EMPTY

    @property
    def empty(self) -> bool:
        return not (self.everywhere or self.organizations or self.projects or self.brands)


@dataclass(frozen=True)
class Principal:
    """A user's permissions by scope. `db` is where denials are audited (None only in hand-made ones)."""

    user_id: int | None
    organization_id: int | None
    system: frozenset[str] = _EMPTY
    organizations: Mapping[int, frozenset[str]] = field(default_factory=dict)
    projects: Mapping[int, frozenset[str]] = field(default_factory=dict)
    brands: Mapping[int, frozenset[str]] = field(default_factory=dict)
    # For each granted project, the brands it holds: a project grant covers them.
    project_brands: Mapping[int, frozenset[int]] = field(default_factory=dict)
    # Market data: per project, the read permissions (MARKET_READ) held on its competitors through a
    # grant on one of its own brands, and those competitors.
    market_projects: Mapping[int, frozenset[str]] = field(default_factory=dict)
    market_members: Mapping[int, frozenset[int]] = field(default_factory=dict)
    role_names: frozenset[str] = _EMPTY
    db: Database | None = field(default=None, compare=False, repr=False)
    # The data token (core.read_cache) the grants were read under, when the caller read it (the web
    # layer, per request): the authorizer resolves objects, and views are cached, at that same moment.
    data_token: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_system_admin(self) -> bool:
        return Permission.SYSTEM_MANAGE.value in self.system

    @property
    def all_permissions(self) -> frozenset[str]:
        """Every permission held at some scope (for menus; never for access decisions)."""
        held = set(self.system)
        for table in (self.organizations, self.projects, self.brands):
            for perms in table.values():
                held |= perms
        return frozenset(held)

    @property
    def scope_key(self) -> tuple:
        """Everything a read model's answer may depend on about the principal, as a hashable value.

        Two principals with equal keys see exactly the same rows (the user id is left out on purpose:
        colleagues with the same grants share cached read models).
        """
        def table(scopes: Mapping[int, frozenset]) -> tuple:
            return tuple(sorted((key, tuple(sorted(values))) for key, values in scopes.items()))

        return (self.organization_id, tuple(sorted(self.system)), table(self.organizations), table(self.projects),
                table(self.brands), table(self.project_brands), table(self.market_projects),
                table(self.market_members))

    @property
    def clearance(self) -> Classification:
        """The highest classification this person may read (core.classification).

        A level's permission is a clearance of the person, not of a scope: held in any of their grants,
        it opens values of that level wherever their read permissions already reach (the levels are
        ordered, so `data:read_restricted` also reads confidential values). The scope filter
        (core.security.authorizer) applies it; `scope_key` covers it through the permissions.
        """
        held = self.all_permissions
        if LEVEL_PERMISSIONS["restricted"] in held:
            return Classification.RESTRICTED
        if LEVEL_PERMISSIONS["confidential"] in held:
            return Classification.CONFIDENTIAL
        return Classification.INTERNAL

    def scopes(self, permission: str) -> ScopeSet:
        """Where `permission` holds; the authorizer and the scope filter are both built on this."""
        projects = frozenset(p for p, perms in self.projects.items() if permission in perms)
        direct = frozenset(b for b, perms in self.brands.items() if permission in perms)
        via_projects = frozenset(b for p in projects for b in self.project_brands.get(p, _EMPTY))
        pairs = frozenset((p, b) for p, perms in self.market_projects.items() if permission in perms
                          for b in self.market_members.get(p, _EMPTY))
        return ScopeSet(
            everywhere=permission in self.system,
            organizations=frozenset(o for o, perms in self.organizations.items() if permission in perms),
            projects=projects,
            brands=direct | via_projects,
            direct_brands=direct,
            market_brands=frozenset(b for _, b in pairs),
            market_pairs=pairs,
        )

    def market_permissions(self, brand_id: int) -> frozenset[str]:
        """The read permissions held on `brand_id` as a competitor (market data) of some project."""
        held: set[str] = set()
        for project_id, members in self.market_members.items():
            if brand_id in members:
                held |= self.market_projects.get(project_id, _EMPTY)
        return frozenset(held)


class _RoleColumns(NamedTuple):
    """The columns of a role that `role_permissions` reads, without loading the ORM object."""

    name: str
    is_builtin: bool
    organization_id: int | None
    permissions: list


def role_permissions(role: Role | _RoleColumns) -> frozenset[str]:
    """Built-in roles take their permissions from the code matrix, so a stale row cannot widen them."""
    if role.is_builtin and role.organization_id is None and role.name in BUILTIN_ROLES:
        return BUILTIN_ROLES[role.name]
    return frozenset(role.permissions or ()) & ORGANIZATION_PERMISSIONS


# When the user's organization was archived (None while it is live): its members then hold nothing.
_ORGANIZATION_ARCHIVED = (select(Organization.archived_at).where(Organization.id == User.organization_id)
                          .correlate(User).scalar_subquery().label("organization_archived_at"))
USER_COLUMNS = (User.id, User.organization_id, User.is_active, User.erased_at, _ORGANIZATION_ARCHIVED)
# Built once: composing these expressions cost more than running them, on every request.
_USER = select(*USER_COLUMNS).where(User.id == bindparam("user_id"))
_GRANTS = (
    select(RoleGrant.scope_type, RoleGrant.scope_id, Role.name, Role.is_builtin, Role.organization_id,
           Role.permissions, Project.organization_id, Brand.organization_id)
    .join(Role, Role.id == RoleGrant.role_id)
    .outerjoin(Project, and_(RoleGrant.scope_type == "project", Project.id == RoleGrant.scope_id))
    .outerjoin(Brand, and_(RoleGrant.scope_type == "brand", Brand.id == RoleGrant.scope_id))
    .where(RoleGrant.user_id == bindparam("user_id"))
)
# The competitors of every project in which a granted brand is an own brand (market data).
_own = ProjectBrand.__table__.alias("own")
_MARKET = (
    select(_own.c.project_id, _own.c.brand_id, ProjectBrand.brand_id)
    .join(ProjectBrand, and_(ProjectBrand.project_id == _own.c.project_id, ProjectBrand.role == "competitor"))
    .join(Brand, Brand.id == ProjectBrand.brand_id)
    .join(Project, Project.id == _own.c.project_id)
    .where(_own.c.brand_id.in_(bindparam("brands", expanding=True)), _own.c.role == "own",
           Brand.organization_id == bindparam("organization_id"),
           Project.organization_id == bindparam("organization_id"))
)
_MEMBERS = (
    select(ProjectBrand.project_id, ProjectBrand.brand_id).join(Brand, Brand.id == ProjectBrand.brand_id)
    .where(ProjectBrand.project_id.in_(bindparam("projects", expanding=True)),
           Brand.organization_id == bindparam("organization_id"))
)


def load_principal(source: Database | Session | Connection, user_id: int) -> Principal:
    """Resolve the user's grants from the database into a `Principal`."""
    if isinstance(source, Database):
        with source.engine.connect() as conn:
            principal = load_principal(conn, user_id)
        return replace(principal, db=source)
    user = source.execute(_USER, {"user_id": int(user_id)}).first()
    if user is None:
        return Principal(user_id=user_id, organization_id=None)
    return principal_of(source, user)


def _market(source: Session | Connection, brands: dict[int, set[str]],
            organization_id: int) -> tuple[dict[int, set[str]], dict[int, set[int]]]:
    """Per project, the market-read permissions granted through its own brands, and its competitors."""
    projects: dict[int, set[str]] = {}
    members: dict[int, set[int]] = {}
    for project_id, own_id, competitor_id in source.execute(_MARKET, {"brands": list(brands),
                                                                      "organization_id": organization_id}):
        readable = brands[own_id] & MARKET_READ
        if readable:
            projects.setdefault(project_id, set()).update(readable)
            members.setdefault(project_id, set()).add(competitor_id)
    return projects, members


def principal_of(source: Session | Connection, user: Any) -> Principal:
    """The Principal of a user row read by the caller (with at least the columns of USER_COLUMNS).

    Plain column reads, no ORM objects: one query, one more with project grants and one more with brand
    grants (their projects' competitors). The web layer keeps the result under the data token, which
    every table read here (and the user row the caller read) moves (dashboard.auth.principal.load_user);
    it is never taken from the browser.
    """
    org = user.organization_id
    if not user.is_active or user.erased_at is not None or user.organization_archived_at is not None:
        return Principal(user_id=user.id, organization_id=org)
    # One query for the grants, their roles and the organization of each granted project or brand.
    grants = source.execute(_GRANTS, {"user_id": user.id}).all()
    project_org = {g[1]: g[6] for g in grants if g[0] == "project"}
    brand_org = {g[1]: g[7] for g in grants if g[0] == "brand"}

    system: set[str] = set()
    organizations: dict[int, set[str]] = {}
    projects: dict[int, set[str]] = {}
    brands: dict[int, set[str]] = {}
    names: set[str] = set()
    for scope_type, scope_id, *columns, _project_org, _brand_org in grants:
        role = _RoleColumns(*columns)
        if role.organization_id is not None and role.organization_id != org:
            continue  # a custom role of another organization
        perms = role_permissions(role)
        if scope_type == "system":
            system |= perms & ALL_PERMISSIONS
        elif org is None:
            continue  # users outside organizations hold nothing at organization scopes
        elif scope_type == "organization" and scope_id == org:
            organizations.setdefault(scope_id, set()).update(perms)
        elif scope_type == "project" and project_org.get(scope_id) == org:
            projects.setdefault(scope_id, set()).update(perms)
        elif scope_type == "brand" and brand_org.get(scope_id) == org:
            brands.setdefault(scope_id, set()).update(perms)
        else:
            continue
        names.add(role.name)

    members: dict[int, set[int]] = {p: set() for p in projects}
    if projects:
        rows = source.execute(_MEMBERS, {"projects": list(projects), "organization_id": org})
        for project_id, brand_id in rows:
            members[project_id].add(brand_id)
    market_projects, market_members = _market(source, brands, org) if brands else ({}, {})
    return Principal(
        user_id=user.id,
        organization_id=org,
        system=frozenset(system),
        organizations={k: frozenset(v) for k, v in organizations.items()},
        projects={k: frozenset(v) for k, v in projects.items()},
        brands={k: frozenset(v) for k, v in brands.items()},
        project_brands={k: frozenset(v) for k, v in members.items()},
        market_projects={k: frozenset(v) for k, v in market_projects.items()},
        market_members={k: frozenset(v) for k, v in market_members.items()},
        role_names=frozenset(names),
    )
