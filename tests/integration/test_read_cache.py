"""The read-model cache: the data token's triggers, and cached results that never outlive their data.

On both databases: every write to an analytic table (ORM, Core, raw SQL) changes the token; other
tables and rolled-back writes do not; on PostgreSQL the new token is made at commit (writers
never queue on it) and a writer's own reads bypass the cache until then. A
cached read model computes once per data token, scope and arguments, recomputes after a write,
never shares between different scopes, hands every caller the same object (and the suite fails when a
caller changes it), and never caches an error.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, insert, select, text, update

from core import portfolio as pf
from core.models import Brand, Job, MetricValue, Organization, Platform, Project, ProjectBrand, Section
from core.models import Metric as MetricModel
from core.read_cache import CachedValueChanged, ReadCache, cache_for, cached_read, data_token
from core.security.permissions import ALL_PERMISSIONS
from core.security.principal import Principal
from tests.conftest import redis_test_client

EVERYTHING = Principal(user_id=None, organization_id=None, system=ALL_PERMISSIONS)
ONE_PROJECT = Principal(user_id=7, organization_id=1, projects={1: frozenset({"brand:read"})},
                        project_brands={1: frozenset({1})})
calls: list[tuple] = []


@cached_read()
def value_total(conn, principal: Principal, brand_ids: list[int]) -> pd.DataFrame:
    """A stand-in read model that counts its computations."""
    calls.append((principal.user_id, tuple(brand_ids)))
    total = conn.execute(select(func.coalesce(func.sum(MetricValue.raw_value), 0))
                         .where(MetricValue.brand_id.in_(brand_ids))).scalar()
    return pd.DataFrame({"total": [float(total)]})


@cached_read(scoped=False)
def refuses(conn, brand_id: int) -> None:
    calls.append(("refuses", brand_id))
    raise PermissionError(f"brand {brand_id}")


@pytest.fixture
def world(db):
    """One organization, project, brand and metric with one value; a fresh cache for this database."""
    calls.clear()
    with db.session() as s:
        org = Organization(name="Cache Co", slug="cache")
        s.add(org)
        s.flush()
        project, brand = Project(organization_id=org.id, name="P"), Brand(organization_id=org.id, name="B")
        section = Section(organization_id=org.id, name="Search", position=0)
        s.add_all([project, brand, section])
        s.flush()
        platform = Platform(section_id=section.id, name="Web")
        s.add(platform)
        s.flush()
        metric = MetricModel(organization_id=org.id, platform_id=platform.id, code="visits", name="Visits")
        s.add_all([metric, ProjectBrand(project_id=project.id, brand_id=brand.id, role="own")])
        s.flush()
        s.add(MetricValue(brand_id=brand.id, metric_id=metric.id, period=date(2026, 1, 1), raw_value=10.0))
    cache_for(db.engine).clear()
    return {"db": db, "brand": brand.id, "metric": metric.id, "project": project.id, "org": org.id}


def _token(db) -> str | None:
    with db.engine.connect() as conn:
        return data_token(conn)


def _read(db, principal: Principal, brand_ids: list[int]) -> pd.DataFrame:
    with db.engine.connect() as conn:
        return value_total(conn, principal, brand_ids)


def test_every_kind_of_write_to_an_analytic_table_changes_the_token(world):
    db, before = world["db"], _token(world["db"])
    assert before
    with db.session() as s:  # ORM update
        s.execute(update(MetricValue).values(raw_value=11.0))
    after_orm = _token(db)
    with db.engine.begin() as conn:  # Core insert
        conn.execute(insert(MetricValue).values(brand_id=world["brand"], metric_id=world["metric"],
                                                period=date(2026, 2, 1), raw_value=1.0, source="t"))
    after_core = _token(db)
    with db.engine.begin() as conn:  # raw SQL delete
        conn.execute(text("DELETE FROM metric_values WHERE period = :p"), {"p": date(2026, 2, 1)})
    after_sql = _token(db)
    assert len({before, after_orm, after_core, after_sql}) == 4


def test_other_tables_and_rolled_back_writes_leave_the_token(world):
    db, before = world["db"], _token(world["db"])
    with db.session() as s:
        s.add(Job(id="j-1", kind="budget", status="queued", payload={}))
    with db.engine.connect() as conn:
        conn.execute(update(MetricValue).values(raw_value=99.0))
        conn.rollback()
    assert _token(db) == before


def test_a_new_token_shows_to_others_only_after_commit(world):
    """PostgreSQL changes it once per transaction, as the writer commits; SQLite's row triggers change
    it per row, visible to the writer at once."""
    db = world["db"]
    before = _token(db)
    with db.engine.connect() as writer:
        writer.execute(update(MetricValue).values(raw_value=12.0))
        if db.dialect == "postgresql":
            assert data_token(writer) is None  # the writer's own reads: no token, so no cache
            writer.execute(update(MetricValue).values(raw_value=13.0))
            assert _token(db) == before  # another connection still sees the committed token
        else:
            assert data_token(writer) not in (None, before)
        writer.commit()
    after = _token(db)
    assert after not in (None, before)
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM data_version_pending")).scalar() == 0


def test_a_writers_uncommitted_rows_never_reach_the_cache(world):
    db, brand = world["db"], world["brand"]
    with db.engine.connect() as writer:
        writer.execute(update(MetricValue).values(raw_value=99.0))
        assert value_total(writer, EVERYTHING, [brand])["total"].iloc[0] == 99.0  # its own view
        if db.dialect == "postgresql":  # SQLite: one writer, and the reader below would wait for it
            assert _read(db, EVERYTHING, [brand])["total"].iloc[0] == 10.0
        writer.rollback()
    assert _read(db, EVERYTHING, [brand])["total"].iloc[0] == 10.0


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SQLite has one writer at a time
def test_concurrent_writers_do_not_queue_on_the_token(world):
    """A long write (an import) holds no lock that another writer of the analytic tables waits for."""
    db = world["db"]
    before = _token(db)
    with db.engine.connect() as long_import, db.engine.connect() as other:
        long_import.execute(update(MetricValue).values(raw_value=20.0))
        other.execute(text("SET LOCAL lock_timeout = '2s'"))
        other.execute(update(Brand).where(Brand.id == world["brand"]).values(name="Renamed"))
        other.commit()  # before: waited on the token row until the import ended (here: lock timeout)
        middle = _token(db)
        long_import.commit()
    after = _token(db)
    assert len({before, middle, after}) == 3


def test_a_cached_read_model_computes_once_per_token_and_again_after_a_write(world):
    db, brand = world["db"], world["brand"]
    assert _read(db, EVERYTHING, [brand])["total"].iloc[0] == 10.0
    assert _read(db, EVERYTHING, [brand])["total"].iloc[0] == 10.0
    assert len(calls) == 1
    with db.session() as s:
        s.execute(update(MetricValue).values(raw_value=25.0))
    assert _read(db, EVERYTHING, [brand])["total"].iloc[0] == 25.0
    assert len(calls) == 2


def test_different_scopes_and_arguments_never_share_an_entry(world):
    db, brand = world["db"], world["brand"]
    _read(db, EVERYTHING, [brand])
    _read(db, ONE_PROJECT, [brand])
    _read(db, EVERYTHING, [brand, 999])
    colleague = Principal(user_id=8, organization_id=1, projects={1: frozenset({"brand:read"})},
                          project_brands={1: frozenset({1})})
    _read(db, colleague, [brand])  # same grants as ONE_PROJECT: shares its entry
    assert calls == [(None, (brand,)), (7, (brand,)), (None, (brand, 999))]


def test_a_hit_hands_out_the_stored_result_without_copying_it(world):
    db, brand = world["db"], world["brand"]
    assert _read(db, EVERYTHING, [brand]) is _read(db, EVERYTHING, [brand])


@pytest.mark.parametrize("change", [
    lambda frame: frame.loc.__setitem__((0, "total"), -1.0),
    lambda frame: frame.attrs.__setitem__("changed", True),
    lambda frame: frame.__setitem__("extra", [1.0]),
], ids=["a value", "its attrs", "a new column"])
def test_a_caller_that_changes_a_cached_result_fails_the_next_hit(world, change):
    """The suite runs with check_hits on (tests/conftest.py): a caller changing a shared result is caught."""
    db, brand = world["db"], world["brand"]
    change(_read(db, EVERYTHING, [brand]))
    with pytest.raises(CachedValueChanged, match="value_total"):
        _read(db, EVERYTHING, [brand])


def test_errors_are_not_cached(world):
    db = world["db"]
    for _ in range(2):
        with db.engine.connect() as conn, pytest.raises(PermissionError):
            refuses(conn, 5)
    assert calls == [("refuses", 5), ("refuses", 5)]


def test_a_cache_of_no_entries_always_computes(world):
    db, computed = world["db"], []
    cache = ReadCache(entries=0)
    with db.engine.connect() as conn:
        for _ in range(2):
            cache.get(conn, "t", (), lambda: computed.append(1))
    assert computed == [1, 1]


def test_the_cache_is_bounded_by_bytes_as_well_as_by_entries(world):
    """A big portfolio makes big entries: the bytes bound holds whatever the count, the count whatever the size."""
    db = world["db"]
    by_bytes, by_count = ReadCache(entries=100, max_bytes=10_000), ReadCache(entries=3, max_bytes=10**9)
    with db.engine.connect() as conn:
        for i in range(20):
            by_bytes.get(conn, "t", (i,), lambda: b"x" * 2_000)
            by_count.get(conn, "t", (i,), lambda i=i: i)
        assert by_bytes.get(conn, "t", ("big",), lambda: b"y" * 20_000) == b"y" * 20_000  # answered, not kept
    kept = dict(by_bytes._lru.items())
    assert 1 < len(kept) <= 5 and sum(e.size for e in kept.values()) <= 10_000
    assert sorted(key[2] for key in kept) == [(i,) for i in range(20 - len(kept), 20)]  # the newest stay
    assert len(by_count._lru) == 3


def test_a_real_read_model_follows_the_data(world):
    """core.portfolio.metric_catalogue is cached; renaming a metric shows at once."""
    db = world["db"]
    with db.engine.connect() as conn:
        assert pf.metric_catalogue(conn, world["org"]).loc[world["metric"], "metric"] == "Visits"
    with db.session() as s:
        s.execute(update(MetricModel).values(name="Sessions"))
    with db.engine.connect() as conn:
        assert pf.metric_catalogue(conn, world["org"]).loc[world["metric"], "metric"] == "Sessions"


# ---------------------------------------------------------------- the shared tier (Redis)

@pytest.fixture
def shared_redis():
    client = redis_test_client()
    yield client
    client.flushdb()


def test_another_process_reads_the_result_from_redis_and_a_forged_entry_is_ignored(world, shared_redis):
    db, brand = world["db"], world["brand"]
    from core.read_cache import SharedTier

    first = ReadCache(shared=SharedTier(shared_redis, "secret-1"))
    second = ReadCache(shared=SharedTier(shared_redis, "secret-1"))  # as another worker process would hold
    with db.engine.connect() as conn:
        assert first.get(conn, "t", ("k",), lambda: value_total.uncached(conn, EVERYTHING, [brand]))["total"][0] == 10
    with db.engine.connect() as conn:
        assert second.get(conn, "t", ("k",), lambda: pytest.fail("computed again"))["total"][0] == 10
    # An entry not signed with the deployment's secret is never unpickled: the value is computed.
    stranger = ReadCache(shared=SharedTier(shared_redis, "someone-else"))
    with db.engine.connect() as conn:
        assert stranger.get(conn, "t", ("k",), lambda: "computed") == "computed"


def test_redis_down_means_computing_not_failing(world):
    import redis

    from core.read_cache import SharedTier

    dead = SharedTier(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "s")
    cache = ReadCache(shared=dead)
    with world["db"].engine.connect() as conn:
        assert cache.get(conn, "t", ("k",), lambda: "computed") == "computed"
        assert cache.get(conn, "t", ("k",), lambda: pytest.fail("the process tier has it")) == "computed"
    assert not dead._available()  # steps aside for a while instead of timing out on every call
