"""The permission matrix per built-in role, and the in-memory side of the authorizer."""

from __future__ import annotations

import pytest

from core.models.portfolio import Brand, Organization, Project
from core.models.security import User
from core.models.work import Scenario
from core.security.authorizer import Forbidden, authorize, can
from core.security.permissions import (
    ALL_PERMISSIONS,
    BUILTIN_ROLES,
    ORGANIZATION_PERMISSIONS,
    Permission,
    allowed_scopes,
    validate_permissions,
)
from core.security.principal import Principal

P = Permission
EXPECTED = {
    "System Administrator": set(P),
    "Organization Administrator": set(P) - {P.SYSTEM_MANAGE},
    "Portfolio Manager": {P.PORTFOLIO_READ, P.BRAND_READ, P.METRICS_READ, P.SCENARIO_READ, P.SCENARIO_RUN,
                          P.SCENARIO_SAVE, P.SCENARIO_APPROVE, P.REPORT_EXPORT, P.READ_CONFIDENTIAL},
    "Brand Manager": {P.PORTFOLIO_READ, P.BRAND_READ, P.BRAND_WRITE, P.METRICS_READ, P.SCENARIO_READ,
                      P.SCENARIO_RUN, P.SCENARIO_SAVE, P.REPORT_EXPORT, P.READ_CONFIDENTIAL},
    "Analyst": {P.PORTFOLIO_READ, P.BRAND_READ, P.METRICS_READ, P.SCENARIO_READ, P.SCENARIO_RUN,
                P.SCENARIO_SAVE, P.REPORT_EXPORT, P.READ_CONFIDENTIAL},
    "Viewer": {P.PORTFOLIO_READ, P.BRAND_READ, P.METRICS_READ, P.SCENARIO_READ},
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_matrix_per_role(role):
    assert BUILTIN_ROLES[role] == {p.value for p in EXPECTED[role]}


def test_the_issue_permissions_all_exist():
    named = {"portfolio:read", "brand:read", "brand:write", "metrics:read", "metrics:import", "scenario:run",
             "scenario:save", "scenario:approve", "report:export", "user:manage", "role:manage", "audit:read",
             "settings:manage", "system:manage"}
    assert named <= ALL_PERMISSIONS


def test_roles_are_nested_where_the_product_says_so():
    assert BUILTIN_ROLES["Viewer"] < BUILTIN_ROLES["Analyst"] < BUILTIN_ROLES["Brand Manager"]
    assert BUILTIN_ROLES["Analyst"] < BUILTIN_ROLES["Portfolio Manager"]
    for role in EXPECTED:
        assert BUILTIN_ROLES[role] <= BUILTIN_ROLES["Organization Administrator"] or role == "System Administrator"


def test_scopes_per_role():
    assert allowed_scopes("System Administrator", builtin=True) == ("system",)
    assert allowed_scopes("Organization Administrator", builtin=True) == ("organization",)
    assert allowed_scopes("Viewer", builtin=True) == ("organization", "project", "brand")
    assert "system" not in allowed_scopes("System Administrator", builtin=False)


def test_custom_roles_cannot_hold_system_manage_or_unknown_permissions():
    assert validate_permissions(["brand:read"]) == {"brand:read"}
    with pytest.raises(ValueError, match="system:manage"):
        validate_permissions(["system:manage"])
    with pytest.raises(ValueError, match="unknown"):
        validate_permissions(["brand:delete"])
    assert "system:manage" not in ORGANIZATION_PERMISSIONS


def matrix_markdown() -> str:
    """The permission matrix as the Markdown table docs/SECURITY.md shows, built from BUILTIN_ROLES."""
    roles = list(BUILTIN_ROLES)
    lines = ["| permission | " + " | ".join(roles) + " |", "| --- |" + " :---: |" * len(roles)]
    for perm in Permission:
        marks = ["✓" if perm.value in BUILTIN_ROLES[r] else "" for r in roles]
        lines.append(f"| `{perm.value}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_matrix_markdown_has_a_row_per_permission():
    table = matrix_markdown().splitlines()
    assert len(table) == 2 + len(Permission)
    assert table[2].startswith("| `portfolio:read` |")


# In-memory objects: the rules do not need a database.
ORG_A, ORG_B = Organization(id=1), Organization(id=2)
PROJECT_A1, PROJECT_A2 = Project(id=11, organization_id=1), Project(id=12, organization_id=1)
BRAND_A1, BRAND_A2, BRAND_B = Brand(id=101, organization_id=1), Brand(id=102, organization_id=1), \
    Brand(id=201, organization_id=2)
VIEW = BUILTIN_ROLES["Viewer"]


def test_grants_cover_what_lies_below():
    org = Principal(1, 1, organizations={1: VIEW})
    project = Principal(2, 1, projects={11: VIEW}, project_brands={11: frozenset({101})})
    brand = Principal(3, 1, brands={102: VIEW})
    assert can(org, "brand:read", BRAND_A1) and can(org, "brand:read", PROJECT_A2) and can(org, "brand:read", ORG_A)
    assert can(project, "brand:read", PROJECT_A1) and can(project, "brand:read", BRAND_A1)
    assert not can(project, "brand:read", PROJECT_A2) and not can(project, "brand:read", ORG_A)
    assert not can(project, "brand:read", BRAND_A2)
    assert can(brand, "brand:read", BRAND_A2) and not can(brand, "brand:read", PROJECT_A1)
    for principal in (org, project, brand):
        assert not can(principal, "brand:read", BRAND_B)
        assert not can(principal, "brand:read", ORG_B)
        assert not can(principal, "brand:write", BRAND_A1)


def test_system_grant_covers_everything_and_users_without_organization():
    admin = Principal(9, None, system=BUILTIN_ROLES["System Administrator"])
    assert all(can(admin, p, obj) for p in ALL_PERMISSIONS for obj in (ORG_B, BRAND_B, User(organization_id=None)))


def test_scenario_owner_keeps_own_scenarios_within_held_permissions():
    analyst = Principal(5, 1, brands={101: BUILTIN_ROLES["Analyst"]})
    mine = Scenario(id=1, organization_id=1, project_id=12, owner_id=5)
    theirs = Scenario(id=2, organization_id=1, project_id=12, owner_id=6)
    assert can(analyst, "scenario:read", mine) and can(analyst, "scenario:save", mine)
    assert not can(analyst, "scenario:approve", mine)
    assert not can(analyst, "scenario:read", theirs)


def test_authorize_raises_forbidden_and_tuples_of_organizations_need_no_database():
    viewer = Principal(1, 1, organizations={1: VIEW})
    authorize(viewer, "brand:read", ("organization", 1))
    with pytest.raises(Forbidden) as refused:
        authorize(viewer, "brand:write", ("organization", 1))
    assert refused.value.permission == "brand:write"
    with pytest.raises(TypeError):
        can(viewer, "brand:read", ("planet", 1))
    with pytest.raises(TypeError):
        can(viewer, "brand:read", object())


def test_docs_table_matches_the_code():
    from core.config import PROJECT_ROOT

    assert matrix_markdown() in (PROJECT_ROOT / "docs" / "SECURITY.md").read_text()
