"""The subscription tests' demo world, an in-process job executor and helpers to read deliveries.

The real receivers (an aiosmtpd SMTP server and an HTTP webhook endpoint, started by the test) and the `mail`
settings pointing at them are shared with the security alert tests: tests/receivers.py and
tests/integration/conftest.py. Nothing is mocked: deliveries go over TCP to these servers.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.jobs.executor import LocalExecutor
from core.models import ReportSubscription, SubscriptionDelivery
from core.models.base import utcnow
from tests.integration.conftest import SECRET  # noqa: F401  (the tests import it from here)
from tests.integration.jobs.support import FAST, build_world


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
