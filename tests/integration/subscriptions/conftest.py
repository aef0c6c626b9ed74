"""Real receivers for the subscription tests: an SMTP server (aiosmtpd) and an HTTP webhook endpoint, each
on a free local port and started by the test, plus the demo world and an in-process job executor.

Nothing is mocked: deliveries go over TCP to these servers, exactly as to a real mail server and Slack.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from core.config import MailSettings
from core.jobs.executor import LocalExecutor
from core.models import ReportSubscription, SubscriptionDelivery
from core.models.base import utcnow
from core.subscriptions import delivery
from tests.integration.jobs.support import FAST, build_world

SECRET = "k" * 32  # the secret key tests.support.make_app gives its apps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the SMTP server accepted: parsed messages with their envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m.envelope_to]


class SmtpServer:
    """An aiosmtpd Controller on a fixed port that the test can stop (an outage) and start again."""

    def __init__(self) -> None:
        self.port, self.inbox, self.controller = free_port(), Inbox(), None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Webhook:
    """A local HTTP endpoint recording the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append({"content_type": self.headers.get("Content-Type"),
                                 "json": json.loads(self.rfile.read(length))})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/digicadence"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def mail(smtp):
    """Deliveries go to the test's SMTP server; retries wait 1 s, 2 s, … (base 1 s), three attempts at most."""
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="reports@dc.test", timeout_s=5,
                            public_url="http://dc.test", max_attempts=3, retry_base_s=1, tick_s=0)
    delivery.configure(settings, SECRET)
    yield settings
    delivery.configure(MailSettings(), "")


@pytest.fixture
def world(db, tmp_path):
    return build_world(db, tmp_path, months=3)


@pytest.fixture
def executor(db):
    pool = LocalExecutor(db, FAST)
    yield pool
    pool.shutdown()


def make_due(db, subscription_id: int) -> None:
    """Move the subscription's next run into the past, as the clock would."""
    with db.session() as s:
        s.execute(update(ReportSubscription).where(ReportSubscription.id == subscription_id)
                  .values(next_run_at=utcnow().replace(microsecond=0) - timedelta(seconds=5)))


def deliveries(db, subscription_id: int) -> list[SubscriptionDelivery]:
    with db.session() as s:
        rows = s.scalars(select(SubscriptionDelivery).where(SubscriptionDelivery.subscription_id == subscription_id)
                         .order_by(SubscriptionDelivery.id)).all()
        s.expunge_all()
        return list(rows)


def wait_settled(db, subscription_id: int, timeout: float = 60.0) -> SubscriptionDelivery:
    """The subscription's latest delivery once no attempt of it is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliveries(db, subscription_id)
        if rows and rows[-1].status not in ("queued", "sending"):
            return rows[-1]
        time.sleep(0.2)
    raise AssertionError(f"subscription {subscription_id}: delivery still on its way after {timeout} s")
