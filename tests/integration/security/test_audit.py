"""The audit trail: hash chain, tamper detection, the PostgreSQL trigger, concurrent appends."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core.models.security import AuditEvent
from core.security.audit import GENESIS_HASH, record, verify_chain
from tests.integration.security.conftest import tamper


def _fill(db, n=5) -> list[int]:
    ids = []
    for i in range(n):
        event = record(db, "test.event", actor=1, organization_id=1, target=("brand", i),
                       data={"n": i, "share": 0.1 * i, "whole": 2.0, "when": datetime(2026, 1, 1, tzinfo=UTC)},
                       personal={"email": f"p{i}@example.com"})
        ids.append(event.id)
    return ids


def test_chain_verifies_and_matches_the_documented_hash(db):
    ids = _fill(db)
    result = verify_chain(db)
    assert result.ok and result.checked == 5 and result.broken_id is None
    with db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert events[0].prev_hash == GENESIS_HASH and [e.id for e in events] == ids
    first = events[0]
    content = {"action": "test.event", "actor_id": 1, "organization_id": 1, "target_type": "brand",
               "target_id": "0", "data": {"n": 0, "share": 0, "whole": 2, "when": "2026-01-01T00:00:00.000000+00:00"},
               "created_at": first.created_at.replace(tzinfo=UTC).astimezone(UTC).isoformat(timespec="microseconds")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    assert first.hash == hashlib.sha256((GENESIS_HASH + canonical).encode()).hexdigest()
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_tampering_with_content_is_detected_at_that_row(db):
    ids = _fill(db)
    tamper(db, "UPDATE audit_events SET action = 'test.harmless' WHERE id = :id", {"id": ids[2]})
    result = verify_chain(db)
    assert not result.ok and result.broken_id == ids[2] and result.checked == 2
    assert "content" in result.reason


def test_rehashing_a_row_breaks_the_next_link(db):
    ids = _fill(db)
    tamper(db, "UPDATE audit_events SET hash = :h WHERE id = :id", {"h": "f" * 64, "id": ids[1]})
    assert verify_chain(db).broken_id == ids[1]
    tamper(db, "DELETE FROM audit_events WHERE id = :id", {"id": ids[1]})
    result = verify_chain(db)
    assert result.broken_id == ids[2] and "prev_hash" in result.reason


def test_personal_data_is_outside_the_hash(db):
    ids = _fill(db)
    with db.engine.begin() as conn:  # allowed even by the trigger: blanking personal only
        conn.execute(text("UPDATE audit_events SET personal = '{}' WHERE id = :id"), {"id": ids[3]})
    assert verify_chain(db).ok


def test_postgresql_trigger_refuses_update_and_delete(pg_db):
    db = pg_db
    ids = _fill(db, 2)
    for sql in ("UPDATE audit_events SET action = 'x' WHERE id = :id",
                "UPDATE audit_events SET personal = '{\"email\": \"new@example.com\"}' WHERE id = :id",
                "DELETE FROM audit_events WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql), {"id": ids[0]})
    assert verify_chain(db).ok and verify_chain(db).checked == 2


def test_concurrent_appends_form_one_chain(db):
    """Threads with their own connections append at once; the chain never forks."""
    threads, per_thread = 8, 15
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                record(db, "test.concurrent", data={"thread": n, "i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    result = verify_chain(db)
    assert result.ok and result.checked == threads * per_thread
    with db.session() as s:
        prev = s.scalars(select(AuditEvent.prev_hash)).all()
    assert len(set(prev)) == len(prev)  # no two events share a parent


def test_record_joins_the_callers_unit_of_work(db):
    with pytest.raises(RuntimeError), db.session() as s:
        record(s, "test.rolled_back")
        raise RuntimeError("the caller fails")
    with db.session() as s:
        record(s, "test.kept")
    with db.session() as s:
        assert s.scalars(select(AuditEvent.action)).all() == ["test.kept"]
    assert verify_chain(db).ok
