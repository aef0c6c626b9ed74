"""Alert delivery (issue 18 item 2): a person's new alerts by e-mail and/or a Slack-compatible webhook, as one
daily digest at an hour of their time zone.

Why a digest and not a mail per alert: the rules run after an import or a refit and raise alerts in bursts (one
import can raise a dozen at once); one message a day at a chosen local hour gets read, a dozen get filtered
away. It also rides on the report subscriptions' machinery instead of a second one: a person's choice is one
`ReportSubscription` with report "alerts" (owner and recipient themselves, target their organization, format
"html": the alerts are the mail's body), so the DST-correct schedule, the durable deliveries with retries and
backoff, the delivery log, Resend and the one-click unsubscribe are the same.

What a digest holds (`take`): alerts raised since the choice was made, about brands the recipient may read *when
it is sent* (their principal as the job runner loads it for the attempt), not snoozed then, never sent to them
before. The first attempt of a delivery takes its alerts into `alert_sent` (one row per alert and person, so no
other delivery can take them); retries and a Resend send that same set, filtered again by scope and snoozes.
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from core.alert_inbox import READ, for_delivery
from core.db import Database
from core.models import AlertSent, ReportSubscription
from core.models.base import utcnow
from core.security import Principal, record
from core.subscriptions.schedule import next_run, zone
from core.subscriptions.sending import Mail
from core.subscriptions.service import SubscriptionError, check_webhook

ALERTS = "alerts"
MAIL_ITEMS = 30  # a digest lists this many in full; the rest are counted, with the link to the Alerts page


def _mine(s: Any, principal: Principal) -> ReportSubscription | None:
    return s.scalars(select(ReportSubscription).where(ReportSubscription.report == ALERTS,
                                                      ReportSubscription.owner_id == principal.user_id)
                     .order_by(ReportSubscription.id)).first()


def preference(db: Database, principal: Principal) -> dict[str, Any] | None:
    """The person's alert delivery (None: only in the app)."""
    with db.session() as s:
        row = _mine(s, principal)
        if row is None:
            return None
        return {"id": row.id, "email": row.email, "hour": row.hour, "timezone": row.timezone,
                "webhook_url": row.webhook_url or "", "active": row.active, "stopped_reason": row.stopped_reason}


def _hour(value: Any) -> int:
    try:
        hour = int(str(value).strip())
    except (TypeError, ValueError):
        hour = -1
    if not 0 <= hour <= 23:
        raise SubscriptionError("hour: choose a whole hour from 0 to 23")
    return hour


def save_preference(db: Database, principal: Principal, raw: dict[str, Any]) -> int:
    """Create or change the person's alert delivery (e-mail digest and/or webhook); its subscription id.

    Needs portfolio:read somewhere (who reads no brand gets no alert); which brands a digest holds is decided
    at each send, never here. SubscriptionError names the first bad field and writes nothing.
    """
    if principal.user_id is None or principal.organization_id is None or principal.scopes(READ).empty:
        raise SubscriptionError("you read no brand's alerts, so there is nothing to deliver")
    email = bool(raw.get("email"))
    webhook = check_webhook(raw.get("webhook_url"))
    hour = _hour(raw.get("hour"))
    try:
        tz = zone(raw.get("timezone") or "").key
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    if not email and not webhook:
        raise SubscriptionError("choose e-mail, a webhook or both (Stop ends the delivery)")
    now = utcnow()
    with db.session() as s:
        row = _mine(s, principal)
        action = "subscription.update" if row else "subscription.create"
        if row is None:
            row = ReportSubscription(organization_id=principal.organization_id, owner_id=principal.user_id,
                                     recipient_id=principal.user_id, report=ALERTS,
                                     target_id=principal.organization_id, format="html", cadence="daily",
                                     unsubscribe_nonce=secrets.token_hex(16), created_at=now)
            s.add(row)
        row.email, row.webhook_url, row.hour, row.timezone = email, webhook, hour, tz
        row.active, row.stopped_reason = True, None
        row.next_run_at = next_run("daily", hour, tz, now)
        s.flush()
        record(s, action, actor=principal, organization_id=row.organization_id,
               target=("report_subscription", row.id),
               data={"report": ALERTS, "email": email, "webhook": bool(webhook), "hour": hour, "timezone": tz})
        return row.id


def stop(db: Database, principal: Principal) -> bool:
    """End the person's alert delivery (alerts stay in the app); whether there was one."""
    with db.session() as s:
        row = _mine(s, principal)
        if row is None:
            return False
        record(s, "subscription.delete", actor=principal, organization_id=row.organization_id,
               target=("report_subscription", row.id), data={"report": ALERTS})
        s.delete(row)
        return True


def _taken(db: Database, recipient: Principal, delivery_id: int) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(AlertSent.alert_id).where(AlertSent.delivery_id == delivery_id,
                                                               AlertSent.user_id == recipient.user_id)))


def take(db: Database, recipient: Principal, sub: ReportSubscription, delivery_id: int) -> list[dict[str, Any]] | None:
    """The alerts this delivery sends now; None when it took none at all (nothing new since the last digest).

    The delivery's first attempt takes the alerts never sent to this person; its retries and a Resend send that
    same set (an alert raised meanwhile is the next digest's), each time re-checked against scope and snoozes.
    """
    ids = _taken(db, recipient, delivery_id)
    if not ids:
        new = for_delivery(db, recipient, since=sub.created_at)
        if new:
            rows = [{"alert_id": a["id"], "user_id": recipient.user_id, "delivery_id": delivery_id} for a in new]
            with db.engine.begin() as conn:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                conn.execute(dialect.insert(AlertSent).values(rows).on_conflict_do_nothing())
        ids = _taken(db, recipient, delivery_id)
    if not ids:
        return None
    return for_delivery(db, recipient, ids=ids)


def _subject(alerts: list[dict[str, Any]]) -> str:
    if len(alerts) == 1:
        return f"Alert: {alerts[0]['title']}"[:200]
    return f"{len(alerts)} new alerts about your brands · Digi-Cadence"


def digest_mail(to: str, alerts: list[dict[str, Any]], public_url: str, when: str, stop_url: str) -> Mail:
    """The digest e-mail: each alert in words with a link to its view, and the one-click stop link."""
    shown, rest = alerts[:MAIL_ITEMS], len(alerts) - MAIL_ITEMS
    more = f"… and {rest} more, all on the Alerts page." if rest > 0 else ""
    items_text = "\n\n".join(f"- {a['title']}\n  {a['detail']}\n  ({a['kind']}, {a['when']} UTC) "
                             f"Open: {public_url}{a['link']}" for a in shown) + (f"\n\n{more}" if more else "")
    intro = (f"Digi-Cadence found {len(alerts)} new alert{'s' if len(alerts) != 1 else ''} about the brands you "
             "may read.")
    text = (f"{intro}\n\n{items_text}\n\nAll your alerts: {public_url}/alerts\n\nYou receive this {when}. "
            f"Stop these e-mails with one click: {stop_url}\n")
    items_html = "".join(
        f"""<div style="border-top:1px solid #e4e7eb;padding:14px 0">
<div style="font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.04em">{escape(a['kind'])} ·
{escape(a['brand'])}</div>
<div style="font-size:16px;font-weight:600;margin:4px 0"><a href="{escape(public_url + a['link'], quote=True)}"
style="color:#0b4f9c;text-decoration:none">{escape(a['title'])}</a></div>
<div style="font-size:14px;line-height:1.5;color:#323f4b">{escape(a['detail'])}</div>
<div style="font-size:12px;color:#7b8794;margin-top:4px">{escape(a['when'])} UTC ·
<a href="{escape(public_url + a['link'], quote=True)}" style="color:#1565c0">Open the view</a></div></div>"""
        for a in shown) + (f'<p style="font-size:14px;color:#52606d">{escape(more)}</p>' if more else "")
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{escape(_subject(alerts))}</title></head>
<body style="margin:0;background:#f4f6f8;font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1f2933">
<div style="max-width:600px;margin:0 auto;padding:24px 16px">
<div style="background:#ffffff;border-radius:8px;padding:24px;border:1px solid #d9e2ec">
<div style="font-size:13px;color:#52606d;letter-spacing:.04em;text-transform:uppercase">Digi-Cadence alerts</div>
<h1 style="font-size:22px;margin:8px 0 12px">{escape(intro)}</h1>
{items_html}
<p style="margin:20px 0 0"><a href="{escape(public_url + '/alerts', quote=True)}" style="background:#1565c0;
color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">All your alerts</a></p>
</div>
<p style="font-size:12px;color:#52606d;line-height:1.5;margin:16px 4px">You receive this {escape(when)}, for
{escape(to)}. Snoozed alerts are left out.
<a href="{escape(stop_url, quote=True)}" style="color:#1565c0">Stop these e-mails</a> with one click,
no sign-in needed, or change them on the Alerts page.</p></div></body></html>"""
    return Mail(to, _subject(alerts), text, html, None, stop_url)


def _slack(text: str) -> str:
    """Slack's own escaping: a title's "<", ">" or "&" must not be read as a link or markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_text(alerts: list[dict[str, Any]], public_url: str) -> str:
    """The Slack-compatible message: one line per alert (at most 20), each linking to its view."""
    lines = [f"• <{public_url}{a['link']}|{_slack(a['title'])}>" for a in alerts[:20]]
    more = f"\n… and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    return (f"Digi-Cadence: {len(alerts)} new alert{'s' if len(alerts) != 1 else ''}\n" + "\n".join(lines) + more
            + f"\n<{public_url}/alerts|All your alerts>")
