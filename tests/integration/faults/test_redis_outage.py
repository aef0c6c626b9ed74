"""Redis stopped under the running app (a private redis-server, see conftest): what still works.

Redis carries the job queue (Celery broker and results), the sign-in rate limits and, unless
DIGICADENCE_SESSION_STORE=database, the sessions. Decided behaviour while it is down:
- sessions in the database: every page serves and people can sign in (rate limits fall back to
  per-process memory); pressing Run in the optimizer says "Background jobs are unavailable right now;
  nothing was lost" in the run's message area, not an error banner; saved scenarios and data stay;
- sessions in Redis: nobody can be recognized or signed in, so every page answers a clear 503
  ("Signing in is unavailable right now …"), never a stack trace;
and in both cases, once Redis is back (same data), everything works again without a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.dash_client import DashTab, flask_csrf, flask_transport
from dashboard.errors import JOBS_UNAVAILABLE, SIGN_IN_UNAVAILABLE
from tests.integration.web.test_optimizer_jobs import build
from tests.support import sign_in

ROOT = Path(__file__).resolve().parents[3]
ROLE = "Brand Manager"


def _tab(app, people) -> DashTab:
    client = app.server.test_client()
    assert sign_in(client, people[ROLE].email).status_code == 302
    return DashTab(flask_transport(client), "http://localhost", flask_csrf(client), poll_timeout_s=180)


def _small_run(tab: DashTab) -> None:
    """The optimizer page with a quick run's settings (State only: nothing fires until Run).

    Two months of demo data are too few weeks to fit curves, so the run uses the demo's truth curves.
    """
    tab.load("/optimizer", "optimizer")
    tab.set_props("optimizer-source", value="truth")
    tab.set_props("optimizer-generations", value=40)
    tab.set_props("optimizer-frontier-points", value=5)
    tab.set_props("optimizer-risk", value=[])


def _wait_for_worker(celery_app, worker, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not celery_app.control.ping(timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail("celery worker not answering: " + log.read_text()[-3000:])


@pytest.fixture
def with_worker(sqlite_db, tmp_path, private_redis):
    """The app on the private Redis with sessions in the database, and a Celery worker on the same Redis."""
    app, people = build(sqlite_db, tmp_path, redis_url=private_redis.url,
                        session_store="database")
    env = {**os.environ, "DATABASE_URL": sqlite_db.url, "REDIS_URL": private_redis.url, "SECRET_KEY": "k" * 32,
           "DIGICADENCE_INSTANCE_DIR": str(tmp_path), "DIGICADENCE_SESSION_STORE": "database"}
    env.pop("DIGICADENCE_DEMO", None)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker:celery", "worker", "--loglevel=INFO",
                               "--concurrency=1", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    celery_app = app.server.extensions["digicadence.celery"]
    try:
        _wait_for_worker(celery_app, worker, log)
        yield app, people, lambda: _wait_for_worker(celery_app, worker, log)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_with_database_sessions_pages_serve_and_run_says_jobs_are_unavailable(with_worker, private_redis):
    app, people, worker_ready = with_worker
    tab = _tab(app, people)
    _small_run(tab)
    tab.click("optimizer-run")
    assert tab.has("optimizer-save"), tab.props("optimizer-message")
    tab.click("optimizer-save")
    assert tab.links("/scenarios"), tab.props("optimizer-save-message")

    private_redis.stop()

    tab.load("/", "portfolio")
    assert tab.props("portfolio-ranking").get("rowData"), "the portfolio still shows its data"
    other = _tab(app, people)  # signing in still works (rate limits fall back to memory)
    other.load("/scenarios", "scenarios")
    assert len(other.props("scenarios-grid").get("rowData") or []) == 1, "the saved scenario is still there"
    _small_run(tab)
    tab.click("optimizer-run")
    message = str(tab.props("optimizer-message").get("children"))
    assert JOBS_UNAVAILABLE in message, message
    assert not tab.props("app-error").get("is_open"), "no error banner for a service that is down"

    private_redis.start()
    worker_ready()
    _small_run(tab)
    tab.click("optimizer-run")
    assert tab.has("optimizer-save"), f"a run works again: {tab.props('optimizer-message')}"


def test_with_redis_sessions_an_outage_is_a_clear_503_and_sessions_come_back(sqlite_db, tmp_path, private_redis):
    app, people = build(sqlite_db, tmp_path, redis_url=private_redis.url)
    client = app.server.test_client()
    assert sign_in(client, people[ROLE].email).status_code == 302
    assert client.get("/").status_code == 200

    private_redis.stop()
    try:
        for path in ("/", "/optimizer", "/login"):
            page = client.get(path)
            text = page.get_data(as_text=True)
            assert page.status_code == 503, (path, page.status_code)
            assert SIGN_IN_UNAVAILABLE in text and "Traceback" not in text
        data = client.get("/_dash-layout")
        assert data.status_code == 503 and data.get_json()["reason"] == SIGN_IN_UNAVAILABLE
        newcomer = app.server.test_client().get("/login")  # the form's CSRF token needs a session
        assert newcomer.status_code == 503 and SIGN_IN_UNAVAILABLE in newcomer.get_data(as_text=True)
    finally:
        private_redis.start()
    assert client.get("/").status_code == 200, "the session kept in Redis is valid again"
    assert sign_in(app.server.test_client(), people[ROLE].email).status_code == 302
