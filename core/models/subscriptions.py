"""Report subscriptions and their delivery log (issue 18 items 1 and 5).

A subscription sends one report (executive summary, brand card or scenario report) as PDF or XLSX to
one recipient, a member of the owner's organization, on a cadence. Each scheduled send is one
`SubscriptionDelivery`, unique per (subscription, period), so a period is delivered at most once however
many schedulers race; its attempts run as durable jobs (core.subscriptions.delivery).
The behaviour lives in `core/subscriptions/`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow

REPORTS = ("portfolio", "brand", "scenario", "compliance", "alerts")
# "html": the alert digest, whose alerts are the mail's body (no attachment).
FORMATS = ("pdf", "xlsx", "html")
CADENCES = ("daily", "weekly", "monthly")
DELIVERY_STATUSES = ("queued", "sending", "retrying", "sent", "failed", "skipped")


class ReportSubscription(Base):
    """Who gets which report, when, and how; rendered at send time with the recipient's own access."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (
        CheckConstraint("report in " + str(REPORTS), name="report"),
        CheckConstraint("format in " + str(FORMATS), name="format"),
        CheckConstraint("cadence in " + str(CADENCES), name="cadence"),
        CheckConstraint("hour >= 0 and hour <= 23", name="hour"),
        Index("ix_report_subscriptions_due", "active", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    report: Mapped[str] = mapped_column(String(20))
    # project (portfolio), brand (brand card), scenario, organization (compliance report, alert digest)
    target_id: Mapped[int] = mapped_column()
    project_id: Mapped[int | None] = mapped_column(default=None)  # the brand card's project
    format: Mapped[str] = mapped_column(String(10))
    cadence: Mapped[str] = mapped_column(String(10))
    hour: Mapped[int] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64))
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Signed into the one-click unsubscribe link; a new nonce voids the links sent before.
    unsubscribe_nonce: Mapped[str] = mapped_column(String(32))
    stopped_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    next_run_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SubscriptionDelivery(Base):
    """One scheduled send of a subscription: its status, attempts and last error (the delivery log)."""

    __tablename__ = "subscription_deliveries"
    __table_args__ = (
        CheckConstraint("status in " + str(DELIVERY_STATUSES), name="status"),
        UniqueConstraint("subscription_id", "period", name="uq_subscription_deliveries_period"),
        Index("ix_subscription_deliveries_org_created", "organization_id", "created_at"),
        Index("ix_subscription_deliveries_status_retry", "status", "retry_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("report_subscriptions.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(40))  # the scheduled moment (UTC, ISO), one delivery each
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)  # the latest attempt's job
    retry_at: Mapped[datetime | None] = mapped_column(default=None)
    # Each channel once: a retry after the e-mail went out only calls the webhook.
    email_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    webhook_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
