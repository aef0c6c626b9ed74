"""Fixtures for the operations tests: a populated database and fresh empty ones of the same kind."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.demo import seed_demo
from core.ops.container import new_key
from core.security import audit
from tests.conftest import PG_ADMIN_URL, require_service
from tests.support import demo_people


@pytest.fixture
def pg_client_tools(request) -> None:
    """PostgreSQL backups need pg_dump and pg_restore: skip with the reason (fail in CI) without them."""
    uses_postgresql = "db" in request.fixturenames and request.getfixturevalue("db").dialect == "postgresql"
    if uses_postgresql and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        require_service("pg_dump/pg_restore are not on PATH (install the PostgreSQL client)")


@pytest.fixture
def backup_key() -> str:
    return new_key()


@pytest.fixture
def fresh_url(db, tmp_path) -> Iterator[Callable[[], str]]:
    """A factory of URLs of new, empty databases on the same engine as `db` (dropped afterwards)."""
    created: list[str] = []

    def make() -> str:
        if db.dialect == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
        name = f"dc_ops_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if created:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def populated(db, tmp_path):
    """`db` with a small demo portfolio, the six demo people (with MFA) and a few audit events."""
    seed_demo(db, seed=7, months=4)
    people = demo_people(db, tmp_path)
    for i in range(3):
        audit.record(db, "test.ops", actor=1, organization_id=1, target=("brand", i), data={"i": i},
                     personal={"email": f"someone{i}@example.com"})
    return db, people
