"""Credentials and replay records of the REST API: refresh tokens, personal API tokens, idempotency.

Secrets are never stored: a token row keeps the SHA-256 of the token, so a database dump cannot be
replayed against the API. Each token also keeps the user's `session_epoch` from when it was issued;
anything that ends a person's sessions (password change, disable, erase, MFA reset) moves the
epoch and with it every API token of theirs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow


class RefreshToken(Base):
    """One link of a rotating refresh-token family; usable once, then replaced by the next link.

    Presenting a link that was already used means the family leaked: the whole family is revoked.
    """

    __tablename__ = "api_refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """A personal API token for a pipeline: named, limited to some of the owner's permissions and
    optionally to one project or brand, expiring, revocable. The token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        CheckConstraint("scope_type is null or scope_type in ('project', 'brand')", name="scope_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a token in a list
    permissions: Mapped[list] = mapped_column(default=list)
    scope_type: Mapped[str | None] = mapped_column(String(20), default=None)
    scope_id: Mapped[int | None] = mapped_column(default=None)
    epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class IdempotencyRecord(Base):
    """The first response to a POST with an `Idempotency-Key`, per principal and key.

    `status` is None while the first request is still running (a concurrent duplicate gets 409).
    """

    __tablename__ = "api_idempotency"
    __table_args__ = (
        UniqueConstraint("principal", "key"),
        Index("ix_api_idempotency_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    principal: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(default=None)
    content_type: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
