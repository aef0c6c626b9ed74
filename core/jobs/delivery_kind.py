"""The `report_delivery` kind: one attempt at one subscription delivery (core.subscriptions.delivery).

The job is owned by the subscription's recipient, so the runner re-loads the recipient's principal for
each attempt and the report is rendered with their access at send time. Payload `{"delivery_id"}`;
validate only checks that the delivery exists and is this person's to receive: losing access is not a
refusal here but a `skipped` delivery whose owner is told (core.subscriptions.delivery.deliver).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import Database
from core.jobs.kinds import JobInputError, JobKind, JobRun, only_fields, register
from core.models import ReportSubscription, SubscriptionDelivery
from core.security import Principal
from core.subscriptions.delivery import deliver

REPORT_DELIVERY = "report_delivery"


def _validate(db: Database, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    payload = only_fields(payload, {"delivery_id"}, {"delivery_id"})
    delivery_id = payload["delivery_id"]
    if not isinstance(delivery_id, int) or isinstance(delivery_id, bool):
        raise JobInputError("delivery_id: expected a whole number")
    with db.session() as s:
        recipient = s.scalar(select(ReportSubscription.recipient_id).join(
            SubscriptionDelivery, SubscriptionDelivery.subscription_id == ReportSubscription.id)
            .where(SubscriptionDelivery.id == delivery_id))
    if recipient is None or recipient != principal.user_id:
        raise JobInputError(f"no delivery {delivery_id} to this person (deleted with its subscription?)")
    return {"delivery_id": delivery_id}


def _run(job: JobRun) -> dict[str, Any]:
    job.reporter(0.1, "building the report")
    return deliver(job.db, job.principal, job.payload["delivery_id"], job.job_id)


DELIVERY = register(JobKind(REPORT_DELIVERY, "report:export", _validate, _run))
