"""A small two-organization world and an accounts service with a cheap bcrypt cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from core.models.portfolio import Brand, Organization, Project, ProjectBrand
from core.models.security import RoleGrant, User
from core.models.work import Scenario
from core.security.accounts import Accounts
from core.security.crypto import SecretBox
from core.security.grants import ensure_builtin_roles
from core.security.principal import load_principal
from core.security.settings import SecuritySettings

FAST = SecuritySettings(bcrypt_rounds=4)


@dataclass
class World:
    orgs: dict[str, int] = field(default_factory=dict)
    projects: dict[str, int] = field(default_factory=dict)
    brands: dict[str, int] = field(default_factory=dict)
    scenarios: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)


def build_world(db) -> World:
    """Two organizations A and B; each has projects p1, p2 and brands b1..b3 (b2 in both projects)."""
    world = World()
    with db.session() as s:
        world.roles = {name: role.id for name, role in ensure_builtin_roles(s).items()}
        for org_name in ("A", "B"):
            org = Organization(name=f"Org {org_name}", slug=f"org-{org_name.lower()}")
            s.add(org)
            s.flush()
            world.orgs[org_name] = org.id
            projects = {}
            for p in ("p1", "p2"):
                projects[p] = Project(organization_id=org.id, name=f"{org_name}{p}")
                s.add(projects[p])
            brands = {}
            for b in ("b1", "b2", "b3"):
                brands[b] = Brand(organization_id=org.id, name=f"{org_name}{b}")
                s.add(brands[b])
            s.flush()
            for p, b in (("p1", "b1"), ("p1", "b2"), ("p2", "b2"), ("p2", "b3")):
                s.add(ProjectBrand(project_id=projects[p].id, brand_id=brands[b].id, role="own"))
            world.projects |= {f"{org_name}{k}": v.id for k, v in projects.items()}
            world.brands |= {f"{org_name}{k}": v.id for k, v in brands.items()}
            for p in ("p1", "p2"):
                sc = Scenario(organization_id=org.id, project_id=projects[p].id, name=f"{org_name}{p} plan",
                              kind="budget")
                s.add(sc)
                s.flush()
                world.scenarios[f"{org_name}{p}"] = sc.id
    return world


def add_user(db, world: World, email: str, org: str | None, grants=(), password_hash=None) -> int:
    """A user in organization `org` with (role name, scope type, scope key) grants."""
    with db.session() as s:
        user = User(email=email, organization_id=world.orgs[org] if org else None, password_hash=password_hash)
        s.add(user)
        s.flush()
        for role, scope_type, key in grants:
            scope_id = {"system": lambda k: 0, "organization": world.orgs.get, "project": world.projects.get,
                        "brand": world.brands.get}[scope_type](key)
            s.add(RoleGrant(user_id=user.id, role_id=world.roles[role], scope_type=scope_type, scope_id=scope_id))
        return user.id


@pytest.fixture
def pg_db(_pg_db):
    """PostgreSQL only, emptied (for what exists only there, like the append-only trigger)."""
    from tests.conftest import _empty

    _empty(_pg_db)
    return _pg_db


@pytest.fixture
def world(db) -> World:
    return build_world(db)


@pytest.fixture
def accounts(db) -> Accounts:
    return Accounts(db, FAST, SecretBox([Fernet.generate_key()]))


@pytest.fixture
def sysadmin(db, world):
    return load_principal(db, add_user(db, world, "root@ops.example", None,
                                       [("System Administrator", "system", None)]))


@pytest.fixture
def org_admin(db, world):
    return load_principal(db, add_user(db, world, "olga@a.example", "A",
                                       [("Organization Administrator", "organization", "A")]))


def tamper(db, sql: str, params: dict) -> None:
    """Change the audit trail behind the app's back (on PostgreSQL, as the superuser, with the append-only
    trigger switched off for the statement)."""
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text(sql), params)
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
