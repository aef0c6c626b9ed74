"""One attempt at one delivery, run as a `report_delivery` job owned by the recipient (core/jobs/delivery_kind.py).

Why the recipient: the job runner re-loads the job owner's principal for every attempt, so the report is
rendered with the recipient's access at send time, never the subscription owner's. If the recipient may
no longer export it (grant removed, account disabled, object gone), nothing is sent: the delivery is
`skipped` with the reason and the owner gets a notice by e-mail.

The alert digest (report "alerts", core.subscriptions.alert_mail) goes the same way with the alerts the
recipient may read and has not snoozed at send time instead of a rendered report; a day with nothing new
leaves no delivery behind. The compliance report covers the days since the previous send
(`core.subscriptions.service.compliance_start`).

Retries: a send that fails for a reason that may pass (server down, timeout, 4xx) sets the delivery to
`retrying` with `retry_at` = now + base × 2^(attempt-1) (`MailSettings.retry_base_s`), and the scheduler's
next tick submits the next attempt as a new job; after `max_attempts` it is `failed`. Each channel is
sent once: `email_sent_at` / `webhook_sent_at` keep a retry from mailing twice. The job of a failed
attempt ends failed with the same reason, so the job list agrees with the delivery log.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from core import reports
from core.config import MailSettings
from core.db import Database
from core.models import ReportSubscription, SubscriptionDelivery, User
from core.models.base import utcnow
from core.security import Forbidden, Principal
from core.subscriptions import alert_mail
from core.subscriptions.sending import Mail, SendFailed, notice_mail, post_webhook, report_mail, send_mail
from core.subscriptions.service import REPORT_NAMES, compliance_start, describe, report_params, unsubscribe_token

log = logging.getLogger(__name__)
PAGES = {"portfolio": "/", "brand": "/brand", "scenario": "/scenarios", "compliance": "/admin/compliance",
         "alerts": "/alerts"}
_state: dict[str, Any] = {"mail": MailSettings(), "secret": ""}


class DeliveryNotSent(ValueError):
    """This attempt sent nothing it should have; the reason (and when it is retried) for the job row."""


def configure(mail: MailSettings, secret_key: str) -> None:
    """Set the SMTP settings and the unsubscribe signing key for this process (app.create_app)."""
    _state["mail"], _state["secret"] = mail, secret_key


def mail_settings() -> MailSettings:
    return _state["mail"]


def backoff_s(settings: MailSettings, attempt: int) -> float:
    """The wait after failed attempt `attempt` (1, 2, …): base, 2 × base, 4 × base, …"""
    return float(settings.retry_base_s * 2 ** max(0, attempt - 1))


def _claim(db: Database, delivery_id: int, job_id: str) -> int | None:
    """queued/retrying → sending, attempts + 1 (compare-and-set); None when there is nothing to send."""
    with db.session() as s:
        row = s.execute(select(SubscriptionDelivery.status, SubscriptionDelivery.attempts)
                        .where(SubscriptionDelivery.id == delivery_id)).first()
        if row is None or row.status not in ("queued", "retrying", "sending"):
            return None
        won = s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id,
                                                           SubscriptionDelivery.status == row.status,
                                                           SubscriptionDelivery.attempts == row.attempts)
                        .values(status="sending", attempts=row.attempts + 1, job_id=job_id, retry_at=None))
        return row.attempts + 1 if won.rowcount else None


def _close(db: Database, delivery_id: int, status: str, error: str | None, **values: Any) -> None:
    with db.session() as s:
        s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id).values(
            status=status, last_error=error, finished_at=None if status == "retrying" else utcnow(), **values))


def _people(db: Database, sub: ReportSubscription) -> tuple[str, str, str]:
    with db.session() as s:
        emails = dict(s.execute(select(User.id, User.email).where(User.id.in_([sub.owner_id, sub.recipient_id]))).all())
        what = describe(s, sub)
    return emails.get(sub.recipient_id, ""), emails.get(sub.owner_id, ""), what


def _skip(db: Database, delivery_id: int, sub: ReportSubscription, reason: str) -> dict[str, Any]:
    """Send nothing; tell the owner (by e-mail when mail works) and record why."""
    recipient, owner, what = _people(db, sub)
    text = (f"Your subscription \"{what}\" for {recipient} was not sent: {reason}. Nothing was sent to them. "
            f"Change or delete it at {mail_settings().public_url}/subscriptions.")
    try:
        send_mail(mail_settings(), notice_mail(owner, "A report subscription was not delivered", text))
        told = "the owner was told by e-mail"
    except SendFailed as exc:
        told = f"the owner could not be told by e-mail: {exc.reason}"
    _close(db, delivery_id, "skipped", f"{reason}; {told}")
    return {"status": "skipped", "reason": reason}


def _unsubscribe_url(sub: ReportSubscription) -> str:
    token = unsubscribe_token(_state["secret"], sub.id, sub.unsubscribe_nonce)
    return f"{mail_settings().public_url}/unsubscribe/{token}"


def _send_each(db: Database, delivery_id: int, sub: ReportSubscription, mail: Mail, hook: str,
               done: tuple[Any, Any]) -> None:
    """E-mail and webhook, each unless an earlier attempt already sent it (SendFailed propagates)."""
    if sub.email and done[0] is None:
        send_mail(mail_settings(), mail)
        _mark(db, delivery_id, email_sent_at=utcnow())
    if sub.webhook_url and done[1] is None:
        post_webhook(mail_settings(), sub.webhook_url, hook)
        _mark(db, delivery_id, webhook_sent_at=utcnow())


def _send(db: Database, delivery_id: int, sub: ReportSubscription, report: reports.Report,
          done: tuple[Any, Any]) -> None:
    settings = mail_settings()
    recipient, _owner, what = _people(db, sub)
    link = f"{settings.public_url}{PAGES[sub.report]}"
    title = f"{REPORT_NAMES[sub.report]} · Digi-Cadence"
    mail = report_mail(recipient, title, what, f"{sub.cadence} at {sub.hour:02d}:00 {sub.timezone}", link,
                       _unsubscribe_url(sub), (report.filename, report.media_type, report.content))
    channel = f"e-mailed to {recipient}" if sub.email else "ready"
    _send_each(db, delivery_id, sub, mail, f"Digi-Cadence: {what} is {channel}. <{link}|Open Digi-Cadence>", done)


def _send_alerts(db: Database, recipient: Principal, delivery: SubscriptionDelivery, sub: ReportSubscription,
                 attempt: int) -> dict[str, Any]:
    """The alert digest's attempt: the alerts taken into this delivery, re-checked against the recipient now."""
    done = (delivery.email_sent_at, delivery.webhook_sent_at)
    alerts = alert_mail.take(db, recipient, sub, delivery.id)
    if alerts is None:  # a quiet day: no row in the delivery log
        with db.session() as s:
            s.execute(delete(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery.id))
        return {"status": "nothing new"}
    if not alerts:
        _close(db, delivery.id, "skipped", "none of its alerts may be sent now: the recipient no longer reads "
                                          "those brands, or snoozed them")
        return {"status": "skipped"}
    settings, (to, _owner, _what) = mail_settings(), _people(db, sub)
    mail = alert_mail.digest_mail(to, alerts, settings.public_url, f"daily at {sub.hour:02d}:00 {sub.timezone}",
                                  _unsubscribe_url(sub))
    try:
        _send_each(db, delivery.id, sub, mail, alert_mail.webhook_text(alerts, settings.public_url), done)
    except SendFailed as exc:
        _failed(db, delivery.id, attempt, exc)
    _close(db, delivery.id, "sent", None)
    return {"status": "sent", "attempt": attempt, "alerts": len(alerts)}


def _mark(db: Database, delivery_id: int, **values: Any) -> None:
    with db.session() as s:
        s.execute(update(SubscriptionDelivery).where(SubscriptionDelivery.id == delivery_id).values(**values))


def _failed(db: Database, delivery_id: int, attempt: int, exc: SendFailed) -> None:
    settings = mail_settings()
    if exc.permanent or attempt >= settings.max_attempts:
        why = "not retried" if exc.permanent else f"gave up after {attempt} attempts"
        _close(db, delivery_id, "failed", f"{exc.reason} ({why})")
        raise DeliveryNotSent(f"{exc.reason} ({why})")
    retry_at = utcnow() + timedelta(seconds=backoff_s(settings, attempt))
    _close(db, delivery_id, "retrying", f"attempt {attempt} of {settings.max_attempts}: {exc.reason}",
           retry_at=retry_at)
    raise DeliveryNotSent(f"{exc.reason}; attempt {attempt} of {settings.max_attempts}, "
                          f"next at {retry_at:%Y-%m-%d %H:%M:%S} UTC")


def deliver(db: Database, recipient: Principal, delivery_id: int, job_id: str) -> dict[str, Any]:
    """Run one attempt; the job's result. DeliveryNotSent when it failed (retried later or failed for good).

    Whatever else goes wrong ends the delivery as failed with a pointer to the log, never "sending" forever.
    """
    attempt = _claim(db, delivery_id, job_id)
    if attempt is None:
        return {"status": "nothing to send"}
    try:
        return _attempt(db, recipient, delivery_id, attempt)
    except (DeliveryNotSent, Forbidden):
        raise
    except Exception:
        _close(db, delivery_id, "failed", "unexpected error (details in the worker log)")
        raise


def _attempt(db: Database, recipient: Principal, delivery_id: int, attempt: int) -> dict[str, Any]:
    with db.session() as s:
        delivery = s.get(SubscriptionDelivery, delivery_id)
        sub = s.get(ReportSubscription, delivery.subscription_id)
        s.expunge_all()
    if not sub.active:
        _close(db, delivery_id, "skipped", f"the subscription was stopped ({sub.stopped_reason or 'paused'})")
        return {"status": "skipped"}
    if recipient.user_id != sub.recipient_id:
        _close(db, delivery_id, "failed", "the job's owner is not this subscription's recipient")
        raise Forbidden(reports.EXPORT, ("report_subscription", sub.id), "not this subscription's recipient")
    if sub.report == alert_mail.ALERTS:
        return _send_alerts(db, recipient, delivery, sub, attempt)
    params = report_params(sub.report, sub.target_id, sub.project_id)
    if sub.report == "compliance":
        with db.session() as s:
            params["start"] = compliance_start(s, sub.id, utcnow().date()).isoformat()
    try:
        report = reports.render(db, recipient, sub.report, params, sub.format)
    except Forbidden as exc:
        return _skip(db, delivery_id, sub, f"the recipient may no longer export this report ({exc.reason})")
    except ValueError as exc:
        _close(db, delivery_id, "failed", f"the report could not be built: {exc}")
        raise DeliveryNotSent(f"the report could not be built: {exc}") from None
    try:
        _send(db, delivery_id, sub, report, (delivery.email_sent_at, delivery.webhook_sent_at))
    except SendFailed as exc:
        _failed(db, delivery_id, attempt, exc)
    _close(db, delivery_id, "sent", None)
    return {"status": "sent", "attempt": attempt, "filename": report.filename, "size": len(report.content)}
