"""Alerts on outcomes: what the rules found (one row per finding, de-duplicated by its key) and, per person,
what they have read or snoozed. The rules and the inbox live in `core.alert_rules` and `core.alert_inbox`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow


class Alert(Base):
    """A finding about one own brand in one project (a score drop, an anomaly, an overtaking competitor, a
    channel whose marginal ROAS fell below the floor). Readable by whoever may read the brand."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("organization_id", "dedup_key"),
                      Index("ix_alerts_organization_id_created_at", "organization_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    dedup_key: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="/")
    period: Mapped[date | None] = mapped_column(default=None)
    # The level of what the alert tells (core.classification): an anomaly of a confidential metric is
    # confidential; the scope filter leaves it out for whoever may not read that level.
    classification: Mapped[str] = mapped_column(String(20), default="internal", server_default="internal")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRead(Base):
    """A person has read an alert (it leaves their unread count)."""

    __tablename__ = "alert_reads"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertSnooze(Base):
    """A person silenced one kind of alert about one brand until a moment: hidden, and not counted."""

    __tablename__ = "alert_snoozes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime] = mapped_column()


class AlertSent(Base):
    """An alert went (or is going) to a person in one alert-digest delivery: never in another one.

    Written when a digest delivery first takes its alerts (core.subscriptions.alert_mail); its retries and
    a Resend send the same set again, filtered by the person's scope and snoozes at that moment."""

    __tablename__ = "alert_sent"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("subscription_deliveries.id", ondelete="CASCADE"),
                                             index=True)
