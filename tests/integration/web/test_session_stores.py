"""Both session stores keep the same contract: load, expire, list per user, revoke."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import redis
from cryptography.fernet import Fernet

from core.security.crypto import SecretBox
from core.sessions import DatabaseSessionStore, RedisSessionStore, SessionRecord, new_session_id, session_key
from tests.conftest import REDIS_TEST_URL, require_service
from tests.support import demo_people, make_app, sign_in

BOX = SecretBox([Fernet.generate_key()])


@pytest.fixture(params=["database", "redis"])
def store(request, sqlite_db):
    if request.param == "database":
        return DatabaseSessionStore(sqlite_db, BOX)
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc.__class__.__name__}")
    client.flushdb()
    return RedisSessionStore(client, BOX, prefix="dc-test:")


def _new(store, user_id=None, **times) -> tuple[str, SessionRecord]:
    sid = new_session_id()
    now = datetime.now(UTC)
    record = SessionRecord(key=session_key(sid), user_id=user_id, data={"_user_id": str(user_id), "x": 1},
                           created_at=now, last_seen_at=times.get("seen", now),
                           expires_at=times.get("expires", now + store.absolute), ip="127.0.0.1", user_agent="t")
    store.save(record)
    return sid, record


def _user(db) -> int:
    from core.models import User

    with db.session() as s:
        user = User(email="someone@example.test", name="Someone")
        s.add(user)
        s.flush()
        return user.id


def test_round_trip_and_encryption(store, sqlite_db):
    uid = _user(sqlite_db)
    sid, record = _new(store, uid)
    loaded = store.load(sid)
    assert loaded is not None and loaded.data == {"_user_id": str(uid), "x": 1} and loaded.user_id == uid
    assert store.load(new_session_id()) is None
    if isinstance(store, DatabaseSessionStore):
        from core.models import UserSession

        with sqlite_db.session() as s:
            row = s.get(UserSession, record.key)
            assert "_user_id" not in row.data and row.id != sid  # encrypted, and the id is only hashed


def test_idle_and_absolute_expiry(store, sqlite_db):
    uid = _user(sqlite_db)
    now = datetime.now(UTC)
    idle_sid, _ = _new(store, uid, seen=now - store.idle - timedelta(seconds=1))
    old_sid, _ = _new(store, uid, expires=now + timedelta(seconds=1))
    assert store.load(idle_sid) is None
    assert store.load(old_sid) is not None


def test_list_and_revoke_per_user(store, sqlite_db):
    uid = _user(sqlite_db)
    first, record = _new(store, uid)
    second, _ = _new(store, uid)
    assert {r.key for r in store.for_user(uid)} == {session_key(first), session_key(second)}
    assert store.delete_for_user(uid, keep=record.key) == 1
    assert store.load(first) is not None and store.load(second) is None
    store.delete(record.key)
    assert store.load(first) is None and store.for_user(uid) == []


def test_a_session_no_key_opens_is_signed_out_not_an_error(store, sqlite_db):
    """Written under a key this deployment does not hold (retired too early, or another deployment
    sharing the store): loading and listing treat it as absent instead of failing the page."""
    uid = _user(sqlite_db)
    stranger, _ = _new(store, uid)
    mine = dataclasses.replace(store, box=SecretBox([Fernet.generate_key()]))
    own, _ = _new(mine, uid)
    loaded = mine.load(stranger)
    assert loaded is None or loaded.data == {}
    assert store.load(own) is None or store.load(own).data == {}
    listed = mine.for_user(uid)
    assert session_key(own) in {r.key for r in listed}
    assert all(r.data == {} for r in listed if r.key == session_key(stranger))


def test_app_on_redis_sessions_signs_in(db, tmp_path):
    from core.demo import seed_demo

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {REDIS_TEST_URL}: {exc.__class__.__name__}")
    seed_demo(db, seed=7, months=2)
    people = demo_people(db, tmp_path)
    app = make_app(db, tmp_path, redis_url=REDIS_TEST_URL)
    assert isinstance(app.server.session_interface.store, RedisSessionStore)
    browser = app.server.test_client()
    assert sign_in(browser, people["Analyst"].email).status_code == 302
    assert browser.get("/").status_code == 200
    keys = [k for k in client.scan_iter("dc:session:*") if b":user:" not in k]
    assert keys, "the session lives in Redis"
