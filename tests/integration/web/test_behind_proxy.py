"""Behind a TLS proxy (DIGICADENCE_PROXY_HOPS=1): each client gets its own sign-in rate limit, and a
forwarded address can never pass for loopback at /metrics."""

from __future__ import annotations

import pytest

from core.demo import seed_demo
from tests.support import demo_people, make_app, sign_in


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=1)
    return demo_people(db, tmp_path)


def _attempts(app, client_ip: str, count: int) -> list[int]:
    client = app.server.test_client()
    client.environ_base.update(HTTP_X_FORWARDED_FOR=client_ip, REMOTE_ADDR="10.0.0.2")  # the proxy's address
    return [sign_in(client, "nobody@nowhere.test", password="x" * 12).status_code for _ in range(count)]


def test_each_client_behind_the_proxy_has_its_own_sign_in_limit(db, tmp_path, world):
    app = make_app(db, tmp_path, signin_rate_per_ip="2 per minute", proxy_hops=1)
    assert _attempts(app, "198.51.100.1", 3) == [401, 401, 429]
    assert _attempts(app, "198.51.100.2", 2) == [401, 401]  # another person: not limited by the first


def test_without_proxy_hops_everyone_shares_the_proxy_address(db, tmp_path, world):
    app = make_app(db, tmp_path, signin_rate_per_ip="2 per minute")
    assert _attempts(app, "198.51.100.1", 2) == [401, 401]
    assert _attempts(app, "198.51.100.2", 1) == [429]


def test_forwarded_loopback_is_not_loopback_for_metrics(db, tmp_path, world):
    app = make_app(db, tmp_path, proxy_hops=1)
    client = app.server.test_client()
    spoofed = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert spoofed.status_code == 403
    assert client.get("/metrics").status_code == 200  # a direct local scrape still works
