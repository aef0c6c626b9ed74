"""The delivery log as administrators see it, and Resend.

Who: holders of settings:manage on the delivery's organization (organization and system
administrators). The log lists every delivery with its status, attempts, last error and the job of its
latest attempt; Resend sends a delivery again as a new job (a sent one in full, a failed or skipped one
with only what it had not yet sent), re-rendered with the recipient's access at that moment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from core.db import Database
from core.jobs.queue import Dispatcher
from core.models import ReportSubscription, SubscriptionDelivery, User
from core.security import Principal, can, record
from core.subscriptions.scheduler import dispatch_delivery
from core.subscriptions.service import target_label

ADMIN = "settings:manage"
RESENDABLE = ("sent", "failed", "skipped")


class DeliveryNotFound(LookupError):
    """No such delivery in an organization this person administers (the same for an unknown id)."""


def may_see_log(principal: Principal) -> bool:
    """Whether the principal administers any organization's deliveries (the page shows the log then)."""
    return not principal.scopes(ADMIN).empty


def delivery_log(db: Database, principal: Principal, limit: int = 200) -> list[dict[str, Any]]:
    """The latest deliveries of the organizations the principal administers, newest first."""
    scopes = principal.scopes(ADMIN)
    if scopes.empty:
        return []
    query = (select(SubscriptionDelivery, ReportSubscription, User.email)
             .join(ReportSubscription, ReportSubscription.id == SubscriptionDelivery.subscription_id)
             .join(User, User.id == ReportSubscription.recipient_id)
             .order_by(SubscriptionDelivery.created_at.desc(), SubscriptionDelivery.id.desc()).limit(limit))
    if not scopes.everywhere:
        query = query.where(SubscriptionDelivery.organization_id.in_(list(scopes.organizations) or [-1]))
    with db.session() as s:
        return [{"id": d.id, "subscription_id": sub.id, "what": target_label(s, sub.report, sub.target_id,
                                                                             sub.project_id),
                 "recipient": email, "period": d.period, "status": d.status, "attempts": d.attempts,
                 "error": d.last_error or "", "job_id": d.job_id or "",
                 "created_at": d.created_at.isoformat(sep=" ", timespec="seconds")[:19],
                 "retry_at": d.retry_at.isoformat(sep=" ", timespec="seconds")[:19] if d.retry_at else ""}
                for d, sub, email in s.execute(query)]


def resend(db: Database, principal: Principal, delivery_id: Any, dispatcher: Dispatcher) -> str | None:
    """Queue the delivery again (settings:manage on its organization); the new job's id.

    DeliveryNotFound for an id out of reach; ValueError when it is still on its way (nothing changed).
    """
    try:
        delivery_id = int(delivery_id)
    except (TypeError, ValueError):
        raise DeliveryNotFound("no such delivery") from None
    with db.session() as s:
        row = s.get(SubscriptionDelivery, delivery_id)
        if row is None or not can(principal, ADMIN, ("organization", row.organization_id)):
            raise DeliveryNotFound("no such delivery")
        if row.status not in RESENDABLE:
            raise ValueError(f"this delivery is {row.status}: it is still on its way")
        again = {"email_sent_at": None, "webhook_sent_at": None} if row.status == "sent" else {}
        won = s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id,
                                                           SubscriptionDelivery.status == row.status)
                        .values(status="queued", attempts=0, retry_at=None, job_id=None, finished_at=None,
                                **again)).rowcount
        if not won:
            raise ValueError("this delivery changed meanwhile; look again")
        record(s, "subscription.resend", actor=principal, organization_id=row.organization_id,
               target=("subscription_delivery", delivery_id), data={"was": row.status})
    return dispatch_delivery(db, dispatcher, delivery_id)
