"""A tiny run of the load test (benchmarks.load): gunicorn + Celery on PostgreSQL and Redis under locust.

Correctness only, never timing: every simulated person signs in, every page kind of the three
journeys is requested (an optimizer run is followed to its end, saved, and Scenarios opened), and
nothing fails — no HTTP error, no error banner, no run that does not finish.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from benchmarks.load import PAGES
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL, redis_test_client, require_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def services() -> None:
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        require_service(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    finally:
        engine.dispose()
    redis_test_client()  # emptied: the run refuses a database that holds keys, and empties it when done


def test_a_small_load_hits_every_page_without_errors(services):
    command = [sys.executable, "-m", "benchmarks.load", "--users", "3", "--minutes", "0.75", "--workers", "2",
               "--mix", "1:1:1", "--think-scale", "0.2", "--database-url", PG_ADMIN_URL, "--redis-url",
               REDIS_TEST_URL, "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0, done.stdout[-3000:]
    hit = {page for page, row in result["pages"].items() if row["requests"] > 0}
    assert hit >= set(PAGES), f"pages never requested: {set(PAGES) - hit}\n{done.stdout[-2000:]}"
    assert result["rss_end_mb"] > 0 and result["p95_ms"] is not None
    left = redis.Redis.from_url(REDIS_TEST_URL).dbsize()  # not redis_test_client(): that empties it first
    assert left == 0, f"the run left {left} keys in its Redis database"


def test_a_redis_database_in_use_is_refused_and_left_alone(services):
    client = redis_test_client()
    client.set("someone-elses-key", "1")
    command = [sys.executable, "-m", "benchmarks.load", "--users", "1", "--minutes", "0.1", "--database-url",
               PG_ADMIN_URL, "--redis-url", REDIS_TEST_URL]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "holds 1 key;" in done.stderr and "--redis-url" in done.stderr, done.stderr[-2000:]
    assert client.get("someone-elses-key") == b"1"
