"""Fixtures shared by the integration tests that send mail and webhooks (report subscriptions, security
alerts): the real receivers of tests/receivers.py, started by the test, and the mail settings pointing at them."""

from __future__ import annotations

import pytest

from core.config import MailSettings
from core.subscriptions import delivery
from tests.receivers import SmtpServer, Webhook

SECRET = "k" * 32  # the secret key tests.support.make_app gives its apps


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
