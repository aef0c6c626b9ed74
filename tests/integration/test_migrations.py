"""Alembic migrations upgrade and downgrade cleanly, and match the models, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

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


def _rows(database: Database, sql: str) -> list[tuple]:
    with database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


# Who spends on which channel, by names: the same before and after 0012 and after its downgrade.
_SPEND_BY_NAME = ("SELECT b.name, c.name, s.period, s.amount FROM spend s JOIN brands b ON b.id = s.brand_id "
                  "JOIN channels c ON c.id = s.channel_id ORDER BY 1, 2, 3")
_CURVES_BY_NAME = ("SELECT b.name, c.name, r.kind FROM response_curves r JOIN brands b ON b.id = r.brand_id "
                   "JOIN channels c ON c.id = r.channel_id ORDER BY 1, 2, 3")


def test_0012_splits_channels_shared_by_organizations_and_merges_them_back(empty_db):
    """A channel two organizations' brands use becomes one row each; the downgrade merges them by name."""
    empty_db.upgrade("0011")
    with empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (id, name, slug, created_at) VALUES "
                          "(1, 'One', 'one', '2026-01-01'), (2, 'Two', 'two', '2026-01-01')"))
        conn.execute(text("INSERT INTO brands (id, organization_id, name, created_at) VALUES "
                          "(10, 1, 'Alpha', '2026-01-01'), (20, 2, 'Beta', '2026-01-01'), "
                          "(21, 2, 'Gamma', '2026-01-01')"))
        conn.execute(text("INSERT INTO channels (id, name) VALUES (1, 'TV'), (2, '<img src=x onerror=alert(1)>'), "
                          "(3, 'Search'), (4, 'Nobody''s')"))
        if empty_db.dialect == "postgresql":  # as the app leaves it (it never writes ids itself)
            conn.execute(text("SELECT setval(pg_get_serial_sequence('channels', 'id'), 4)"))
        conn.execute(text("INSERT INTO spend (brand_id, channel_id, period, granularity, amount, source) VALUES "
                          "(10, 1, '2026-01-05', 'week', 100, 'm'), (10, 2, '2026-01-05', 'week', 5, 'm'), "
                          "(20, 1, '2026-01-05', 'week', 200, 'm'), (21, 1, '2026-01-12', 'week', 300, 'm'), "
                          "(21, 3, '2026-01-12', 'week', 30, 'm')"))
        conn.execute(text("INSERT INTO response_curves (brand_id, channel_id, kind, params, diagnostics, fitted_at) "
                          "VALUES (10, 1, 'fitted', '{}', '{}', '2026-02-01'), "
                          "(20, 1, 'fitted', '{}', '{}', '2026-02-01'), (21, 3, 'truth', '{}', '{}', '2026-02-01')"))
    spend, curves = _rows(empty_db, _SPEND_BY_NAME), _rows(empty_db, _CURVES_BY_NAME)

    empty_db.upgrade("0012")
    assert _rows(empty_db, "SELECT organization_id, name FROM channels ORDER BY 1, 2") == [
        (1, "<img src=x onerror=alert(1)>"), (1, "TV"), (2, "Search"), (2, "TV")]
    assert _rows(empty_db, "SELECT id FROM channels WHERE organization_id = 1 AND name = 'TV'") == [(1,)]
    # Every spend row and curve points at its own brand's organization's channel, and says the same.
    crossing = ("SELECT count(*) FROM {t} x JOIN brands b ON b.id = x.brand_id JOIN channels c ON c.id = x.channel_id "
                "WHERE c.organization_id <> b.organization_id")
    assert _rows(empty_db, crossing.format(t="spend")) == [(0,)]
    assert _rows(empty_db, crossing.format(t="response_curves")) == [(0,)]
    assert _rows(empty_db, _SPEND_BY_NAME) == spend
    assert _rows(empty_db, _CURVES_BY_NAME) == curves
    with empty_db.engine.begin() as conn:  # the new rule: the same name again in another organization
        conn.execute(text("INSERT INTO channels (organization_id, name) VALUES (2, '<img src=x onerror=alert(1)>')"))
    with pytest.raises(IntegrityError), empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO channels (organization_id, name) VALUES (2, 'TV')"))
    with empty_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM channels WHERE organization_id = 2 AND name LIKE '<img%'"))
    # SQLite's copied table keeps its data-version triggers: a committed write still changes the token.
    before = _rows(empty_db, "SELECT token FROM data_versions")
    with empty_db.engine.begin() as conn:
        conn.execute(text("UPDATE channels SET name = 'TV' WHERE id = 1"))
    assert _rows(empty_db, "SELECT token FROM data_versions") != before

    empty_db.downgrade("0011")
    assert _rows(empty_db, "SELECT id, name FROM channels ORDER BY 1") == [
        (1, "TV"), (2, "<img src=x onerror=alert(1)>"), (3, "Search")]
    assert _rows(empty_db, _SPEND_BY_NAME) == spend
    assert _rows(empty_db, _CURVES_BY_NAME) == curves
    empty_db.upgrade()


def test_0012_gives_unused_channels_to_the_only_organization(empty_db):
    empty_db.upgrade("0011")
    with empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (id, name, slug, created_at) VALUES (5, 'Solo', 'solo', "
                          "'2026-01-01')"))
        conn.execute(text("INSERT INTO channels (id, name) VALUES (1, 'Radio')"))
    empty_db.upgrade("0012")
    assert _rows(empty_db, "SELECT id, organization_id, name FROM channels") == [(1, 5, "Radio")]
