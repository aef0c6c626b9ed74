"""The schedule: `tick` queues every due delivery once per period and re-submits retries that are due.

Called every `MailSettings.tick_s` by the embedded timer (`SubscriptionTimer`, started by app.create_app
when there is no Celery) or by Celery beat's `digicadence.subscriptions.tick` (`register_task`, worker.py).
Exactly once per period, however many ticks race: a subscription's `next_run_at` is moved on by a
compare-and-set, and `subscription_deliveries` is unique on (subscription, period). A period missed
while nothing ran (the app was down for days) is sent once, for the latest due moment, not once per
missed day. Each attempt is a `report_delivery` job owned by the recipient (core/jobs/delivery_kind.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.jobs.delivery_kind import REPORT_DELIVERY
from core.jobs.queue import Dispatcher, submit
from core.jobs.records import aware
from core.jobs.tasks import _database as worker_database
from core.models import ReportSubscription, SubscriptionDelivery
from core.models.base import utcnow
from core.security import load_principal
from core.subscriptions.delivery import backoff_s, mail_settings
from core.subscriptions.schedule import next_run, period_of

log = logging.getLogger(__name__)
TICK_TASK = "digicadence.subscriptions.tick"
BATCH = 500
ORPHAN_AFTER = timedelta(minutes=5)  # a queued delivery whose job was never made (the process died between)


def dispatch_delivery(db: Database, dispatcher: Dispatcher, delivery_id: int) -> str | None:
    """Submit the delivery's next attempt as a job owned by its recipient; the job id (None: it could not)."""
    with db.session() as s:
        recipient = s.scalar(select(ReportSubscription.recipient_id).join(
            SubscriptionDelivery, SubscriptionDelivery.subscription_id == ReportSubscription.id)
            .where(SubscriptionDelivery.id == delivery_id))
    if recipient is None:
        return None
    try:
        job_id = submit(db, load_principal(db, recipient), REPORT_DELIVERY, {"delivery_id": delivery_id},
                        dispatcher=dispatcher)
    except Exception as exc:  # the queue is full or down: try again after the backoff, nothing is lost
        log.warning("delivery %s: could not be queued: %s", delivery_id, exc)
        with db.session() as s:
            s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id,
                                                         SubscriptionDelivery.status == "queued")
                      .values(status="retrying", last_error=f"could not be queued: {exc}",
                              retry_at=utcnow() + timedelta(seconds=backoff_s(mail_settings(), 1))))
        return None
    with db.session() as s:
        s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id,
                                                     SubscriptionDelivery.job_id.is_(None)).values(job_id=job_id))
    return job_id


def _open_period(db: Database, sub: Any, now: datetime) -> int | None:
    """Move the subscription on and add the period's delivery, once; its id, or None if another tick won."""
    scheduled = aware(sub.next_run_at)  # SQLite hands back naive UTC
    following = next_run(sub.cadence, sub.hour, sub.timezone, max(now, scheduled))
    period = period_of(scheduled, sub.timezone)
    try:
        with db.session() as s:
            won = s.execute(update(ReportSubscription).where(ReportSubscription.id == sub.id,
                                                             ReportSubscription.next_run_at == sub.next_run_at)
                            .values(next_run_at=following)).rowcount
            if not won:
                return None
            row = SubscriptionDelivery(subscription_id=sub.id, organization_id=sub.organization_id, period=period,
                                       status="queued", attempts=0)
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:  # this period was already delivered (or is being): once only
        return None


def tick(db: Database, dispatcher: Dispatcher, now: datetime | None = None) -> dict[str, int]:
    """Queue due deliveries, re-submit due retries and orphaned queued ones; counts of each."""
    now = now or utcnow()
    counts = {"queued": 0, "retried": 0, "requeued": 0}
    with db.session() as s:
        due = s.execute(select(ReportSubscription.id, ReportSubscription.organization_id, ReportSubscription.cadence,
                               ReportSubscription.hour, ReportSubscription.timezone, ReportSubscription.next_run_at)
                        .where(ReportSubscription.active.is_(True), ReportSubscription.next_run_at <= now)
                        .order_by(ReportSubscription.next_run_at).limit(BATCH)).all()
        retries = s.scalars(select(SubscriptionDelivery.id).where(SubscriptionDelivery.status == "retrying",
                                                                  SubscriptionDelivery.retry_at <= now)
                            .limit(BATCH)).all()
        orphans = s.scalars(select(SubscriptionDelivery.id).where(
            SubscriptionDelivery.status == "queued", SubscriptionDelivery.job_id.is_(None),
            SubscriptionDelivery.created_at <= now - ORPHAN_AFTER).limit(BATCH)).all()
    for sub in due:
        if (delivery_id := _open_period(db, sub, now)) is not None and dispatch_delivery(db, dispatcher, delivery_id):
            counts["queued"] += 1
    for delivery_id in retries:
        with db.session() as s:  # retrying → queued by compare-and-set: one tick submits it
            won = s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id,
                                                               SubscriptionDelivery.status == "retrying")
                            .values(status="queued", retry_at=None, job_id=None)).rowcount
        if won and dispatch_delivery(db, dispatcher, delivery_id):
            counts["retried"] += 1
    for delivery_id in orphans:
        if dispatch_delivery(db, dispatcher, delivery_id):
            counts["requeued"] += 1
    return counts


class SubscriptionTimer:
    """The embedded default's schedule: a daemon thread calling `tick` every `every_s` seconds, then each of
    `also` (the security alert pass, core.security_alerts.run): the app's one in-process timer."""

    def __init__(self, db: Database, dispatcher: Dispatcher, every_s: float,
                 also: Sequence[Callable[[], Any]] = ()) -> None:
        self.db, self.dispatcher, self.every_s, self.also = db, dispatcher, every_s, tuple(also)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dc-subscriptions", daemon=True)

    def start(self) -> SubscriptionTimer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                counts = tick(self.db, self.dispatcher)
                if any(counts.values()):
                    log.info("subscriptions: %s", counts)
            except Exception:
                log.exception("subscription tick failed; trying again at the next one")
            for step in self.also:
                try:
                    step()
                except Exception:
                    log.exception("scheduled step %s failed; trying again at the next tick", step)

    def stop(self) -> None:
        self._stop.set()


def register_task(celery_app: Any, db: Database, dispatcher: Dispatcher) -> dict[str, dict[str, Any]]:
    """The Celery beat side (worker.py): the tick task, and its beat entry every `tick_s` (60 when 0)."""
    every = float(mail_settings().tick_s or 60)

    @celery_app.task(name=TICK_TASK, ignore_result=True, shared=False)  # bound to this app's database only
    def subscriptions_tick() -> dict[str, int]:
        return tick(worker_database(db.url), dispatcher)  # an engine of this worker process, not the parent's

    return {"digicadence-subscriptions": {"task": TICK_TASK, "schedule": every, "options": {"expires": every}}}
