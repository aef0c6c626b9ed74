"""An organization's single sign-on settings: validated in one place, stored with the secret encrypted.

The claim → role mapping is a short list of rules, each "when claim C holds value V, grant role R at
scope S". Saving it is like granting those roles: the person saving needs settings:manage and
role:manage on the organization and must hold every mapped role's permissions at its scope, System
Administrator is never mappable, and every scope must belong to the organization. The client secret
is never read back: the page only learns whether one is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.models.portfolio import Brand, Organization, Project
from core.models.security import Role, User
from core.models.sso import OrganizationSSO
from core.security.audit import Action, record
from core.security.authorizer import authorize, deny, permissions_for
from core.security.crypto import SecretBox
from core.security.grants import holds_role
from core.security.permissions import (
    BUILTIN_ROLES,
    ORGANIZATION_ADMINISTRATOR,
    SYSTEM_ADMINISTRATOR,
    Permission,
    allowed_scopes,
)
from core.security.principal import Principal, role_permissions

SCOPE_TYPES = ("organization", "project", "brand")
_SCOPE_MODELS = {"project": Project, "brand": Brand}
MAX_RULES = 50
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_:./-]{1,100}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
BREAK_GLASS_ROLES = (SYSTEM_ADMINISTRATOR, ORGANIZATION_ADMINISTRATOR)
PASSWORDS_OFF = "Your organization signs in with company accounts: use “Sign in with your company account”."
# "groups = marketing -> Analyst @ organization" or "... @ brand 12"
_RULE_LINE = re.compile(r"^\s*(?P<claim>[^=]+?)\s*=\s*(?P<value>.+?)\s*->\s*(?P<role>.+?)\s*"
                        r"(?:@\s*(?P<scope>[a-z]+)(?:\s+(?P<scope_id>\d+))?)?\s*$")


class SSOSettingsInvalid(ValueError):
    """Some values cannot be saved; `problems` maps each field to a sentence for the person."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("invalid single sign-on settings: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class SSOSettings:
    """What the admin page shows and the sign-in flow reads (never the secret itself)."""

    organization_id: int
    enabled: bool = False
    issuer: str = ""
    client_id: str = ""
    has_secret: bool = False
    allowed_domains: list[str] = field(default_factory=list)
    role_mapping: list[dict] = field(default_factory=list)
    mfa_acr_values: list[str] = field(default_factory=list)
    jit_provisioning: bool = False
    local_passwords_enabled: bool = True


def rules_as_text(rules: list[dict]) -> str:
    """The mapping as the form's text area shows it, one rule a line."""
    lines = []
    for r in rules:
        scope = r["scope_type"] if r["scope_type"] == "organization" else f"{r['scope_type']} {r['scope_id']}"
        lines.append(f"{r['claim']} = {r['value']} -> {r['role']} @ {scope}")
    return "\n".join(lines)


def parse_rules(text: str) -> list[dict]:
    """Rules from the text area; ValueError naming the first line that does not read as a rule."""
    rules = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _RULE_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number} is not a rule; write it as “groups = marketing -> Analyst @ organization”")
        scope = match["scope"] or "organization"
        rules.append({"claim": match["claim"], "value": match["value"], "role": match["role"],
                      "scope_type": scope, "scope_id": int(match["scope_id"] or 0)})
    return rules


def load(session: Session, organization_id: int) -> SSOSettings:
    """The stored settings (defaults when none): no permission check, for the sign-in flow and the page."""
    row = session.get(OrganizationSSO, organization_id)
    if row is None:
        return SSOSettings(organization_id)
    return SSOSettings(organization_id, row.enabled, row.issuer, row.client_id, bool(row.client_secret_encrypted),
                       list(row.allowed_domains or []), list(row.role_mapping or []), list(row.mfa_acr_values or []),
                       row.jit_provisioning, row.local_passwords_enabled)


def client_secret(session: Session, organization_id: int, box: SecretBox) -> str:
    """The decrypted client secret, for the token request only."""
    row = session.get(OrganizationSSO, organization_id)
    return box.decrypt(row.client_secret_encrypted) if row is not None and row.client_secret_encrypted else ""


def passwords_allowed(session: Session, user: User) -> bool:
    """False when the user's organization turned local passwords off and they are no administrator
    (System and Organization Administrators keep theirs: the break-glass way in)."""
    row = session.get(OrganizationSSO, user.organization_id) if user.organization_id is not None else None
    if row is None or not row.enabled or row.local_passwords_enabled:
        return True
    return holds_role(session, user.id, BREAK_GLASS_ROLES)


def any_enabled(db: Database) -> bool:
    """Whether any organization signs in through SSO (the sign-in page offers company sign-in then)."""
    with db.session() as s:
        return s.scalar(select(OrganizationSSO.organization_id).where(OrganizationSSO.enabled.is_(True))
                        .limit(1)) is not None


def read(db: Database, principal: Principal, organization_id: int) -> SSOSettings:
    """The settings for the admin page (settings:manage on the organization)."""
    with db.session() as s:
        authorize(principal, Permission.SETTINGS_MANAGE, ("organization", int(organization_id)), session=s)
        return load(s, int(organization_id))


def _issuer(value: Any, problems: dict[str, str]) -> str:
    text = str(value or "").strip().rstrip("/")
    parts = urlsplit(text)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not text or not secure or not parts.hostname or parts.query or parts.fragment:
        problems["issuer"] = "Give the issuer address your identity provider shows, starting with https://."
    return text


def _domains(value: Any, problems: dict[str, str]) -> list[str]:
    items = value if isinstance(value, list | tuple) else re.split(r"[\s,;]+", str(value or ""))
    domains = sorted({str(d).strip().lower().lstrip("@") for d in items if str(d).strip()})
    bad = [d for d in domains if not _DOMAIN.match(d)]
    if bad:
        problems["allowed_domains"] = f"“{bad[0]}” is not an e-mail domain such as example.com."
    return domains


def _check_rule(session: Session, actor: Principal, org_id: int, rule: Mapping[str, Any]) -> str | None:
    """None when the rule may be saved by `actor`, else why not (in plain words)."""
    if not _CLAIM.match(str(rule.get("claim", ""))) or not str(rule.get("value", "")).strip():
        return "each rule needs a claim name (such as groups) and a value"
    name, scope_type = str(rule.get("role", "")).strip(), rule.get("scope_type")
    if name == SYSTEM_ADMINISTRATOR:
        return "System Administrator cannot be given through single sign-on"
    role = session.scalar(select(Role).where(Role.name == name, (Role.organization_id == org_id)
                                             | (Role.organization_id.is_(None) & Role.is_builtin.is_(True))))
    if role is None or (role.organization_id is None and name not in BUILTIN_ROLES):
        return f"there is no role named “{name}” in this organization"
    if scope_type not in allowed_scopes(role.name, builtin=role.is_builtin and role.organization_id is None):
        return f"“{name}” cannot be given at {scope_type}"
    scope: Any = session.get(Organization, org_id)
    if scope_type != "organization":
        scope = session.get(_SCOPE_MODELS[scope_type], int(rule.get("scope_id") or 0))
        if scope is None or scope.organization_id != org_id:
            return f"there is no {scope_type} {rule.get('scope_id')} in this organization"
    if not role_permissions(role) <= permissions_for(actor, scope, session=session):
        return f"you cannot hand out “{name}” there: it holds permissions you do not have"
    return None


def _rules(session: Session, actor: Principal, org_id: int, value: Any, problems: dict[str, str]) -> list[dict]:
    try:
        rules = parse_rules(value) if isinstance(value, str) else list(value or [])
    except ValueError as exc:
        problems["role_mapping"] = str(exc)[:1].upper() + str(exc)[1:] + "."
        return []
    if len(rules) > MAX_RULES:
        problems["role_mapping"] = f"At most {MAX_RULES} rules."
        return []
    for number, rule in enumerate(rules, start=1):
        if (why := _check_rule(session, actor, org_id, rule)) is not None:
            problems["role_mapping"] = f"Rule {number}: {why}."
            return []
    return [{"claim": str(r["claim"]).strip(), "value": str(r["value"]).strip(), "role": str(r["role"]).strip(),
             "scope_type": r["scope_type"], "scope_id": int(r.get("scope_id") or 0)
             if r["scope_type"] != "organization" else 0} for r in rules]


def _domains_taken(session: Session, org_id: int, domains: list[str]) -> str | None:
    for row in session.scalars(select(OrganizationSSO).where(OrganizationSSO.organization_id != org_id)):
        taken = set(row.allowed_domains or []) & set(domains)
        if taken:
            return f"“{sorted(taken)[0]}” already signs in to another organization."
    return None


def validate(session: Session, actor: Principal, org_id: int, values: Mapping[str, Any],
             has_secret: bool) -> dict[str, Any]:
    """The cleaned values, or SSOSettingsInvalid with every problem at once."""
    problems: dict[str, str] = {}
    enabled = bool(values.get("enabled"))
    clean: dict[str, Any] = {"enabled": enabled, "jit_provisioning": bool(values.get("jit_provisioning")),
                             "local_passwords_enabled": bool(values.get("local_passwords_enabled", True))}
    clean["issuer"] = _issuer(values.get("issuer"), problems)
    clean["client_id"] = str(values.get("client_id") or "").strip()
    if not clean["client_id"] or len(clean["client_id"]) > 200:
        problems["client_id"] = "Give the client ID your identity provider issued for Digi-Cadence."
    secret = str(values.get("client_secret") or "")
    if not secret and not has_secret:
        problems["client_secret"] = "Give the client secret your identity provider issued."
    clean["allowed_domains"] = _domains(values.get("allowed_domains"), problems)
    if not clean["allowed_domains"]:
        problems.setdefault("allowed_domains", "Give at least one e-mail domain, such as example.com.")
    elif (taken := _domains_taken(session, org_id, clean["allowed_domains"])) is not None:
        problems["allowed_domains"] = taken
    clean["role_mapping"] = _rules(session, actor, org_id, values.get("role_mapping"), problems)
    if enabled and not clean["role_mapping"]:
        problems.setdefault("role_mapping", "Add at least one rule: without one nobody could be let in.")
    acr = values.get("mfa_acr_values") or []
    clean["mfa_acr_values"] = sorted({a.strip() for a in (acr.split() if isinstance(acr, str) else acr) if a.strip()})
    if problems:
        raise SSOSettingsInvalid(problems)
    return clean | ({"client_secret": secret} if secret else {})


def save(db: Database, principal: Principal, organization_id: int, values: Mapping[str, Any],
         box: SecretBox) -> SSOSettings:
    """Validate and store; audited without the secret. A blank secret keeps the stored one."""
    org_id = int(organization_id)
    with db.session() as s:
        target = ("organization", org_id)
        authorize(principal, Permission.SETTINGS_MANAGE, target, session=s)
        if Permission.ROLE_MANAGE.value not in permissions_for(principal, target, session=s):
            deny(principal, Permission.ROLE_MANAGE, target, "the SSO role mapping hands out roles")
        row = s.get(OrganizationSSO, org_id)
        clean = validate(s, principal, org_id, values, has_secret=bool(row and row.client_secret_encrypted))
        if row is None:
            row = OrganizationSSO(organization_id=org_id)
            s.add(row)
        secret = clean.pop("client_secret", None)
        for key, value in clean.items():
            setattr(row, key, value)
        if secret:
            row.client_secret_encrypted = box.encrypt(secret)
        s.flush()
        record(s, Action.SETTINGS_CHANGED, actor=principal, organization_id=org_id, target=target,
               data={"sso": clean | {"client_secret_changed": bool(secret)}})
        return load(s, org_id)
