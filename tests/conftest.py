"""Shared fixtures: a migrated database on SQLite and on a real PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (default: the local `test` database with trust auth);
each test run creates its own throw-away database there, so parallel runs never collide.
Without PostgreSQL the PostgreSQL cases skip with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core import read_cache
from core.db import Database
from core.jobs.executor import LocalExecutor
from core.models import Base
from core.subscriptions.scheduler import SubscriptionTimer

IN_CI = os.environ.get("CI", "").lower() == "true"
# bcrypt at its minimum cost keeps sign-in tests fast; production stays at 12.
os.environ.setdefault("DIGICADENCE_BCRYPT_ROUNDS", "4")
# Every hit of the read cache proves no caller changed the shared value (core.read_cache.check_hits).
read_cache.check_hits(True)
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_service(reason: str) -> None:
    """Skip with a visible reason, or fail when CI says the service must be there."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def redis_test_client():
    """A client on the test Redis database, emptied; skips (fails under CI=true) when Redis is down."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc.__class__.__name__}")
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test run, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        require_service(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    name = f"dc_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_db(tmp_path_factory) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def _pg_db(pg_url) -> Iterator[Database]:
    database = Database(pg_url)
    database.upgrade()
    yield database
    database.dispose()


def _empty(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> Iterator[Database]:
    """A migrated, empty database; the same test runs once on SQLite and once on PostgreSQL."""
    database = request.getfixturevalue("_sqlite_db" if request.param == "sqlite" else "_pg_db")
    _empty(database)
    yield database


@pytest.fixture
def sqlite_db(_sqlite_db) -> Iterator[Database]:
    """SQLite only, for fast unit-level checks that need tables."""
    _empty(_sqlite_db)
    yield _sqlite_db


# Apps' in-process job executors and schedule timers outlive the test or module that made them (daemon
# threads): a sweeper left running would re-run later tests' jobs in the shared PostgreSQL database (it once
# took over a job a test expected a Celery worker to re-run), and a timer would run the subscriptions' tick
# and the security alert pass there (it once changed tables a later test checked were unchanged). Each is
# recorded, and stopped when the test or module that made it ends.
_EXECUTORS: list[LocalExecutor] = []
_TIMERS: list[SubscriptionTimer] = []
_made_by_app = LocalExecutor.__init__
_timer_made = SubscriptionTimer.__init__


def _recording_init(self, *args, **kwargs) -> None:
    _made_by_app(self, *args, **kwargs)
    _EXECUTORS.append(self)


def _recording_timer_init(self, *args, **kwargs) -> None:
    _timer_made(self, *args, **kwargs)
    _TIMERS.append(self)


LocalExecutor.__init__ = _recording_init  # type: ignore[method-assign]
SubscriptionTimer.__init__ = _recording_timer_init  # type: ignore[method-assign]


def _stop_executors_made_since(mark: tuple[int, int]) -> None:
    for executor in _EXECUTORS[mark[0]:]:
        executor.shutdown(wait=False)
    del _EXECUTORS[mark[0]:]
    for timer in _TIMERS[mark[1]:]:
        timer.stop()
    del _TIMERS[mark[1]:]


@pytest.fixture(autouse=True, scope="module")
def _stop_job_executors_of_the_module() -> Iterator[None]:
    mark = (len(_EXECUTORS), len(_TIMERS))
    yield
    _stop_executors_made_since(mark)


@pytest.fixture(autouse=True)
def _stop_job_executors_of_the_test() -> Iterator[None]:
    mark = (len(_EXECUTORS), len(_TIMERS))
    yield
    _stop_executors_made_since(mark)


@pytest.fixture(scope="session")
def oidc_providers(tmp_path_factory):
    """Two real OpenID providers (organizations A and B) on loopback; skips without Node (fails in CI)."""
    from tests.oidc_provider import ACCOUNTS, start_providers

    with start_providers(tmp_path_factory.mktemp("oidc"), ACCOUNTS) as providers:
        yield providers
