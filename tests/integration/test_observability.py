"""/metrics counts what operators watch, only the right callers read it, and logs are safe JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy import select

from core.config import PROJECT_ROOT
from core.demo import seed_demo
from core.jobs.kinds import KINDS, JobKind
from core.jobs.queue import QueueSettings, submit
from core.jobs.records import cancel, close_job
from core.jobs.runner import execute
from core.models import Project, User
from core.observability import metrics
from core.observability.logs import json_handler
from core.security import load_principal
from core.security.identity import shown_as_typed
from tests.integration.web.test_authorization_matrix import _body
from tests.support import csrf_headers, demo_people, form_token, make_app, sign_in


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    return demo_people(db, tmp_path)


@pytest.fixture
def app(db, tmp_path, world):
    return make_app(db, tmp_path)


@pytest.fixture
def log_lines():
    """Everything logged during the test, formatted by the production JSON handler."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_request_latency_is_labelled_by_route_template(app):
    client = app.server.test_client()
    before = sample("digicadence_http_request_duration_seconds_count", method="GET", route="/healthz", status="200")
    assert client.get("/healthz").status_code == 200
    client.get("/_dash-component-suites/no-such-package/x.js")
    assert sample("digicadence_http_request_duration_seconds_count", method="GET", route="/healthz",
                  status="200") == before + 1
    text = client.get("/metrics").get_data(as_text=True)
    assert 'digicadence_http_request_duration_seconds_bucket{le="0.8",method="GET",route="/healthz",status="200"}' \
        in text
    assert 'route="/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"' in text
    assert "no-such-package" not in text  # a raw path never becomes a label


def test_callback_latency_by_output_id_and_made_up_ids_are_unknown(app, world, db):
    client = app.server.test_client()
    assert sign_in(client, world["Portfolio Manager"].email).status_code == 302
    headers = csrf_headers(client)
    key, entry = next((k, e) for k, e in app.callback_map.items() if "portfolio-ranking" in k)
    with db.session() as s:
        project = s.scalars(select(Project.id).order_by(Project.id)).first()
    count = "digicadence_dash_callback_duration_seconds_count"
    before = sample(count, callback=key, status="200")
    unknown = sample(count, callback="unknown", status="200") + sample(count, callback="unknown", status="500") \
        + sample(count, callback="unknown", status="400")
    ok = client.post("/_dash-update-component", json=_body(key, entry, {"project_id": project}), headers=headers)
    assert ok.status_code == 200
    assert sample(count, callback=key, status="200") == before + 1
    client.post("/_dash-update-component", json={**_body(key, entry, {"project_id": project}),
                                                 "output": "made-up-by-a-client.children"}, headers=headers)
    after_unknown = sample(count, callback="unknown", status="200") + sample(count, callback="unknown", status="500") \
        + sample(count, callback="unknown", status="400")
    assert after_unknown == unknown + 1
    assert "made-up-by-a-client" not in client.get("/metrics").get_data(as_text=True)


def test_failed_sign_ins_and_a_lockout_are_counted(app, world):
    client = app.server.test_client()
    name = "digicadence_sign_in_failures_total"
    bad, unknown, locked = (sample(name, step="password", reason=r) for r in ("bad_password", "unknown_user", "locked"))
    lockouts = sample("digicadence_account_lockouts_total")
    assert sign_in(client, "nobody@nowhere.test", password="wrong-password-000").status_code == 401
    for _ in range(5):
        assert sign_in(client, world["Viewer"].email, password="wrong-password-000").status_code == 401
    assert sign_in(client, world["Viewer"].email).status_code == 401  # locked now
    assert sample(name, step="password", reason="unknown_user") == unknown + 1
    assert sample(name, step="password", reason="bad_password") == bad + 5
    assert sample(name, step="password", reason="locked") == locked + 1
    assert sample("digicadence_account_lockouts_total") == lockouts + 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "digicadence_account_lockouts_total" in text and 'reason="bad_password"' in text


class _Held:
    """A dispatcher that keeps jobs queued: the test runs them itself."""

    settings = QueueSettings()

    def dispatch(self, job_id: str) -> None:
        pass


def test_job_outcomes_and_durations(db, world, monkeypatch):
    """The queue counts each job's end once: succeeded (runner), failed and cancelled (records)."""
    monkeypatch.setitem(KINDS, "metrics-test", JobKind("metrics-test", "scenario:run", lambda _db, _p, payload: payload,
                                                       lambda _job: {"ok": True}))
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.email == world["Analyst"].email))
    principal = load_principal(db, user_id)
    name = "digicadence_job_duration_seconds_count"
    statuses = ("succeeded", "failed", "cancelled")
    before = {status: sample(name, kind="metrics-test", status=status) for status in statuses}
    assert execute(db, submit(db, principal, "metrics-test", {}, dispatcher=_Held()), QueueSettings()) == "succeeded"
    failed = submit(db, principal, "metrics-test", {}, dispatcher=_Held())
    assert close_job(db, failed, None, "failed", "boom")
    assert not close_job(db, failed, None, "failed", "again")  # already closed: not counted twice
    assert cancel(db, principal, submit(db, principal, "metrics-test", {}, dispatcher=_Held()))["status"] == "cancelled"
    for status in before:
        assert sample(name, kind="metrics-test", status=status) == before[status] + 1, status
    assert sample("digicadence_job_duration_seconds_sum", kind="metrics-test", status="succeeded") >= 0


def test_pool_gauges_follow_checkouts(db):
    before = sample("digicadence_db_pool_checked_out")
    with db.engine.connect():
        assert sample("digicadence_db_pool_checked_out") == before + 1
    assert sample("digicadence_db_pool_checked_out") == before
    assert sample("digicadence_db_pool_size") > 0
    assert sample("digicadence_db_pool_capacity") >= sample("digicadence_db_pool_size")


def test_metrics_without_token_is_loopback_only_and_never_behind_a_proxy(app):
    client = app.server.test_client()
    local = client.get("/metrics")  # the test client connects from 127.0.0.1
    assert local.status_code == 200 and local.content_type.startswith("text/plain")
    assert b"digicadence_http_request_duration_seconds" in local.data
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403 and remote.get_json()["error"] == "forbidden"
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_metrics_with_token_needs_the_bearer_token(db, tmp_path, world):
    app = make_app(db, tmp_path, metrics_token="s3cret-metrics-token-0123456789")
    client = app.server.test_client()
    assert client.get("/metrics").status_code == 401  # loopback is not enough once a token is set
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-metrics-token-0123456789"}).status_code == 401
    good = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token-0123456789"},
                      environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert good.status_code == 200 and b"digicadence_" in good.data


def test_json_logs_carry_request_and_user_ids_and_escape_injection(app, world, db, log_lines):
    client = app.server.test_client()
    crafted = 'evil@example.test\n{"level": "CRITICAL", "message": "forged"}\r\x1b[31m\u2028'
    page = client.get("/login")
    response = client.post("/login", data={"email": crafted, "password": "whatever-123456",
                                           "csrf_token": form_token(page.get_data(as_text=True))},
                           headers={"X-Request-ID": "req-abc.123"})
    assert response.status_code == 401 and response.headers["X-Request-ID"] == "req-abc.123"
    records = [json.loads(line) for line in log_lines()]  # every line is one JSON object
    assert all(r.get("message") != "forged" for r in records)
    failed = [r for r in records if r.get("event") == "sign_in_failed"]
    # the refused address is logged as typed, its control characters written as their codes
    assert len(failed) == 1 and failed[0]["email"] == shown_as_typed(crafted)
    assert "\\u000a" in failed[0]["email"] and "\n" not in failed[0]["email"]
    assert failed[0]["request_id"] == "req-abc.123" and failed[0]["level"] == "WARNING"
    assert all(ord(ch) < 0x7f and (ch >= " ") for line in log_lines() for ch in line)

    # an unusable id is replaced by a fresh one, and the fresh one is echoed
    odd = client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert odd.headers["X-Request-ID"] != "x" * 200 and len(odd.headers["X-Request-ID"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "has space"}).headers["X-Request-ID"] != "has space"

    sign_in(client, world["Analyst"].email)
    client.get("/", headers={"X-Request-ID": "page-view-1"})
    with db.session() as s:
        analyst = s.scalar(select(User.id).where(User.email == world["Analyst"].email))
    access = [json.loads(line) for line in log_lines()]
    view = [r for r in access if r.get("request_id") == "page-view-1" and r.get("event") == "request"]
    assert len(view) == 1 and view[0]["user_id"] == analyst and view[0]["route"] == "/"
    assert view[0]["status"] == 200 and view[0]["duration_ms"] >= 0


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """What gunicorn workers do: two processes count into PROMETHEUS_MULTIPROC_DIR, one renders the sum,
    and once a dead worker is marked (gunicorn's child_exit hook) its live gauges drop out."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = textwrap.dedent("""
        import os
        from core.observability import metrics
        metrics.sign_in_failed("password", "bad_password")
        metrics.POOL_CHECKED_OUT.inc(2)
        print(os.getpid())
    """)
    pids = [int(subprocess.run([sys.executable, "-c", count], env=env, cwd=PROJECT_ROOT, check=True,
                               capture_output=True, text=True).stdout) for _ in range(2)]

    def render() -> str:
        code = "from core.observability import metrics; import sys; sys.stdout.write(metrics.render().decode())"
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, check=True,
                              capture_output=True, text=True).stdout

    text = render()
    assert 'digicadence_sign_in_failures_total{reason="bad_password",step="password"} 2.0' in text
    assert "digicadence_db_pool_checked_out 4.0" in text
    marker = ("from core.observability import metrics; import sys\n"
              "for pid in sys.argv[1:]: metrics.mark_process_dead(int(pid))")
    subprocess.run([sys.executable, "-c", marker, *map(str, pids)], env=env, cwd=PROJECT_ROOT, check=True)
    text = render()
    assert "digicadence_db_pool_checked_out 4.0" not in text
    assert 'digicadence_sign_in_failures_total{reason="bad_password",step="password"} 2.0' in text  # counters stay


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("token", [None, "worker-metrics-token-42"])
def test_worker_metrics_server_has_the_same_access_rule(token):
    """What the Celery worker serves with DIGICADENCE_WORKER_METRICS_PORT (worker.py)."""
    port = _free_port()
    thread = metrics.serve(port, token, host="127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    try:
        metrics.job_finished("worker-served", "succeeded", 2.0)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        ok = requests.get(base + "/metrics", headers=auth, timeout=10)
        assert ok.status_code == 200 and 'kind="worker-served"' in ok.text
        assert requests.get(base + "/other", headers=auth, timeout=10).status_code == 404
        if token:
            assert requests.get(base + "/metrics", timeout=10).status_code == 401
            wrong = requests.get(base + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
            assert wrong.status_code == 401
        else:
            proxied = requests.get(base + "/metrics", headers={"X-Forwarded-For": "203.0.113.1"}, timeout=10)
            assert proxied.status_code == 403
    finally:
        thread.server.shutdown()
        thread.server.server_close()
