"""Telling the security contacts: one durable row per alert, channel and contact, sent and retried from the pass.

The SMTP server, the sender, the timeouts, the number of attempts and the backoff are the report
subscriptions' (`core.subscriptions.delivery.mail_settings`, `backoff_s`; DIGICADENCE_SMTP_*,
DIGICADENCE_DELIVERY_*), and so are the sending functions (`send_mail`, `post_webhook`): one mail path.
Unlike a report, an alert is not rendered with anybody's access (the contacts are addresses, not
accounts), so an attempt is not a job owned by a person: the pass sends what is due itself, claiming each
row by compare-and-set so two passes never send one twice. A send that fails for a reason that may pass is
`retrying` until `retry_at` (base × 2^(attempt−1)); after the last attempt, or a refusal that cannot pass,
it is `failed` with the reason, which the alert list shows and the log and /metrics record. Nothing is
dropped: the alert stays listed whatever happens to its sends.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core.config import AlertingSettings
from core.db import Database
from core.models import Organization, SecurityAlert, SecurityAlertDelivery
from core.models.base import utcnow
from core.observability import metrics
from core.security_alerts.detectors import KIND_NAMES, clock
from core.settings import security_alert_policy
from core.subscriptions.delivery import backoff_s, mail_settings
from core.subscriptions.sending import Mail, SendFailed, post_webhook, send_mail

log = logging.getLogger(__name__)
BATCH = 200
STALE = timedelta(minutes=10)  # a send claimed this long ago whose process died: tried again
PAGE = "/admin/audit"


def contacts(session: Session, organization_id: int | None, settings: AlertingSettings) -> list[tuple[str, str]]:
    """(channel, target) pairs an alert of this organization goes to (None: the system's, from the environment)."""
    if organization_id is None:
        emails, webhook = settings.system_contacts, settings.system_webhook_url
    else:
        policy = security_alert_policy(session, organization_id)
        emails, webhook = policy.contacts, policy.webhook_url
    return [("email", e) for e in emails] + ([("webhook", webhook)] if webhook else [])


def queue(session: Session, alert: SecurityAlert, settings: AlertingSettings) -> int:
    """One queued delivery per contact of the alert's organization; how many."""
    targets = contacts(session, alert.organization_id, settings)
    for channel, target in targets:
        session.add(SecurityAlertDelivery(alert_id=alert.id, channel=channel, target=target, status="queued",
                                          attempts=0))
    return len(targets)


def _claim(db: Database, row: Any, now: datetime) -> int | None:
    with db.session() as s:
        won = s.execute(update(SecurityAlertDelivery).where(
            SecurityAlertDelivery.id == row.id, SecurityAlertDelivery.status == row.status,
            SecurityAlertDelivery.attempts == row.attempts)
            .values(status="sending", attempts=row.attempts + 1, claimed_at=now, retry_at=None)).rowcount
    return row.attempts + 1 if won else None


def _close(db: Database, delivery_id: int, **values: Any) -> None:
    with db.session() as s:
        s.execute(update(SecurityAlertDelivery).where(SecurityAlertDelivery.id == delivery_id).values(**values))


def message(alert: SecurityAlert, organization: str, to: str) -> Mail:
    """The e-mail: what was found, for which organization, when, and where to look."""
    settings = mail_settings()
    link = f"{settings.public_url}{PAGE}"
    kind = KIND_NAMES.get(alert.kind, alert.kind)
    subject = f"[Digi-Cadence security] {alert.title}"[:250]
    text = (f"{alert.title}\n\n{alert.detail}\n\nKind: {kind}\nOrganization: {organization}\n"
            f"When: {clock(alert.occurred_at)}\nAlert #{alert.id}, listed on the Audit page: {link}\n\n"
            "You receive this as a security contact of this organization in Digi-Cadence.\n")
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{escape(subject)}</title></head>
<body style="margin:0;background:#f4f6f8;font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1f2933">
<div style="max-width:600px;margin:0 auto;padding:24px 16px">
<div style="background:#ffffff;border-radius:8px;padding:24px;border:1px solid #d9e2ec;border-top:4px solid #c62828">
<div style="font-size:13px;color:#52606d;letter-spacing:.04em;text-transform:uppercase">Security alert ·
{escape(kind)}</div>
<h1 style="font-size:20px;margin:8px 0 16px">{escape(alert.title)}</h1>
<p style="font-size:15px;line-height:1.5;margin:0 0 12px">{escape(alert.detail)}</p>
<p style="font-size:13px;color:#52606d;margin:0 0 12px">{escape(organization)} · {escape(clock(alert.occurred_at))}
· alert #{alert.id}</p>
<p style="margin:20px 0"><a href="{escape(link, quote=True)}" style="background:#1565c0;color:#ffffff;
padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">Open the Audit page</a></p>
</div><p style="font-size:12px;color:#52606d;margin:16px 4px">You receive this as a security contact of this
organization in Digi-Cadence.</p></div></body></html>"""
    return Mail(to, subject, text, html)


def _webhook_text(alert: SecurityAlert, organization: str) -> str:
    link = f"{mail_settings().public_url}{PAGE}"
    return (f":rotating_light: Digi-Cadence security alert ({organization}): *{alert.title}*\n{alert.detail}\n"
            f"<{link}|Open the Audit page> · alert #{alert.id}")


def _send_one(db: Database, row: Any, now: datetime) -> str | None:
    attempt = _claim(db, row, now)
    if attempt is None:
        return None  # another pass has it
    settings = mail_settings()
    with db.session() as s:
        alert = s.get(SecurityAlert, row.alert_id)
        organization = s.scalar(select(Organization.name).where(Organization.id == alert.organization_id)) \
            if alert.organization_id is not None else "System (all organizations)"
        s.expunge(alert)
    try:
        if row.channel == "email":
            send_mail(settings, message(alert, organization, row.target))
        else:
            post_webhook(settings, row.target, _webhook_text(alert, organization))
    except SendFailed as exc:
        if exc.permanent or attempt >= settings.max_attempts:
            why = "not retried" if exc.permanent else f"gave up after {attempt} attempts"
            _close(db, row.id, status="failed", last_error=f"{exc.reason} ({why})", claimed_at=None)
            log.error("security alert %s: %s to %s failed: %s (%s)", alert.id, row.channel, row.target, exc.reason,
                      why, extra={"event": "security_alert_send_failed", "alert_id": alert.id})
            metrics.security_alert_send(row.channel, "failed")
            return "failed"
        retry_at = utcnow() + timedelta(seconds=backoff_s(settings, attempt))
        _close(db, row.id, status="retrying", retry_at=retry_at, claimed_at=None,
               last_error=f"attempt {attempt} of {settings.max_attempts}: {exc.reason}")
        metrics.security_alert_send(row.channel, "retrying")
        return "retrying"
    _close(db, row.id, status="sent", sent_at=utcnow(), last_error=None, claimed_at=None)
    metrics.security_alert_send(row.channel, "sent")
    return "sent"


def send_due(db: Database, now: datetime | None = None) -> dict[str, int]:
    """Send every delivery that is queued, due for a retry, or claimed by a process that died; counts by outcome."""
    now = now or utcnow()
    with db.session() as s:
        rows = s.execute(select(SecurityAlertDelivery.id, SecurityAlertDelivery.alert_id, SecurityAlertDelivery.channel,
                                SecurityAlertDelivery.target, SecurityAlertDelivery.status,
                                SecurityAlertDelivery.attempts)
                         .where(or_(SecurityAlertDelivery.status == "queued",
                                    and_(SecurityAlertDelivery.status == "retrying",
                                         SecurityAlertDelivery.retry_at <= now),
                                    and_(SecurityAlertDelivery.status == "sending",
                                         SecurityAlertDelivery.claimed_at <= now - STALE)))
                         .order_by(SecurityAlertDelivery.id).limit(BATCH)).all()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for row in rows:
        try:
            outcome = _send_one(db, row, now)
        except Exception:  # never leave it "sending": the stale rule picks it up again
            log.exception("security alert delivery %s: unexpected error", row.id)
            continue
        if outcome is not None:
            counts[outcome] += 1
    return counts
