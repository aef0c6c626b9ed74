"""Security alerts (issue 18 item 3): what the detectors found in the audit trail, their deliveries to the
security contacts, the networks each person has signed in from, and the detector pass's cursor.

Not the outcome alerts of `core.models.alerts` (about brands, read in the app): these go out by e-mail and
webhook to an organization's security contacts. The behaviour lives in `core/security_alerts/`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow

SECURITY_ALERT_KINDS = ("lockout_burst", "denial_spike", "admin_grant", "mfa_reset", "new_network", "audit_chain")
CHANNELS = ("email", "webhook")
SECURITY_DELIVERY_STATUSES = ("queued", "sending", "retrying", "sent", "failed")


class SecurityAlert(Base):
    """One finding. `organization_id` NULL: system-wide (a broken audit chain, a System Administrator's
    account), shown to System Administrators and sent to the system's contacts.

    `dedup_key` is unique across the table (it names the organization itself), so a finding raised by two
    racing passes is stored once. `personal` holds the names and addresses the words mention, so erasing
    the person (core.security.personal_data) can take them out of `title` and `detail` again.
    """

    __tablename__ = "security_alerts"
    __table_args__ = (
        CheckConstraint("kind in " + str(SECURITY_ALERT_KINDS), name="kind"),
        UniqueConstraint("dedup_key", name="uq_security_alerts_dedup_key"),
        Index("ix_security_alerts_org_created", "organization_id", "created_at"),
        Index("ix_security_alerts_kind_subject", "kind", "subject", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                        default=None)
    kind: Mapped[str] = mapped_column(String(40))
    # Who or what the finding is about ("org:3", "user:12", "chain"): one burst or spike per subject at a time.
    subject: Mapped[str] = mapped_column(String(80))
    dedup_key: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None)
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="")
    personal: Mapped[dict] = mapped_column(default=dict)
    event_id: Mapped[int | None] = mapped_column(default=None)  # the audit event that raised it
    occurred_at: Mapped[datetime] = mapped_column()  # that event's time
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecurityAlertDelivery(Base):
    """One alert to one contact on one channel: its status, attempts and last error (retried with backoff)."""

    __tablename__ = "security_alert_deliveries"
    __table_args__ = (
        CheckConstraint("channel in " + str(CHANNELS), name="channel"),
        CheckConstraint("status in " + str(SECURITY_DELIVERY_STATUSES), name="status"),
        UniqueConstraint("alert_id", "channel", "target", name="uq_security_alert_deliveries_target"),
        Index("ix_security_alert_deliveries_status_retry", "status", "retry_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("security_alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(500))  # an e-mail address or a webhook URL
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    retry_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)  # when the current attempt began
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class SecurityKnownNetwork(Base):
    """A network (IPv4 /24, IPv6 /48) a person has signed in from, learned from the audit trail's sign-ins."""

    __tablename__ = "security_known_networks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecurityAlertState(Base):
    """The detector pass's single row: the last audit event it read, its lease, and how far the chain checks got."""

    __tablename__ = "security_alert_state"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    cursor: Mapped[int] = mapped_column(default=0)  # audit events up to this id have been read
    lease_until: Mapped[datetime | None] = mapped_column(default=None)  # a pass runs until then (one at a time)
    verified_id: Mapped[int] = mapped_column(default=0)  # the chain is checked up to this event ...
    verified_hash: Mapped[str] = mapped_column(String(64), default="")  # ... whose hash was this
    full_verified_at: Mapped[datetime | None] = mapped_column(default=None)  # the last walk of the whole chain
    # Sign-ins up to this event are still to be learned as known networks (0: done); the first pass does it,
    # so an app's start that begins the watch stays quick on a long trail.
    learn_until: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
