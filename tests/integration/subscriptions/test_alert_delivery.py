"""Alert delivery and compliance subscriptions end to end with the real receivers of conftest.py (an aiosmtpd SMTP
server and a local HTTP webhook), on both databases, sent as `report_delivery` jobs by the in-process executor.

Cases: a brand-scoped viewer's digest (mail and webhook) holds only their brand and no alert is sent twice; a scope
removed between the alert and the send sends nothing; a snoozed alert is left out; an SMTP outage is retried,
reported in the delivery log and a Resend delivers the same alerts; bad choices are refused in words; a
compliance subscription is delivered (its period since the previous send), refused to someone with report:export
only, and skipped with the owner told when the recipient lost compliance:read.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select, update

from core.alert_inbox import list_alerts, snooze
from core.models import Alert, AlertSent, Brand, ReportSubscription, Role, RoleGrant, SubscriptionDelivery
from core.models.base import utcnow
from core.security import Forbidden
from core.subscriptions.alert_mail import preference, save_preference, stop
from core.subscriptions.log import delivery_log, resend
from core.subscriptions.scheduler import tick
from core.subscriptions.service import SubscriptionError, compliance_start, create_subscription, unsubscribe
from tests.integration.subscriptions.conftest import SECRET, deliveries, make_due, wait_settled

SHOTS = Path("/tmp/wt-alertmail-shots")


def _settle(db, sub: int, timeout: float = 60.0) -> list[SubscriptionDelivery]:
    """The subscription's deliveries once none is queued or sending (a quiet day's row is deleted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliveries(db, sub)
        if not rows or rows[-1].status not in ("queued", "sending"):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"subscription {sub}: still on its way after {timeout} s")


def _alert(db, brand: int, key: str, kind: str = "score_drop") -> str:
    """A finding as the rules store it, about `brand`, raised now; its title."""
    with db.session() as s:
        org, name = s.execute(select(Brand.organization_id, Brand.name).where(Brand.id == brand)).one()
        title = f"{name}: {kind} {key}"
        s.add(Alert(organization_id=org, brand_id=brand, kind=kind, dedup_key=f"{kind}:{key}", title=title,
                    detail=f"What happened to {name} ({key}).", link=f"/brand?brand={brand}&project=1"))
    return title


def _brands(world) -> tuple[int, int]:
    """The Viewer's brand and another brand of the same organization."""
    viewer_brand = world["people"]["Viewer"].scope_id
    with world["db"].session() as s:
        org = s.scalar(select(Brand.organization_id).where(Brand.id == viewer_brand))
        other = s.scalars(select(Brand.id).where(Brand.organization_id == org, Brand.id != viewer_brand)).first()
    return viewer_brand, other


def _due_days_ago(db, sub: int, days: int) -> None:
    """As if the digest had been due `days` days ago (another period than today's: one delivery per period)."""
    with db.session() as s:
        s.execute(update(ReportSubscription).where(ReportSubscription.id == sub)
                  .values(next_run_at=utcnow().replace(microsecond=0) - timedelta(days=days)))


def _choose(world, role: str, **extra) -> int:
    return save_preference(world["db"], world["principal"](role),
                           {"email": True, "hour": 8, "timezone": "Europe/Berlin", **extra})


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def test_a_brand_scoped_viewers_digest_holds_only_their_brand_and_no_alert_twice(world, mail, smtp, webhook,
                                                                                 executor):
    db = world["db"]
    mine, other = _brands(world)
    sub = _choose(world, "Viewer", webhook_url=webhook.url)
    theirs, foreign = _alert(db, mine, "a"), _alert(db, other, "b")
    make_due(db, sub)
    assert tick(db, executor)["queued"] == 1
    [done] = _settle(db, sub)
    assert done.status == "sent", done.last_error
    email = world["people"]["Viewer"].email
    [message] = smtp.inbox.to(email)
    html, text = _html(message), message.get_body(("plain",)).get_content()
    assert theirs in html and theirs in text and foreign not in html and foreign not in text
    assert message["Subject"] == f"Alert: {theirs}" and "http://dc.test/brand?brand=" in html
    assert "Stop these e-mails</a>" in html and "http://dc.test/unsubscribe/" in text
    assert message["List-Unsubscribe"].startswith("<http://dc.test/unsubscribe/")
    [hook] = webhook.bodies
    assert theirs in hook["json"]["text"] and foreign not in hook["json"]["text"]
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / f"alert-mail-{db.dialect}.html").write_text(html)

    # The next day: only what is new; the first alert is never sent again.
    newer = _alert(db, mine, "c", kind="anomaly")
    _due_days_ago(db, sub, 1)
    tick(db, executor)
    rows = _settle(db, sub)
    assert [r.status for r in rows] == ["sent", "sent"]
    second = smtp.inbox.to(email)[1]
    assert newer in _html(second) and theirs not in _html(second)
    # A quiet day leaves no delivery behind and sends nothing.
    _due_days_ago(db, sub, 2)
    tick(db, executor)
    assert len(_settle(db, sub)) == 2 and len(smtp.inbox.to(email)) == 2 and len(webhook.bodies) == 2
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertSent)) == 2


def test_a_scope_removed_between_the_alert_and_the_send_sends_nothing(world, mail, smtp, executor):
    db = world["db"]
    mine, _other = _brands(world)
    sub = _choose(world, "Viewer")
    _alert(db, mine, "gone")
    with db.session() as s:
        s.execute(delete(RoleGrant).where(RoleGrant.user_id == world["ids"]["Viewer"]))
    make_due(db, sub)
    tick(db, executor)
    assert _settle(db, sub) == [] and smtp.inbox.messages == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertSent)) == 0


def test_a_snoozed_alert_is_not_sent(world, mail, smtp, executor):
    db, bm = world["db"], world["principal"]("Brand Manager")
    sub = _choose(world, "Brand Manager")
    quiet = _alert(db, world["brand"], "s1", kind="score_drop")
    loud = _alert(db, world["brand"], "s2", kind="anomaly")
    [row] = [r for r in list_alerts(db, bm) if r["title"] == quiet]
    snooze(db, bm, [row["id"]], 7)
    make_due(db, sub)
    tick(db, executor)
    [done] = _settle(db, sub)
    assert done.status == "sent"
    [message] = smtp.inbox.to(world["people"]["Brand Manager"].email)
    assert loud in _html(message) and quiet not in _html(message)


def test_an_smtp_outage_is_retried_then_reported_and_a_resend_sends_the_same_alerts(world, mail, smtp, executor):
    db, admin = world["db"], world["principal"]("Organization Administrator")
    sub = _choose(world, "Brand Manager")
    title = _alert(db, world["brand"], "outage")
    smtp.stop()
    make_due(db, sub)
    tick(db, executor)
    first = wait_settled(db, sub)
    assert first.status == "retrying" and "could not reach the mail server" in first.last_error
    row = first
    for attempt in (2, 3):
        tick(db, executor, now=row.retry_at + timedelta(milliseconds=1))
        row = wait_settled(db, sub)
        assert row.attempts == attempt
    assert row.status == "failed" and "gave up after 3 attempts" in row.last_error
    [logged] = [r for r in delivery_log(db, admin) if r["subscription_id"] == sub]
    assert logged["status"] == "failed" and logged["what"].startswith("Alert digest: ")
    later = _alert(db, world["brand"], "meanwhile")  # raised during the outage: the next digest's, not this one's
    smtp.start()
    assert resend(db, admin, logged["id"], executor)
    assert wait_settled(db, sub).status == "sent"
    [message] = smtp.inbox.to(world["people"]["Brand Manager"].email)
    assert title in _html(message) and later not in _html(message)


def test_bad_choices_are_refused_in_words_and_stop_ends_the_delivery(world, webhook):
    db, viewer = world["db"], world["principal"]("Viewer")
    for raw, words in (({"email": False, "hour": 8, "timezone": "UTC"}, "choose e-mail, a webhook or both"),
                       ({"email": True, "hour": 24, "timezone": "UTC"}, "hour: choose a whole hour"),
                       ({"email": True, "hour": 8, "timezone": "Mars/Olympus"}, "time zone"),
                       ({"email": False, "hour": 8, "timezone": "UTC", "webhook_url": "ftp://x"}, "https://")):
        with pytest.raises(SubscriptionError, match=words):
            save_preference(db, viewer, raw)
    assert preference(db, viewer) is None
    first = save_preference(db, viewer, {"email": False, "hour": 7, "timezone": "UTC", "webhook_url": webhook.url})
    again = save_preference(db, viewer, {"email": True, "hour": 9, "timezone": "Asia/Kolkata"})
    assert first == again and preference(db, viewer)["hour"] == 9 and preference(db, viewer)["webhook_url"] == ""
    assert stop(db, viewer) and preference(db, viewer) is None and not stop(db, viewer)


def _organization(world) -> int:
    return world["principal"]("Organization Administrator").organization_id


def _compliance(world, **extra) -> dict:
    return {"report": "compliance", "target_id": _organization(world), "format": "xlsx", "cadence": "weekly",
            "hour": 6, "timezone": "UTC", "email": True, **extra}


def test_a_compliance_subscription_is_delivered_and_covers_the_days_since_the_previous_send(world, mail, smtp,
                                                                                            executor):
    db, admin = world["db"], world["principal"]("Organization Administrator")
    sub = create_subscription(db, admin, _compliance(world))
    make_due(db, sub)
    tick(db, executor)
    done = wait_settled(db, sub)
    assert done.status == "sent", done.last_error
    [message] = smtp.inbox.to(world["people"]["Organization Administrator"].email)
    assert "Compliance report" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    today = utcnow().date()
    first_day = today - timedelta(days=29)  # never sent before: the last 30 days
    assert attachment.get_filename() == f"compliance-{_organization(world)}-{first_day:%Y%m%d}-{today:%Y%m%d}.xlsx"
    assert "Access review" in load_workbook(io.BytesIO(attachment.get_content())).sheetnames
    with db.session() as s:
        assert compliance_start(s, sub, today) == today  # the next one starts where this one was sent
        assert compliance_start(s, sub, today + timedelta(days=400)) == today + timedelta(days=35)  # a year at most


def test_compliance_subscriptions_need_compliance_read_and_a_recipient_who_loses_it_gets_nothing(world, mail, smtp,
                                                                                                executor):
    db, admin, analyst = world["db"], world["principal"]("Organization Administrator"), world["principal"]("Analyst")
    with pytest.raises(Forbidden):  # report:export alone is not enough
        create_subscription(db, analyst, _compliance(world))
    with pytest.raises(SubscriptionError, match="recipient"):
        create_subscription(db, admin, _compliance(world, recipient_id=world["ids"]["Analyst"]))
    with db.session() as s:  # an auditor: compliance:read on the organization and nothing else
        role = Role(organization_id=_organization(world), name="Auditor", permissions=["compliance:read"])
        s.add(role)
        s.flush()
        s.add(RoleGrant(user_id=world["ids"]["Viewer"], role_id=role.id, scope_type="organization",
                        scope_id=_organization(world)))
    sub = create_subscription(db, admin, _compliance(world, recipient_id=world["ids"]["Viewer"], format="pdf"))
    with db.session() as s:
        s.execute(delete(RoleGrant).where(RoleGrant.role_id == role.id))
    make_due(db, sub)
    tick(db, executor)
    done = wait_settled(db, sub)
    assert done.status == "skipped" and "may no longer export" in done.last_error
    assert smtp.inbox.to(world["people"]["Viewer"].email) == []
    [notice] = smtp.inbox.to(world["people"]["Organization Administrator"].email)
    assert "was not sent" in notice.get_body(("plain",)).get_content()


def test_alert_and_compliance_choices_never_take_another_organizations_object(world):
    db, admin = world["db"], world["principal"]("Organization Administrator")
    with db.session() as s:
        foreign_org = s.scalar(select(Brand.organization_id).where(Brand.id == world["foreign_brand"]))
    with pytest.raises(Forbidden):
        create_subscription(db, admin, _compliance(world, target_id=foreign_org))
    with pytest.raises(SubscriptionError, match="report"):  # the digest is chosen on the Alerts page only
        create_subscription(db, admin, {**_compliance(world), "report": "alerts", "format": "html"})


def test_the_digests_stop_link_ends_it_without_sign_in(world, mail, smtp, executor):
    db, viewer = world["db"], world["principal"]("Viewer")
    mine, _other = _brands(world)
    sub = _choose(world, "Viewer")
    _alert(db, mine, "first")
    make_due(db, sub)
    tick(db, executor)
    assert _settle(db, sub)[-1].status == "sent"
    [message] = smtp.inbox.to(world["people"]["Viewer"].email)
    link = message.get_body(("plain",)).get_content().split("Stop these e-mails with one click: ")[1].split()[0]
    stopped = unsubscribe(db, SECRET, link.rsplit("/", 1)[1])
    assert stopped.startswith("Alert digest: ") and "daily at 08:00 Europe/Berlin" in stopped
    assert preference(db, viewer)["active"] is False
    _alert(db, mine, "after")
    _due_days_ago(db, sub, 1)
    assert tick(db, executor)["queued"] == 0 and len(smtp.inbox.messages) == 1
