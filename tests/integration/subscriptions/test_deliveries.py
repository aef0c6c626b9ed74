"""Report subscriptions end to end with real receivers (conftest.py): an aiosmtpd SMTP server and a local
HTTP webhook, on both databases, deliveries run as `report_delivery` jobs by the in-process executor.

Cases: a due subscription arrives once with its attachment and the webhook hears of it; one-click
unsubscribe; a brand-scoped recipient's e-mail holds only their brand; a recipient whose scope was removed
after subscribing gets nothing and the owner is told; an SMTP outage is retried with backoff, then
failed and shown in the delivery log, and a Resend after the server is back delivers; no SMTP configured
says so; bad input is refused in words and writes nothing.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from core.config import MailSettings
from core.jobs.records import aware
from core.models import Brand, Job, ProjectBrand, ReportSubscription, RoleGrant
from core.models.base import utcnow
from core.subscriptions import delivery
from core.subscriptions.log import DeliveryNotFound, delivery_log, resend
from core.subscriptions.scheduler import tick
from core.subscriptions.service import SubscriptionError, create_subscription, unsubscribe
from tests.integration.subscriptions.conftest import SECRET, deliveries, make_due, wait_settled
from tests.support import make_app


def _own_project(db, brand: int) -> int:
    with db.session() as s:
        return s.scalars(select(ProjectBrand.project_id).where(ProjectBrand.brand_id == brand,
                                                               ProjectBrand.role == "own")
                         .order_by(ProjectBrand.project_id)).first()


def _brand_card(world, **extra) -> dict:
    brand = world["brand"]
    return {"report": "brand", "target_id": brand, "project_id": _own_project(world["db"], brand), "format": "pdf",
            "cadence": "daily", "hour": 7, "timezone": "Europe/Berlin", "email": True, **extra}


def _attachments(message) -> list:
    return [part for part in message.iter_attachments()]


def test_a_due_subscription_arrives_once_with_its_attachment_and_the_webhook_hears_of_it(
        world, mail, smtp, webhook, executor, tmp_path):
    db, bm = world["db"], world["principal"]("Brand Manager")
    sub = create_subscription(db, bm, _brand_card(world, webhook_url=webhook.url))
    assert tick(db, executor)["queued"] == 0  # not due yet
    make_due(db, sub)
    assert tick(db, executor)["queued"] == 1
    done = wait_settled(db, sub)
    assert done.status == "sent", done.last_error
    assert done.attempts == 1 and done.email_sent_at and done.webhook_sent_at
    email = world["people"]["Brand Manager"].email
    [message] = smtp.inbox.to(email)
    assert message["From"] == "reports@dc.test" and "Brand card" in message["Subject"]
    [attachment] = _attachments(message)
    assert attachment.get_filename().endswith(".pdf") and attachment.get_content().startswith(b"%PDF")
    html = message.get_body(("html",)).get_content()
    assert "Unsubscribe" in html and "http://dc.test/unsubscribe/" in html
    [hook] = webhook.bodies
    assert hook["content_type"] == "application/json"
    assert "Brand card" in hook["json"]["text"] and "<http://dc.test/brand|Open Digi-Cadence>" in hook["json"]["text"]
    # Once per period: the next tick (the subscription moved on to tomorrow) sends nothing more.
    assert tick(db, executor) == {"queued": 0, "retried": 0, "requeued": 0}
    assert len(deliveries(db, sub)) == 1 and len(smtp.inbox.messages) == 1
    with db.session() as s:
        assert aware(s.get(ReportSubscription, sub).next_run_at) > utcnow()
    job = _settled_job(db, done.job_id)  # the delivery row is written inside the run, the job's end just after
    assert job.kind == "report_delivery" and job.status == "succeeded" and job.owner_id == bm.user_id

    # The one-click link works without signing in and says what it stopped.
    link = message.get_body(("plain",)).get_content().split("Unsubscribe with one click: ")[1].split()[0]
    app = make_app(db, tmp_path)
    answer = app.server.test_client().get(link.replace("http://dc.test", ""))
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "You are unsubscribed" in text and "Brand card" in text
    with db.session() as s:
        row = s.get(ReportSubscription, sub)
        assert not row.active and row.stopped_reason == "unsubscribed by its recipient"
    bad = app.server.test_client().get(link.replace("http://dc.test", "")[:-3] + "xyz")
    assert bad.status_code == 404 and "Nothing was changed" in bad.get_data(as_text=True)
    make_due(db, sub)
    assert tick(db, executor)["queued"] == 0  # stopped: nothing more


def test_a_brand_scoped_recipients_email_holds_only_their_brand(world, mail, smtp, executor):
    db = world["db"]
    pm, bm = world["principal"]("Portfolio Manager"), world["principal"]("Brand Manager")
    project = _own_project(db, world["brand"])
    sub = create_subscription(db, pm, {"report": "portfolio", "target_id": project, "format": "xlsx",
                                       "cadence": "weekly", "hour": 8, "timezone": "Asia/Kolkata",
                                       "recipient_id": bm.user_id})
    make_due(db, sub)
    tick(db, executor)
    assert wait_settled(db, sub).status == "sent"
    [message] = smtp.inbox.to(world["people"]["Brand Manager"].email)
    [attachment] = _attachments(message)
    book = load_workbook(io.BytesIO(attachment.get_content()))
    rows = list(book["Ranking"].iter_rows(min_row=4, values_only=True))
    header = rows[0]
    ranking = [dict(zip(header, r, strict=True)) for r in rows[1:] if any(v is not None for v in r)]
    with db.session() as s:
        roles = dict(s.execute(select(ProjectBrand.brand_id, ProjectBrand.role)
                               .where(ProjectBrand.project_id == project)).all())
        names = dict(s.execute(select(Brand.id, Brand.name).where(Brand.id.in_(roles))).all())
    own = [b for b, r in roles.items() if r == "own"]
    assert len(own) > 1, "the project needs another own brand for this test to mean something"
    shown_own = {r["Brand"] for r in ranking} & {names[b] for b in own}
    assert shown_own == {names[world["brand"]]}  # the recipient's brand only, never the owner's wider view
    assert all(r["Spend, 12 m"] in (None, "") for r in ranking if r["Brand"] != names[world["brand"]])


def test_a_recipient_whose_scope_was_removed_gets_nothing_and_the_owner_is_told(world, mail, smtp, executor):
    db = world["db"]
    pm, bm = world["principal"]("Portfolio Manager"), world["principal"]("Brand Manager")
    sub = create_subscription(db, pm, _brand_card(world, recipient_id=bm.user_id))
    with db.session() as s:  # the Brand Manager's grant is taken away after subscribing
        s.execute(delete(RoleGrant).where(RoleGrant.user_id == bm.user_id))
    make_due(db, sub)
    tick(db, executor)
    done = wait_settled(db, sub)
    assert done.status == "skipped"
    assert "may no longer export" in done.last_error and "the owner was told by e-mail" in done.last_error
    assert smtp.inbox.to(world["people"]["Brand Manager"].email) == []
    [notice] = smtp.inbox.to(world["people"]["Portfolio Manager"].email)
    body = notice.get_body(("plain",)).get_content()
    assert "was not sent" in body and "Nothing was sent to them" in body and _attachments(notice) == []


def test_an_smtp_outage_is_retried_with_backoff_then_failed_and_a_resend_delivers(world, mail, smtp, executor):
    db, bm = world["db"], world["principal"]("Brand Manager")
    admin = world["principal"]("Organization Administrator")
    sub = create_subscription(db, bm, _brand_card(world, format="xlsx"))
    smtp.stop()  # the mail server is down
    make_due(db, sub)
    tick(db, executor)
    first = wait_settled(db, sub)
    assert first.status == "retrying" and first.attempts == 1 and "could not reach the mail server" in first.last_error
    waits = [first.retry_at]
    for attempt in (2, 3):  # the next ticks, once each retry is due
        tick(db, executor, now=waits[-1] + timedelta(milliseconds=1))
        row = wait_settled(db, sub)
        assert row.attempts == attempt
        waits.append(row.retry_at)
    assert row.status == "failed" and "gave up after 3 attempts" in row.last_error and row.retry_at is None
    assert (waits[1] - waits[0]) >= timedelta(seconds=1.5)  # 1 s after attempt 1, 2 s after attempt 2
    with db.session() as s:
        jobs = s.scalars(select(Job).where(Job.kind == "report_delivery", Job.owner_id == bm.user_id)).all()
        assert len(jobs) == 3 and all(j.status == "failed" for j in jobs)
        assert any("next at" in j.error for j in jobs) and any("gave up" in j.error for j in jobs)
    [logged] = [r for r in delivery_log(db, admin) if r["subscription_id"] == sub]
    assert logged["status"] == "failed" and logged["attempts"] == 3 and "mail server" in logged["error"]
    assert delivery_log(db, bm) == []  # the log is the administrators'
    with pytest.raises(DeliveryNotFound):
        resend(db, bm, logged["id"], executor)
    smtp.start()  # back again: nothing was lost, a resend delivers
    assert resend(db, admin, logged["id"], executor)
    assert wait_settled(db, sub).status == "sent"
    [message] = smtp.inbox.to(world["people"]["Brand Manager"].email)
    assert _attachments(message)[0].get_filename().endswith(".xlsx")


def test_without_smtp_settings_a_delivery_says_mail_is_not_configured(world, executor):
    db, bm = world["db"], world["principal"]("Brand Manager")
    delivery.configure(MailSettings(), SECRET)
    sub = create_subscription(db, bm, _brand_card(world))
    make_due(db, sub)
    tick(db, executor)
    done = wait_settled(db, sub)
    assert done.status == "failed" and done.attempts == 1 and "mail is not configured" in done.last_error


@pytest.mark.parametrize(("change", "reason"), [
    ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
    ({"timezone": "../../etc/passwd"}, "not an IANA time zone"),
    ({"webhook_url": "ftp://example.com/x"}, "webhook URL"),
    ({"webhook_url": "https://user:pw@example.com/x"}, "user name or password"),
    ({"hour": 24}, "hour: expected 0 to 23"),
    ({"cadence": "hourly"}, "cadence: choose one of"),
    ({"email": False}, "choose e-mail, a webhook or both"),
    ({"format": "docx"}, "format: choose one of"),
])
def test_bad_input_is_refused_in_words_and_writes_nothing(world, change, reason):
    db, bm = world["db"], world["principal"]("Brand Manager")
    with pytest.raises(SubscriptionError, match=reason.replace("(", r"\(")):
        create_subscription(db, bm, _brand_card(world, **change))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ReportSubscription)) == 0


def test_another_organizations_brand_and_a_foreign_recipient_are_refused(world):
    from core.security import Forbidden

    db, bm = world["db"], world["principal"]("Brand Manager")
    with pytest.raises(Forbidden):
        create_subscription(db, bm, {**_brand_card(world), "target_id": world["foreign_brand"],
                                     "project_id": world["foreign_project"]})
    viewer = world["ids"]["Viewer"]  # holds no report:export
    with pytest.raises(SubscriptionError, match="may not export"):
        create_subscription(db, bm, _brand_card(world, recipient_id=viewer))
    assert unsubscribe(db, SECRET, "not-a-token") is None


def test_the_celery_beat_entry_runs_the_same_tick(world, mail, smtp):
    """Production's schedule: beat's entry names the task `register_task` put on the Celery app; the task queues the
    due delivery (here to a recording queue) and a worker's run of that job sends it."""
    from celery import Celery

    from core.jobs.runner import execute
    from core.subscriptions.scheduler import TICK_TASK, register_task
    from tests.integration.jobs.support import FAST, Recorder

    db, bm = world["db"], world["principal"]("Brand Manager")
    app, queue = Celery("subscriptions-test", broker="memory://"), Recorder()
    schedule = register_task(app, db, queue)
    assert schedule["digicadence-subscriptions"]["task"] == TICK_TASK and TICK_TASK in app.tasks
    sub = create_subscription(db, bm, _brand_card(world))
    make_due(db, sub)
    assert app.tasks[TICK_TASK]()["queued"] == 1 and len(queue.sent) == 1
    assert execute(db, queue.sent[0], FAST) == "succeeded"
    assert deliveries(db, sub)[-1].status == "sent" and len(smtp.inbox.to(world["people"]["Brand Manager"].email)) == 1


def test_a_persons_data_download_lists_their_subscriptions_and_erasure_removes_them(world, tmp_path):
    from core.security.accounts import Accounts
    from core.security.crypto import SecretBox, load_keys
    from tests.support import FAST as SECURITY

    db = world["db"]
    pm, bm = world["principal"]("Portfolio Manager"), world["principal"]("Brand Manager")
    mine = create_subscription(db, bm, _brand_card(world, webhook_url="https://hooks.example.com/x"))
    for_me = create_subscription(db, pm, _brand_card(world, recipient_id=bm.user_id))
    accounts = Accounts(db, SECURITY, SecretBox(load_keys((), tmp_path)))
    listed = accounts.download_my_data(bm.user_id)["report_subscriptions"]
    assert {(r["id"], r["owner"], r["recipient"]) for r in listed} == {(mine, True, True), (for_me, False, True)}
    assert any(r["webhook_url"] == "https://hooks.example.com/x" for r in listed)
    accounts.erase_user(world["principal"]("Organization Administrator"), bm.user_id)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ReportSubscription)) == 0


def _settled_job(db, job_id: str, timeout: float = 30.0) -> Job:
    """The job row once its run has ended (its status is no longer queued or running)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as s:
            job = s.get(Job, job_id)
            s.expunge(job)
        if job.status not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)
