"""Operations tables: per-organization retention policies and the archived part of the audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow

# Days kept when an organization has no policy row, and the least a policy may say: a typo (7 for
# 700) must not wipe current data. Audit events are never deleted, only archived after `audit_days`.
RETENTION_DEFAULTS = {"metric_values_days": 3650, "sessions_days": 30, "jobs_days": 180, "exports_days": 30,
                      "audit_days": 730}
RETENTION_MINIMUMS = {"metric_values_days": 730, "sessions_days": 7, "jobs_days": 30, "exports_days": 7,
                      "audit_days": 365}


class RetentionPolicy(Base):
    """How many days of each kind of data an organization keeps (enforced by `core.ops.retention`)."""

    __tablename__ = "retention_policies"
    __table_args__ = tuple(
        CheckConstraint(f"{column} >= {minimum}", name=f"{column}_minimum")
        for column, minimum in RETENTION_MINIMUMS.items()
    )

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    metric_values_days: Mapped[int] = mapped_column(default=RETENTION_DEFAULTS["metric_values_days"])
    sessions_days: Mapped[int] = mapped_column(default=RETENTION_DEFAULTS["sessions_days"])
    jobs_days: Mapped[int] = mapped_column(default=RETENTION_DEFAULTS["jobs_days"])
    exports_days: Mapped[int] = mapped_column(default=RETENTION_DEFAULTS["exports_days"])
    audit_days: Mapped[int] = mapped_column(default=RETENTION_DEFAULTS["audit_days"])
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditArchive(Base):
    """Audit events moved out of `audit_events` by retention, unchanged: same ids, content and hashes.

    The archive is the chain's older part: it verifies from the genesis hash, and the first live
    event links to its last hash (the anchor). On PostgreSQL it is append-only like the live trail,
    and an event can leave `audit_events` only once an identical copy is here (migration 0009).
    """

    __tablename__ = "audit_archive"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    organization_id: Mapped[int | None] = mapped_column(default=None)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(80), default=None)
    data: Mapped[dict] = mapped_column(default=dict)
    personal: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataVersion(Base):
    """One row whose token changes with every committed write to the analytic tables.

    Database triggers (migration 0010) set a fresh random token whenever a statement writes metric
    values, scores, outcomes, spend, the catalogue or the portfolio structure, so `core.read_cache`
    can keep computed read models exactly as long as the data under them is unchanged. A random
    token, not a counter: a restored backup must not reuse a number the cache saw for other data.
    On PostgreSQL the token changes once per writing transaction, as it commits (`txid`: the last).
    """

    __tablename__ = "data_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    txid: Mapped[int | None] = mapped_column(BigInteger, default=None)


class DataVersionPending(Base):
    """PostgreSQL: a transaction that has written an analytic table and not yet committed.

    The tables' statement triggers add the row; a deferred trigger changes the token at commit and
    removes it (migration 0011), so writers hold the token row's lock only while they commit. Empty at
    rest; a transaction's own row tells its reads that it has uncommitted changes.
    """

    __tablename__ = "data_version_pending"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
