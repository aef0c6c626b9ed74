"""Saved what-if runs, long-running jobs and import batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.classification import DEFAULT
from core.models.base import Base, utcnow

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Scenario(Base):
    """A saved what-if: its inputs, constraints and the result it produced."""

    __tablename__ = "scenarios"
    __table_args__ = (
        CheckConstraint("status in ('draft', 'saved', 'approved', 'archived')", name="status"),
        Index("ix_scenarios_org_created", "organization_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), default=None)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    inputs: Mapped[dict] = mapped_column(default=dict)
    constraints: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="saved")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The job whose `save_as` produced this scenario; unique, so a re-run job can never save it twice.
    saved_by_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None,
                                                        unique=True)
    # Data classification (issue 17): readers below this level never see the scenario (core.security.authorizer).
    classification: Mapped[str] = mapped_column(String(20), default=DEFAULT.value, server_default=DEFAULT.value)


class Job(Base):
    """Long work (optimizations, fits, reports) with progress, so nobody waits on a request."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status in " + str(JOB_STATUSES), name="status"),
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
        # A client's Idempotency-Key names one job of theirs (core.jobs.queue.submit).
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    payload: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Durable queue bookkeeping (core.jobs.runner): which attempt holds the job, its last sign of life,
    # and who ("host:pid") runs it, so a dead worker's job is re-run or failed, never left running.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)


class ImportBatch(Base):
    """One committed import: what file, what it changed. Dry runs are not stored."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Data classification of the imported data set (the organization's default for imports at commit).
    classification: Mapped[str] = mapped_column(String(20), default=DEFAULT.value, server_default=DEFAULT.value)


class ImportUpload(Base):
    """An uploaded file kept on the server between its preview and its commit (then deleted).

    The browser holds only a random token (this row's id is its SHA-256), so the commit writes
    exactly the bytes, mapping and organization that were previewed, never a second upload.
    """

    __tablename__ = "import_uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # Set by a clean preview: what the commit will use.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                        default=None)
    spec: Mapped[dict | None] = mapped_column(default=None)
    preview_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
