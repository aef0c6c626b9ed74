"""Demo accounts: one user per built-in role, each at a known scope, for the embedded demo.

Passwords come from DIGICADENCE_DEMO_PASSWORD and the administrators' TOTP secret from
DIGICADENCE_DEMO_TOTP_SECRET when set (`Config.demo_password`, `Config.demo_totp_secret`, passed in
by the app); otherwise each is random and returned once, for the app to print at start-up. Running
it again keeps existing accounts (their password is returned as None, unknown) unless a password
is given, which it then enforces.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import select

from core.db import Database
from core.models.portfolio import Brand, Project, ProjectBrand
from core.models.security import RoleGrant, User
from core.security.audit import Action, record
from core.security.crypto import SecretBox
from core.security.grants import ensure_builtin_roles
from core.security.identity import normalize_display_name, normalize_email
from core.security.passwords import check_password, hash_password, verify_password
from core.security.permissions import (
    ANALYST,
    BRAND_MANAGER,
    MFA_REQUIRED_ROLES,
    ORGANIZATION_ADMINISTRATOR,
    PORTFOLIO_MANAGER,
    SYSTEM_ADMINISTRATOR,
    VIEWER,
)
from core.security.settings import SecuritySettings

DEMO_DOMAIN = "demo.digicadence.test"

# role → (e-mail local part, display name)
DEMO_ACCOUNTS: dict[str, tuple[str, str]] = {
    SYSTEM_ADMINISTRATOR: ("admin", SYSTEM_ADMINISTRATOR),
    ORGANIZATION_ADMINISTRATOR: ("orgadmin", ORGANIZATION_ADMINISTRATOR),
    PORTFOLIO_MANAGER: ("portfolio", PORTFOLIO_MANAGER),
    BRAND_MANAGER: ("brand", BRAND_MANAGER),
    ANALYST: ("analyst", ANALYST),
    VIEWER: ("viewer", VIEWER),
}


@dataclass(frozen=True)
class DemoCredential:
    role: str
    email: str
    password: str | None  # None: the account existed and kept its password
    scope_type: str
    scope_id: int
    totp_secret: str | None = None


def _scopes(db: Database, organization_id: int) -> dict[str, tuple[str, int]]:
    """The known scope of each demo role, inside the first organization."""
    with db.session() as session:
        project_id = session.scalar(select(Project.id).where(Project.organization_id == organization_id)
                                    .order_by(Project.id).limit(1))
        if project_id is None:
            raise ValueError(f"organization {organization_id} has no project for the demo Analyst")
        own = session.scalars(select(Brand.id).join(ProjectBrand, ProjectBrand.brand_id == Brand.id)
                              .where(ProjectBrand.project_id == project_id, ProjectBrand.role == "own")
                              .order_by(Brand.id)).all()
        brands = list(own) or list(session.scalars(select(Brand.id).where(Brand.organization_id == organization_id)
                                                   .order_by(Brand.id)))
        if not brands:
            raise ValueError(f"organization {organization_id} has no brand for the demo Brand Manager")
    return {
        SYSTEM_ADMINISTRATOR: ("system", 0),
        ORGANIZATION_ADMINISTRATOR: ("organization", organization_id),
        PORTFOLIO_MANAGER: ("organization", organization_id),
        BRAND_MANAGER: ("brand", brands[0]),
        ANALYST: ("project", project_id),
        VIEWER: ("brand", brands[1] if len(brands) > 1 else brands[0]),
    }


def _random_password(email: str, name: str) -> str:
    while True:
        candidate = secrets.token_urlsafe(15)
        if not check_password(candidate, email=email, name=name):
            return candidate


def ensure_demo_users(db: Database, *organization_ids: int, box: SecretBox, password: str | None = None,
                      totp_secret: str | None = None, settings: SecuritySettings | None = None,
                      renew_random: bool = False) -> list[DemoCredential]:
    """Create (or keep) the six demo users; the first organization holds them. Returns credentials.

    `password` / `totp_secret`: fixed values (DIGICADENCE_DEMO_PASSWORD / _TOTP_SECRET), else random.
    `renew_random`: without a fixed password, give existing demo users a fresh random password too
    (the demo app does this at every start, so the logins it prints always work).
    """
    if not organization_ids:
        raise ValueError("at least one organization id is needed")
    settings = settings or SecuritySettings()
    fixed_password = password or None
    fixed_totp = totp_secret or None
    totp_secret = fixed_totp or pyotp.random_base32()
    pyotp.TOTP(totp_secret).now()  # a malformed secret fails here, not at the first sign-in
    org_id = organization_ids[0]
    scopes = _scopes(db, org_id)
    credentials = []
    with db.session() as session:
        roles = ensure_builtin_roles(session)
        for role_name, (local, name) in DEMO_ACCOUNTS.items():
            email, name = normalize_email(f"{local}@{DEMO_DOMAIN}"), normalize_display_name(name)
            scope_type, scope_id = scopes[role_name]
            user = session.scalar(select(User).where(User.email == email))
            new_password: str | None = None
            if user is None:
                user = User(email=email, name=name, organization_id=None if role_name == SYSTEM_ADMINISTRATOR
                            else org_id)
                session.add(user)
                session.flush()
                new_password = fixed_password or _random_password(email, name)
                record(session, Action.USER_CREATED, organization_id=user.organization_id, target=user,
                       data={"demo": True}, personal={"email": email, "name": name})
            elif fixed_password and not verify_password(fixed_password, user.password_hash):
                new_password = fixed_password
            elif renew_random and not fixed_password:
                new_password = _random_password(email, name)
            if new_password is not None:
                problems = check_password(new_password, email=email, name=name)
                if problems:
                    raise ValueError(f"the demo password (DIGICADENCE_DEMO_PASSWORD) is not acceptable for {email}: "
                                     f"{', '.join(problems)}")
                user.password_hash = hash_password(new_password, settings.bcrypt_rounds)
                user.must_change_password = False
            secret = None
            if role_name in MFA_REQUIRED_ROLES:
                current = box.decrypt(user.mfa_secret_encrypted) if user.mfa_secret_encrypted else None
                if current is None or (fixed_totp and current != totp_secret):
                    user.mfa_secret_encrypted = box.encrypt(totp_secret)
                    user.mfa_enabled = True
                    user.mfa_last_timestep = None
                    current = totp_secret
                secret = current if new_password is not None or fixed_totp else None
            role = roles[role_name]
            exists = session.scalar(select(RoleGrant.id).where(
                RoleGrant.user_id == user.id, RoleGrant.role_id == role.id,
                RoleGrant.scope_type == scope_type, RoleGrant.scope_id == scope_id))
            if exists is None:
                session.add(RoleGrant(user_id=user.id, role_id=role.id, scope_type=scope_type, scope_id=scope_id))
                session.flush()
                record(session, Action.GRANT_CREATED, organization_id=user.organization_id, target=("user", user.id),
                       data={"role": role_name, "scope_type": scope_type, "scope_id": scope_id, "demo": True})
            credentials.append(DemoCredential(role_name, email, new_password, scope_type, scope_id, secret))
    return credentials
