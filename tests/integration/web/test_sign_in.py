"""Signing in through the real web app: two steps, lockout, replay, sessions, redirects, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from core.demo import seed_demo
from core.models import User, UserSession
from tests.support import DEMO_PASSWORD, DEMO_TOTP, demo_people, form_token, make_app, sign_in


@pytest.fixture
def world(db, tmp_path):
    seed_demo(db, seed=7, months=2)
    return demo_people(db, tmp_path)


@pytest.fixture
def app(db, tmp_path, world):
    return make_app(db, tmp_path)


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_password_then_page(app, world):
    client = app.server.test_client()
    response = sign_in(client, world["Analyst"].email)
    assert response.status_code == 302 and response.location == "/"
    assert _signed_in(client)


def test_wrong_password_gives_one_generic_message(app, world):
    client = app.server.test_client()
    wrong = sign_in(client, world["Analyst"].email, password="not-the-password-123")
    nobody = sign_in(client, "nobody@nowhere.test", password="not-the-password-123")
    assert wrong.status_code == nobody.status_code == 401
    text = wrong.get_data(as_text=True)
    assert "Invalid email or password" in text or "did not match" in text or "incorrect" in text.lower()
    assert _message(wrong) == _message(nobody)
    assert not _signed_in(client)


def _message(response) -> str:
    text = response.get_data(as_text=True)
    start = text.index('id="auth-error">') + len('id="auth-error">')
    return text[start:text.index("<", start)]


def test_lockout_after_five_failures_refuses_the_right_password(app, world, db):
    client = app.server.test_client()
    email = world["Viewer"].email
    for _ in range(5):
        assert sign_in(client, email, password="wrong-password-000").status_code == 401
    assert sign_in(client, email).status_code == 401  # locked: the right password is refused too
    with db.session() as s:
        assert s.scalar(select(User.locked_until).where(User.email == email)) is not None
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31)):
        assert sign_in(client, email).status_code == 302


def test_admin_needs_the_second_factor_and_a_code_works_once(app, world):
    client = app.server.test_client()
    email = world["Organization Administrator"].email
    page = client.get("/login")
    first = client.post("/login", data={"email": email, "password": DEMO_PASSWORD,
                                        "csrf_token": form_token(page.get_data(as_text=True))})
    assert first.status_code == 302 and "/login/mfa" in first.location
    assert not _signed_in(client)  # the password alone signs nobody in
    code = pyotp.TOTP(DEMO_TOTP).now()
    step = client.get(first.location)
    ok = client.post(first.location, data={"code": code, "csrf_token": form_token(step.get_data(as_text=True))})
    assert ok.status_code == 302 and _signed_in(client)

    other = app.server.test_client()  # the same code replayed elsewhere is refused
    replay = sign_in(other, email, code=code)
    assert replay.status_code == 401 and not _signed_in(other)


def test_session_id_changes_at_sign_in(app, world):
    client = app.server.test_client()
    client.get("/login")
    before = client.get_cookie("dc_session")
    sign_in(client, world["Analyst"].email)
    after = client.get_cookie("dc_session")
    assert after is not None and (before is None or before.value != after.value)


def test_logout_kills_the_old_cookie(app, world):
    client = app.server.test_client()
    sign_in(client, world["Analyst"].email)
    cookie = client.get_cookie("dc_session").value
    page = client.get("/login/password")  # any page with a form carries a CSRF token
    client.post("/logout", data={"csrf_token": form_token(page.get_data(as_text=True))})
    thief = app.server.test_client()
    thief.set_cookie("dc_session", cookie)
    assert thief.get("/").status_code == 302  # back to sign-in


def test_disabled_user_and_password_change_end_sessions(app, world, db):
    analyst, viewer = app.server.test_client(), app.server.test_client()
    sign_in(analyst, world["Analyst"].email)
    sign_in(viewer, world["Viewer"].email)
    assert _signed_in(analyst) and _signed_in(viewer)
    with db.session() as s:
        s.scalar(select(User).where(User.email == world["Analyst"].email)).is_active = False
    assert not _signed_in(analyst)

    second = app.server.test_client()
    sign_in(second, world["Viewer"].email)
    page = viewer.get("/login/password")
    changed = viewer.post("/login/password", data={
        "current": DEMO_PASSWORD, "new": "a-brand-new-passphrase-77", "confirm": "a-brand-new-passphrase-77",
        "csrf_token": form_token(page.get_data(as_text=True))})
    assert changed.status_code == 302
    assert _signed_in(viewer)  # the session that changed it carries on
    assert not _signed_in(second)  # every other one ended


def test_idle_and_absolute_timeouts(app, world, db):
    client = app.server.test_client()
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        sign_in(client, world["Analyst"].email)
    for minutes in range(25, 12 * 60, 25):  # active every 25 minutes: idle never reached
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            if minutes < 12 * 60 - 1:
                assert _signed_in(client), f"signed out after {minutes} min of activity"
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        assert not _signed_in(client)  # absolute limit

    idle = app.server.test_client()
    with time_machine.travel(start, tick=False):
        sign_in(idle, world["Analyst"].email)
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert not _signed_in(idle)


def test_requests_that_store_nothing_make_no_session(app, db):
    client = app.server.test_client()
    with db.session() as s:
        before = len(s.scalars(select(UserSession)).all())
    assert client.get("/healthz").status_code == 200
    assert client.get("/assets/vendor/bootstrap/bootstrap.min.css").status_code == 200
    with db.session() as s:
        assert len(s.scalars(select(UserSession)).all()) == before
    assert client.get_cookie("dc_session") is None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_never_leaves_the_site(app, world, target):
    client = app.server.test_client()
    page = client.get("/login")
    response = client.post(f"/login?next={target}", data={
        "email": world["Analyst"].email, "password": DEMO_PASSWORD,
        "csrf_token": form_token(page.get_data(as_text=True))})
    assert response.status_code == 302 and response.location == "/"


def test_sign_in_posts_are_rate_limited(db, tmp_path, world):
    app = make_app(db, tmp_path, signin_rate_per_ip="3 per minute")
    client = app.server.test_client()
    codes = [sign_in(client, "nobody@nowhere.test", password="x" * 12).status_code for _ in range(4)]
    assert codes[:3] == [401, 401, 401] and codes[3] == 429


def test_login_form_needs_its_csrf_token(app, world):
    client = app.server.test_client()
    client.get("/login")
    response = client.post("/login", data={"email": world["Analyst"].email, "password": DEMO_PASSWORD})
    assert response.status_code == 400


def test_forced_enrolment_then_recovery_code_works_once(db, tmp_path, world):
    from core.models import User as UserModel

    with db.session() as s:  # an administrator who has not enrolled yet
        admin = s.scalar(select(UserModel).where(UserModel.email == world["Organization Administrator"].email))
        admin.mfa_enabled, admin.mfa_secret_encrypted, admin.mfa_last_timestep = False, None, None
    app = make_app(db, tmp_path)
    client = app.server.test_client()
    page = client.get("/login")
    first = client.post("/login", data={"email": admin.email, "password": DEMO_PASSWORD,
                                        "csrf_token": form_token(page.get_data(as_text=True))})
    assert first.status_code == 302 and "/login/enrol" in first.location
    enrol = client.get(first.location)
    html = enrol.get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in html  # the QR code is drawn here, not fetched
    secret = html.split('id="manual-key">')[1].split("<")[0]
    bad = client.post(first.location, data={"code": "000000", "csrf_token": form_token(html)})
    assert bad.status_code == 400 and not _signed_in(client)
    done = client.post(first.location, data={"code": pyotp.TOTP(secret).now(), "csrf_token": form_token(html)})
    codes = [c.split("<")[0].strip() for c in done.get_data(as_text=True).split('list-group-item">')[1:]]
    assert len(codes) == 10 and _signed_in(client)

    again = app.server.test_client()
    assert sign_in(again, admin.email, code=codes[0]).status_code == 302 and _signed_in(again)
    reuse = app.server.test_client()
    assert sign_in(reuse, admin.email, code=codes[0]).status_code == 401 and not _signed_in(reuse)


def test_verify_audit_command_names_the_first_broken_event(sqlite_db, tmp_path, capsys):
    from sqlalchemy import text

    from core.security.__main__ import main

    seed_demo(sqlite_db, seed=7, months=2)
    demo_people(sqlite_db, tmp_path)  # creating the demo users writes audit events
    assert main(["verify-audit", "--database-url", sqlite_db.url]) == 0
    assert "intact" in capsys.readouterr().out
    with sqlite_db.engine.begin() as conn:
        victim = conn.execute(text("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2")).scalar_one()
        conn.execute(text("UPDATE audit_events SET action = 'tampered.action' WHERE id = :id"), {"id": victim})
    assert main(["verify-audit", "--database-url", sqlite_db.url]) == 1
    assert f"BROKEN at event {victim}" in capsys.readouterr().out


def test_invitation_sets_the_first_password_once(app, world, db):
    from core.security import load_principal

    accounts = app.server.extensions["digicadence.accounts"]
    with db.session() as s:
        admin = s.scalar(select(User).where(User.email == world["Organization Administrator"].email))
        org_id, admin_id = admin.organization_id, admin.id
    new = accounts.create_user(load_principal(db, admin_id), email="newcomer@example.test", organization_id=org_id,
                               name="New Comer", invite=True)
    client = app.server.test_client()
    url = f"/login/invite/{new.invite_token}"
    form = client.get(url)
    assert form.status_code == 200
    weak = client.post(url, data={"new": "password1234", "confirm": "password1234",
                                  "csrf_token": form_token(form.get_data(as_text=True))})
    assert weak.status_code == 400 and "not allowed" in weak.get_data(as_text=True)
    chosen = "violet-harbour-lantern-93"
    done = client.post(url, data={"new": chosen, "confirm": chosen,
                                  "csrf_token": form_token(form.get_data(as_text=True))})
    assert done.status_code == 302 and done.location.endswith("/login")
    assert sign_in(app.server.test_client(), "newcomer@example.test", password=chosen).status_code == 302
    again = client.post(url, data={"new": chosen + "x", "confirm": chosen + "x",
                                   "csrf_token": form_token(form.get_data(as_text=True))})
    assert again.status_code == 400 and "invalid, already used or expired" in again.get_data(as_text=True)
