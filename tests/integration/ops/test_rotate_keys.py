"""Rotating the Fernet keys signs nobody out: the same cookie works, the TOTP still verifies, and
after the old key is dropped everything still decrypts."""

from __future__ import annotations

import time

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.models import User, UserSession
from core.ops.keys import RotationError, rotate_keys
from core.security.audit import verify_chain
from core.security.crypto import KEYS_ENV, SecretBox, load_keys
from dashboard.auth.session_interface import COOKIE
from tests.conftest import REDIS_TEST_URL, redis_test_client
from tests.support import DEMO_TOTP, make_app, sign_in

ADMIN = "Organization Administrator"


@pytest.mark.parametrize("store", ["database", "redis"])
def test_rotation_keeps_sessions_and_totp_and_survives_dropping_the_old_key(populated, tmp_path, monkeypatch, store):
    db, people = populated
    client = redis_test_client() if store == "redis" else None
    extra = {"redis_url": REDIS_TEST_URL} if client else {}
    old = load_keys((), tmp_path)[0]  # the key the demo people's TOTP secrets were stored with
    new = Fernet.generate_key()
    monkeypatch.setenv(KEYS_ENV, old.decode())
    before = make_app(db, tmp_path, **extra).server.test_client()
    email = people[ADMIN].email
    assert sign_in(before, email).status_code == 302
    assert before.get("/").status_code == 200
    cookie = before.get_cookie(COOKIE).value
    with db.session() as s:
        secret_before = s.scalar(select(User.mfa_secret_encrypted).where(User.email == email))
        stored_before = [] if client else list(s.scalars(select(UserSession.data)))
    redis_before = {k: client.get(k) for k in client.scan_iter("dc:session:*") if b":user:" not in k} if client else {}
    assert stored_before or redis_before

    report = rotate_keys(db, SecretBox([new, old]), REDIS_TEST_URL if client else None)
    assert report.mfa_secrets >= 2  # both administrators enrolled
    assert (report.redis_sessions if client else report.database_sessions) == len(redis_before or stored_before)

    monkeypatch.setenv(KEYS_ENV, new.decode())  # the old key is gone
    only_new = SecretBox([new])
    with db.session() as s:
        secret_after = s.scalar(select(User.mfa_secret_encrypted).where(User.email == email))
        for data in s.scalars(select(UserSession.data)):
            only_new.decrypt(data)
    assert secret_after != secret_before and only_new.decrypt(secret_after) == DEMO_TOTP
    for key in redis_before:
        only_new.decrypt(client.get(key).decode())
        assert client.ttl(key) > 0  # the expiry was kept

    after = make_app(db, tmp_path, **extra).server.test_client()
    after.set_cookie(COOKIE, cookie)
    assert after.get("/").status_code == 200, "the same session cookie still works"
    assert after.get("/login").status_code in (200, 302)
    fresh = make_app(db, tmp_path, **extra).server.test_client()
    next_code = pyotp.TOTP(DEMO_TOTP).at(time.time() + 30)  # a later time-step than the first sign-in used
    response = sign_in(fresh, email, code=next_code)
    assert response.status_code == 302 and "/login" not in response.location, "the TOTP still verifies"
    assert verify_chain(db).ok


def test_a_value_no_key_opens_stops_the_rotation_and_changes_nothing(populated):
    db, _ = populated
    with db.session() as s:
        before = dict(s.execute(select(User.id, User.mfa_secret_encrypted)
                                .where(User.mfa_secret_encrypted.is_not(None))).all())
    with pytest.raises(RotationError, match="cannot be decrypted"):
        rotate_keys(db, SecretBox([Fernet.generate_key()]))
    with db.session() as s:
        after = dict(s.execute(select(User.id, User.mfa_secret_encrypted)
                               .where(User.mfa_secret_encrypted.is_not(None))).all())
    assert after == before
