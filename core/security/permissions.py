"""The permission list and the built-in roles, written down once.

Everything that decides access (the authorizer, the scope filter, grant checks, the docs table)
reads this module, so the matrix below is the single statement of who may do what.
"""

from __future__ import annotations

import enum


class Permission(enum.StrEnum):
    PORTFOLIO_READ = "portfolio:read"
    BRAND_READ = "brand:read"
    BRAND_WRITE = "brand:write"
    METRICS_READ = "metrics:read"
    METRICS_IMPORT = "metrics:import"
    SCENARIO_READ = "scenario:read"
    SCENARIO_RUN = "scenario:run"
    SCENARIO_SAVE = "scenario:save"
    SCENARIO_APPROVE = "scenario:approve"
    REPORT_EXPORT = "report:export"
    USER_MANAGE = "user:manage"
    ROLE_MANAGE = "role:manage"
    AUDIT_READ = "audit:read"
    SETTINGS_MANAGE = "settings:manage"
    # Setting up the portfolio (issue 14): projects, brands and competitor sets, channels.
    PORTFOLIO_MANAGE = "portfolio:manage"
    # The organization's metric framework: sections, platforms, metrics and their weights.
    FRAMEWORK_MANAGE = "framework:manage"
    # Compliance reports (access review, audit extract, retention, data-subject requests) for auditors.
    COMPLIANCE_READ = "compliance:read"
    SYSTEM_MANAGE = "system:manage"
    # Data classification (issue 17, core.classification): reading values above "internal". Public and
    # internal data need only the read permissions above; a level's permission is the person's clearance.
    READ_CONFIDENTIAL = "data:read_confidential"
    READ_RESTRICTED = "data:read_restricted"


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)
# What an organization may put into a custom role: everything but operating the whole system.
ORGANIZATION_PERMISSIONS: frozenset[str] = ALL_PERMISSIONS - {Permission.SYSTEM_MANAGE.value}

SYSTEM_ADMINISTRATOR = "System Administrator"
ORGANIZATION_ADMINISTRATOR = "Organization Administrator"
PORTFOLIO_MANAGER = "Portfolio Manager"
BRAND_MANAGER = "Brand Manager"
ANALYST = "Analyst"
VIEWER = "Viewer"

_READ = {Permission.PORTFOLIO_READ, Permission.BRAND_READ, Permission.METRICS_READ, Permission.SCENARIO_READ}
_WORK = {Permission.SCENARIO_RUN, Permission.SCENARIO_SAVE, Permission.REPORT_EXPORT}
# Everyone who works with the data (not only reads it) reads confidential values; restricted values only
# the administrators (and custom roles that choose it). docs/SECURITY.md states the defaults.
_CONFIDENTIAL = {Permission.READ_CONFIDENTIAL}

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    SYSTEM_ADMINISTRATOR: ALL_PERMISSIONS,
    ORGANIZATION_ADMINISTRATOR: ORGANIZATION_PERMISSIONS,
    PORTFOLIO_MANAGER: frozenset(p.value for p in _READ | _WORK | _CONFIDENTIAL | {Permission.SCENARIO_APPROVE}),
    BRAND_MANAGER: frozenset(p.value for p in _READ | _WORK | _CONFIDENTIAL | {Permission.BRAND_WRITE}),
    ANALYST: frozenset(p.value for p in _READ | _WORK | _CONFIDENTIAL),
    VIEWER: frozenset(p.value for p in _READ),
}

# What makes a role administrative (security alerts call its grant "a new administrator"): changing who
# may do what, the organization's security settings, or the whole system.
ADMINISTRATIVE_PERMISSIONS: frozenset[str] = frozenset(p.value for p in (
    Permission.USER_MANAGE, Permission.ROLE_MANAGE, Permission.SETTINGS_MANAGE, Permission.SYSTEM_MANAGE))

# Roles whose holders must use MFA: they can change who may see what.
MFA_REQUIRED_ROLES: frozenset[str] = frozenset({SYSTEM_ADMINISTRATOR, ORGANIZATION_ADMINISTRATOR})

# The scopes each built-in role may be granted at. System Administrator exists only at "system";
# nobody else is granted there, so organizations stay isolated.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    SYSTEM_ADMINISTRATOR: ("system",),
    ORGANIZATION_ADMINISTRATOR: ("organization",),
}
DEFAULT_SCOPES: tuple[str, ...] = ("organization", "project", "brand")


def allowed_scopes(role_name: str, *, builtin: bool) -> tuple[str, ...]:
    """Scope types a role may be granted at (custom roles: organization, project or brand)."""
    return ROLE_SCOPES.get(role_name, DEFAULT_SCOPES) if builtin else DEFAULT_SCOPES


def validate_permissions(permissions: object) -> frozenset[str]:
    """The permissions as a set, or ValueError naming the unknown or system-only ones."""
    perms = frozenset(str(p) for p in permissions)  # type: ignore[attr-defined]
    unknown = perms - ALL_PERMISSIONS
    if unknown:
        raise ValueError(f"unknown permissions: {sorted(unknown)}")
    if Permission.SYSTEM_MANAGE.value in perms:
        raise ValueError("system:manage belongs to the built-in System Administrator role only")
    return perms


# The permission that reads each level above "internal" (core.classification), lowest first.
LEVEL_PERMISSIONS: dict[str, str] = {"confidential": Permission.READ_CONFIDENTIAL.value,
                                     "restricted": Permission.READ_RESTRICTED.value}
