"""People, roles, grants at a scope, and the hash-chained audit trail.

The authentication and authorization behaviour on top of these lives in `core.security`; this
file only holds the tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, utcnow

SCOPE_TYPES = ("organization", "project", "brand", "system")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None only for System Administrators, who stand above organizations.
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, default=None
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sign-in state: brute-force lockout and a forced change after an admin reset.
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
    # TOTP: the secret is Fernet-encrypted; the last accepted time-step refuses a replayed code.
    mfa_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_last_timestep: Mapped[int | None] = mapped_column(default=None)
    # Set when the person was erased: the row stays (foreign keys, audit) but holds no personal data.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    # Bumped by password change, MFA reset, disable and erasure: every session made under an older
    # epoch is dead at once, whichever store (database or Redis) holds it.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    grants: Mapped[list[RoleGrant]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Role(Base):
    """A named set of permissions; built-in roles have no organization."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    permissions: Mapped[list] = mapped_column(default=list)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class RoleGrant(Base):
    """A role held at a scope; a grant at a scope covers everything below it."""

    __tablename__ = "role_grants"
    __table_args__ = (
        CheckConstraint("scope_type in " + str(SCOPE_TYPES), name="scope_type"),
        UniqueConstraint("user_id", "role_id", "scope_type", "scope_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants")
    role: Mapped[Role] = relationship()


class AuditEvent(Base):
    """Append-only, each row's hash covers the previous hash and its own canonical content.

    `personal` holds personal data outside the hashed content, so erasing a person keeps the
    chain valid.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_created", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(default=None)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(80), default=None)
    data: Mapped[dict] = mapped_column(default=dict)
    personal: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class PasswordHistory(Base):
    """Earlier password hashes of a user, so the last few cannot be reused."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A single-use MFA recovery code, stored as a SHA-256 of a high-entropy random code."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class AccountToken(Base):
    """A one-time token (invitation) stored hashed, valid until it expires or is used."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint("purpose in ('invite')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


MFA_POLICIES = ("administrators", "everyone")


class OrganizationSecurity(Base):
    """Per-organization options (security policy and alert defaults); an organization without a
    row, or a NULL column, uses the system defaults (`SecuritySettings`, `core.portfolio`).
    Read and written through `core.settings`."""

    __tablename__ = "organization_security"
    __table_args__ = (CheckConstraint("mfa_policy in " + str(MFA_POLICIES), name="mfa_policy"),)

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # Off by default: length, a common-password list and no personal data protect better (NIST 800-63B).
    password_composition: Mapped[bool] = mapped_column(Boolean, default=False)
    password_min_length: Mapped[int | None] = mapped_column(default=None)
    # Who must use a second factor: the administrators (always), or every member of the organization.
    mfa_policy: Mapped[str] = mapped_column(String(20), default="administrators", server_default="administrators")
    lockout_threshold: Mapped[int | None] = mapped_column(default=None)
    lockout_minutes: Mapped[int | None] = mapped_column(default=None)
    # Administrators must hold a security key (WebAuthn) and sign in with it (core.security.webauthn_keys).
    security_key_for_admins: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    alert_drop_threshold: Mapped[float | None] = mapped_column(Float, default=None)
    alert_anomaly_z: Mapped[float | None] = mapped_column(Float, default=None)
    alert_roas_floor: Mapped[float | None] = mapped_column(Float, default=None)  # core.alert_rules' T
    # Security alerts (core.security_alerts): the burst and spike thresholds (NULL: the defaults in
    # core.settings) and who is told: e-mail addresses and an optional Slack-compatible webhook.
    lockout_burst_accounts: Mapped[int | None] = mapped_column(default=None)
    lockout_burst_minutes: Mapped[int | None] = mapped_column(default=None)
    denial_spike_count: Mapped[int | None] = mapped_column(default=None)
    denial_spike_minutes: Mapped[int | None] = mapped_column(default=None)
    security_contacts: Mapped[list | None] = mapped_column(default=None)
    security_webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SecurityKey(Base):
    """A WebAuthn credential (hardware key or passkey) of a user; `core.security.webauthn_keys` uses it.

    `sign_count` is the authenticator's counter at its last use: a later use with a counter not above
    it is refused as a possible cloned key. `user_handle` is the same random value for all of a user's
    keys (the authenticator stores it with a passkey and hands it back at a passkey sign-in).
    """

    __tablename__ = "security_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as browsers send it
    user_handle: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(default=list)
    name: Mapped[str] = mapped_column(String(60))
    is_passkey: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class UserSession(Base):
    """A server-side session. The cookie holds a random id; only its SHA-256 is stored here, so
    a copy of this table opens no session. `data` is the Fernet-encrypted session payload."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id", "last_seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    epoch: Mapped[int] = mapped_column(default=0)
    data: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
