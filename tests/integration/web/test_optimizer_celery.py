"""The optimizer end to end on a REAL Celery worker on Redis: the page submits a job, a worker process runs it.

The worker is `celery -A worker:celery worker` started as a subprocess with the app's environment,
on a test-only Redis database (TEST_REDIS_URL, default db 15). Without Redis this skips with the
reason; under CI=true it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs.records import get_job
from core.security import load_principal
from tests.conftest import REDIS_TEST_URL, require_service
from tests.integration.web.optimizer_support import follow, start_run
from tests.integration.web.test_optimizer_jobs import build, run_values, signed_in, submitted, two_users_same_moment

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def redis_db():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc.__class__.__name__}")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()


@pytest.fixture
def celery_setup(sqlite_db, tmp_path, redis_db):
    """The web app on Redis and one worker process with the same configuration."""
    app, people = build(sqlite_db, tmp_path, redis_url=redis_db)
    env = {**os.environ, "DATABASE_URL": sqlite_db.url, "REDIS_URL": redis_db, "SECRET_KEY": "k" * 32,
           "DIGICADENCE_INSTANCE_DIR": str(tmp_path)}
    env.pop("DIGICADENCE_DEMO", None)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker:celery", "worker", "--loglevel=INFO",
                               "--concurrency=2", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    celery_app = app.server.extensions["digicadence.celery"]
    try:
        deadline = time.monotonic() + 90
        while not celery_app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail("celery worker did not start: " + (tmp_path / "worker.log").read_text()[-3000:])
        yield app, people, tmp_path / "worker.log"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def test_brand_manager_runs_on_the_celery_worker(celery_setup, sqlite_db):
    app, people, worker_log = celery_setup
    client, headers = signed_in(app, people, "Brand Manager")
    job_id = submitted(start_run(client, headers, app, run_values(people["Brand Manager"].scope_id)))
    final, progress = follow(client, headers, app, job_id, timeout=120)
    assert progress and progress[-1] == 100, "no progress reached the browser"
    assert final["optimizer-job"]["data"] == job_id, final["optimizer-message"]
    principal = load_principal(sqlite_db, _user(sqlite_db, people))
    job = get_job(sqlite_db, principal, job_id)
    assert job["status"] == "succeeded" and job["result"]["run_by"] == principal.user_id
    log = worker_log.read_text()
    assert f"Task digicadence.jobs.run[{job_id}]" in log and "succeeded" in log, "the run did not go through the worker"


def _user(db, people) -> int:
    from sqlalchemy import select

    from core.models import User

    with db.session() as s:
        return s.scalar(select(User.id).where(User.email == people["Brand Manager"].email))


def test_two_users_on_celery_get_their_own_results(celery_setup, sqlite_db, tmp_path):
    app, people, _ = celery_setup
    two_users_same_moment(sqlite_db, tmp_path, app, people)
