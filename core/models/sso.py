"""Single sign-on tables: an organization's OpenID Connect provider, the people's accounts there, and the
nonces already used.

The behaviour lives in `core.security.sso_settings` (validation) and `core.security.oidc` (the flow).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow


class OrganizationSSO(Base):
    """One organization's identity provider. The client secret is Fernet-encrypted (`SecretBox`)
    like TOTP seeds; `role_mapping` is a list of validated rules (claim value → role at a scope)."""

    __tablename__ = "organization_sso"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    issuer: Mapped[str] = mapped_column(String(500), default="")
    client_id: Mapped[str] = mapped_column(String(200), default="")
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    allowed_domains: Mapped[list] = mapped_column(default=list)
    role_mapping: Mapped[list] = mapped_column(default=list)
    # acr values that the provider only gives after a second factor (amr "mfa"/"hwk"/"otp" always count).
    mfa_acr_values: Mapped[list] = mapped_column(default=list)
    # Off: only people the organization invited or created are let in (linked by e-mail at first sign-in).
    jit_provisioning: Mapped[bool] = mapped_column(Boolean, default=False)
    # Off: only administrators may still use a password (break-glass); everyone else signs in through SSO.
    local_passwords_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SSOUsedNonce(Base):
    """The SHA-256 of every nonce whose id_token signed someone in: the same token never works twice."""

    __tablename__ = "sso_used_nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class SSOIdentity(Base):
    """A person's account at a provider, (issuer, subject) → user. Linked at the first company sign-in (by the
    verified e-mail of someone the organization invited or provisioned) and matched by it from then on, so an
    address changed, or handed to someone else, at the provider never moves a sign-in to another person."""

    __tablename__ = "sso_identities"

    issuer: Mapped[str] = mapped_column(String(500), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
