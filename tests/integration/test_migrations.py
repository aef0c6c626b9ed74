"""Alembic migrations upgrade and downgrade cleanly, and match the models, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from core.db import Database
from core.models import Base
from tests.conftest import PG_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> Iterator[Database]:
    """A brand-new, never migrated database."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield database
        database.dispose()
        return
    request.getfixturevalue("pg_url")  # skips (or fails in CI) without PostgreSQL
    name = f"dc_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_matches_the_models(empty_db):
    empty_db.upgrade()
    assert _tables(empty_db) == set(Base.metadata.tables)
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_downgrade_to_base_and_up_again(empty_db):
    empty_db.upgrade()
    empty_db.downgrade("base")
    assert _tables(empty_db) == set()
    empty_db.upgrade()
    assert _tables(empty_db) == set(Base.metadata.tables)
