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


# Which brand has which value of which metric (by code), and which project scores which section and
# platform (by names): the same before and after 0014 and after its downgrade.
_VALUES_BY_CODE = ("SELECT b.name, m.code, v.period, v.raw_value FROM metric_values v "
                   "JOIN brands b ON b.id = v.brand_id JOIN metrics m ON m.id = v.metric_id ORDER BY 1, 2, 3")
_SCORES_BY_NAME = ("SELECT d.project_id, d.brand_id, d.level, coalesce(s.name, ps.name || '/' || p.name), d.score "
                   "FROM dc_scores d LEFT JOIN sections s ON d.level = 'section' AND s.id = d.node_id "
                   "LEFT JOIN platforms p ON d.level = 'platform' AND p.id = d.node_id "
                   "LEFT JOIN sections ps ON ps.id = p.section_id ORDER BY 1, 2, 3, 4")


def _old_catalogue(conn) -> None:
    """Three organizations (the third without data), one global catalogue, values and scores in two."""
    conn.execute(text("INSERT INTO organizations (id, name, slug, created_at) VALUES (1, 'One', 'one', '2026-01-01'), "
                      "(2, 'Two', 'two', '2026-01-01'), (3, 'Empty', 'empty', '2026-01-01')"))
    conn.execute(text("INSERT INTO brands (id, organization_id, name, created_at) VALUES "
                      "(10, 1, 'Alpha', '2026-01-01'), (20, 2, 'Beta', '2026-01-01')"))
    conn.execute(text("INSERT INTO projects (id, organization_id, name, normalization, section_weights, created_at) "
                      "VALUES (100, 1, 'P1', 'minmax', '{}', '2026-01-01'), (200, 2, 'P2', 'minmax', '{}', "
                      "'2026-01-01')"))
    conn.execute(text("INSERT INTO sections (id, name, position) VALUES (1, 'Marketplace', 0), (2, 'Socialwatch', 1)"))
    conn.execute(text("INSERT INTO platforms (id, section_id, name, weight) VALUES (1, 1, 'Amazon', 1.5), "
                      "(2, 2, 'Instagram', 1.2), (3, 2, 'Amazon', 0.5)"))
    conn.execute(text("INSERT INTO metrics (id, platform_id, code, name, direction, weight, unit) VALUES "
                      "(1, 1, 'amz_rating', 'Rating', 'higher', 1, ''), (2, 2, 'ig_followers', 'Followers', "
                      "'higher', 2, ''), (3, 3, 'odd_one', 'Odd', 'lower', 1, '')"))
    for table, n in (("sections", 2), ("platforms", 3), ("metrics", 3)):
        if conn.dialect.name == "postgresql":  # as the app leaves it (it never writes ids itself)
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
    conn.execute(text("INSERT INTO metric_values (brand_id, metric_id, period, raw_value, source, updated_at) VALUES "
                      "(10, 1, '2026-01-01', 4.1, 'm', '2026-02-01'), (10, 2, '2026-01-01', 900, 'm', '2026-02-01'), "
                      "(20, 1, '2026-01-01', 3.9, 'm', '2026-02-01'), (20, 3, '2026-01-01', 7, 'm', '2026-02-01')"))
    conn.execute(text("INSERT INTO dc_scores (project_id, period, brand_id, level, node_id, score, coverage) VALUES "
                      "(100, '2026-01-01', 10, 'total', 0, 50, 1), (100, '2026-01-01', 10, 'section', 1, 40, 1), "
                      "(100, '2026-01-01', 10, 'platform', 1, 40, 1), (200, '2026-01-01', 20, 'section', 1, 60, 1), "
                      "(200, '2026-01-01', 20, 'section', 2, 61, 1), (200, '2026-01-01', 20, 'platform', 1, 62, 1), "
                      "(200, '2026-01-01', 20, 'platform', 3, 63, 1)"))


def test_0014_gives_each_organization_with_data_its_own_framework_and_merges_them_back(empty_db):
    empty_db.upgrade("0013")
    with empty_db.engine.begin() as conn:
        _old_catalogue(conn)
    values, scores = _rows(empty_db, _VALUES_BY_CODE), _rows(empty_db, _SCORES_BY_NAME)

    empty_db.upgrade("0014")
    assert _rows(empty_db, "SELECT organization_id, name, weight FROM sections ORDER BY 1, 2") == [
        (1, "Marketplace", 1.0), (1, "Socialwatch", 1.0), (2, "Marketplace", 1.0), (2, "Socialwatch", 1.0)]
    assert _rows(empty_db, "SELECT s.organization_id, s.name, p.name, p.weight FROM platforms p "
                           "JOIN sections s ON s.id = p.section_id ORDER BY 1, 2, 3") == [
        (1, "Marketplace", "Amazon", 1.5), (1, "Socialwatch", "Amazon", 0.5), (1, "Socialwatch", "Instagram", 1.2),
        (2, "Marketplace", "Amazon", 1.5), (2, "Socialwatch", "Amazon", 0.5), (2, "Socialwatch", "Instagram", 1.2)]
    # Metrics: each organization's own, under its own platforms, the description empty.
    assert _rows(empty_db, "SELECT m.organization_id, s.organization_id, m.code, m.weight, m.direction, m.description "
                           "FROM metrics m JOIN platforms p ON p.id = m.platform_id "
                           "JOIN sections s ON s.id = p.section_id ORDER BY 1, 3") == [
        (1, 1, "amz_rating", 1.0, "higher", ""), (1, 1, "ig_followers", 2.0, "higher", ""),
        (1, 1, "odd_one", 1.0, "lower", ""), (2, 2, "amz_rating", 1.0, "higher", ""),
        (2, 2, "ig_followers", 2.0, "higher", ""), (2, 2, "odd_one", 1.0, "lower", "")]
    # The first organization keeps the old ids; the organization without data gets nothing.
    assert _rows(empty_db, "SELECT id FROM metrics WHERE organization_id = 1 ORDER BY 1") == [(1,), (2,), (3,)]
    assert _rows(empty_db, "SELECT organization_id, version FROM framework_versions ORDER BY 1") == [(1, 1), (2, 1)]
    # Every value and every section / platform score points at its own organization's framework.
    assert _rows(empty_db, "SELECT count(*) FROM metric_values v JOIN brands b ON b.id = v.brand_id "
                           "JOIN metrics m ON m.id = v.metric_id "
                           "WHERE m.organization_id <> b.organization_id") == [(0,)]
    assert _rows(empty_db, "SELECT count(*) FROM dc_scores d JOIN projects p ON p.id = d.project_id "
                           "JOIN sections s ON s.id = d.node_id WHERE d.level = 'section' "
                           "AND s.organization_id <> p.organization_id") == [(0,)]
    assert _rows(empty_db, "SELECT count(*) FROM dc_scores d JOIN projects pr ON pr.id = d.project_id "
                           "JOIN platforms p ON p.id = d.node_id JOIN sections s ON s.id = p.section_id "
                           "WHERE d.level = 'platform' AND s.organization_id <> pr.organization_id") == [(0,)]
    assert _rows(empty_db, _VALUES_BY_CODE) == values
    assert _rows(empty_db, _SCORES_BY_NAME) == scores
    with empty_db.engine.begin() as conn:  # the new rule: the same code and name again in another organization
        conn.execute(text("INSERT INTO sections (organization_id, name, position, weight) VALUES (3, 'Marketplace', "
                          "0, 2)"))
    with pytest.raises(IntegrityError), empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO sections (organization_id, name, position, weight) VALUES (2, 'Marketplace', "
                          "0, 1)"))
    with pytest.raises(IntegrityError), empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO metrics (organization_id, platform_id, code, name, direction, weight, unit, "
                          "description) SELECT 2, min(id), 'amz_rating', 'x', 'higher', 1, '', '' FROM platforms"))
    with pytest.raises(IntegrityError), empty_db.engine.begin() as conn:
        conn.execute(text("UPDATE sections SET weight = 0 WHERE organization_id = 3"))
    with empty_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM sections WHERE organization_id = 3"))
    # SQLite's copied tables keep their data-version triggers: a committed write still changes the token.
    for statement in ("UPDATE metrics SET name = 'Stars' WHERE id = 1",
                      "UPDATE sections SET position = 5 WHERE id = 2"):
        before = _rows(empty_db, "SELECT token FROM data_versions")
        with empty_db.engine.begin() as conn:
            conn.execute(text(statement))
        assert _rows(empty_db, "SELECT token FROM data_versions") != before, statement

    empty_db.downgrade("0013")
    assert _rows(empty_db, "SELECT id, name FROM sections ORDER BY 1") == [(1, "Marketplace"), (2, "Socialwatch")]
    assert _rows(empty_db, "SELECT id, section_id, name FROM platforms ORDER BY 1") == [
        (1, 1, "Amazon"), (2, 2, "Instagram"), (3, 2, "Amazon")]
    assert _rows(empty_db, "SELECT id, platform_id, code FROM metrics ORDER BY 1") == [
        (1, 1, "amz_rating"), (2, 2, "ig_followers"), (3, 3, "odd_one")]
    assert _rows(empty_db, _VALUES_BY_CODE) == values
    assert _rows(empty_db, _SCORES_BY_NAME) == scores
    empty_db.upgrade()


def test_0014_drops_a_catalogue_no_organization_can_own(empty_db):
    empty_db.upgrade("0013")
    with empty_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (id, name, slug, created_at) VALUES (1, 'A', 'a', '2026-01-01'), "
                          "(2, 'B', 'b', '2026-01-01')"))
        conn.execute(text("INSERT INTO sections (id, name, position) VALUES (1, 'Marketplace', 0)"))
        conn.execute(text("INSERT INTO platforms (id, section_id, name, weight) VALUES (1, 1, 'Amazon', 1)"))
        conn.execute(text("INSERT INTO metrics (id, platform_id, code, name, direction, weight, unit) VALUES "
                          "(1, 1, 'amz_rating', 'Rating', 'higher', 1, '')"))
    empty_db.upgrade("0014")
    assert _rows(empty_db, "SELECT count(*) FROM sections") == [(0,)]
    assert _rows(empty_db, "SELECT count(*) FROM platforms") == [(0,)]
    assert _rows(empty_db, "SELECT count(*) FROM metrics") == [(0,)]
