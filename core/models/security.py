"""People, roles, grants at a scope, and the hash-chained audit trail.

The authentication and authorization behaviour on top of these lives in the security issue's
modules; this file only holds the tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
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
