"""Security keys through the real web app (Flask test client, a software key): the JSON endpoints with
their CSRF check and plain refusals, the key as second factor, and the administrators' key policy
(sent to add a key right after signing in; afterwards the app's code alone is refused)."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from core.demo import seed_demo
from core.models import AuditEvent, User
from core.models.security import OrganizationSecurity, SecurityKey
from tests.soft_authenticator import SoftKey
from tests.support import DEMO_PASSWORD, DEMO_TOTP, csrf_headers, demo_people, form_token, make_app, sign_in

ORIGIN = "http://localhost"  # the test client's host: the relying party is "localhost"


@pytest.fixture
def world(sqlite_db, tmp_path):
    seed_demo(sqlite_db, seed=7, months=2)
    return demo_people(sqlite_db, tmp_path)


@pytest.fixture
def app(sqlite_db, tmp_path, world):
    return make_app(sqlite_db, tmp_path)


def _register(client, key: SoftKey, name: str = "Blue key") -> dict:
    headers = csrf_headers(client)
    started = client.post("/auth/webauthn/register/options", json={"name": name, "passkey": True}, headers=headers)
    assert started.status_code == 200, started.get_json()
    done = client.post("/auth/webauthn/register/verify",
                       json={"credential": key.create(started.get_json()["options"], origin=ORIGIN)}, headers=headers)
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def _key_step(client, key: SoftKey, mode: str = "second_factor", next_url: str = "/profile"):
    client.get("/login/mfa" if mode == "second_factor" else "/login")
    headers = {"X-CSRFToken": client.get_cookie("_csrf_token").value}  # as assets/webauthn.js sends it
    started = client.post("/auth/webauthn/sign-in/options", json={"mode": mode}, headers=headers)
    assert started.status_code == 200, started.get_json()
    return client.post("/auth/webauthn/sign-in/verify", headers=headers, json={
        "credential": key.get(started.get_json()["options"], origin=ORIGIN), "next": next_url})


def _password(client, email: str):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": DEMO_PASSWORD,
                                       "csrf_token": form_token(page.get_data(as_text=True))})


def test_endpoints_refuse_plainly_and_change_nothing(app, world, sqlite_db):
    client = app.server.test_client()
    assert client.post("/auth/webauthn/register/options", json={}).status_code in (302, 400)  # signed out
    assert sign_in(client, world["Analyst"].email).status_code == 302
    no_csrf = client.post("/auth/webauthn/register/options", json={"name": "Key"})
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error"] == "csrf_failed"
    headers = csrf_headers(client)
    unnamed = client.post("/auth/webauthn/register/options", json={"name": "  "}, headers=headers)
    assert unnamed.status_code == 400 and "name" in unnamed.get_json()["reason"]
    client.post("/auth/webauthn/register/options", json={"name": "Key"}, headers=headers)
    for garbage in ({"credential": "not json"}, {"credential": {"id": 1}}, [], {"credential": None}):
        answer = client.post("/auth/webauthn/register/verify", json=garbage, headers=headers)
        assert answer.status_code == 400 and answer.get_json()["reason"], garbage
    assert client.post("/auth/webauthn/sign-in/verify", json={"credential": {}}, headers=headers).status_code == 401
    with sqlite_db.session() as s:
        assert s.scalar(select(SecurityKey.id)) is None


def test_a_registered_key_is_offered_and_works_as_the_second_factor(app, world):
    client = app.server.test_client()
    email = world["Analyst"].email
    assert sign_in(client, email).status_code == 302
    key = SoftKey(origin=ORIGIN)
    assert _register(client, key)["key"]["name"] == "Blue key"
    client.post("/logout", headers=csrf_headers(client))
    fresh = app.server.test_client()
    step = _password(fresh, email)
    assert step.status_code == 302 and "/login/mfa" in step.location
    page = fresh.get(step.location).get_data(as_text=True)
    assert 'id="security-key-sign-in"' in page and 'id="code"' not in page
    done = _key_step(fresh, key)
    assert done.status_code == 200 and done.get_json()["redirect"] == "/profile"
    assert fresh.get("/profile").status_code == 200
    replay = _key_step(app.server.test_client(), key, mode="passkey")  # a new ceremony: the key counts on
    assert replay.status_code == 200


def test_administrators_must_add_a_key_then_use_it(app, world, sqlite_db):
    admin = world["Organization Administrator"]
    with sqlite_db.session() as s:
        user = s.scalar(select(User).where(User.email == admin.email))
        row = s.get(OrganizationSecurity, user.organization_id)
        if row is None:
            row = OrganizationSecurity(organization_id=user.organization_id)
            s.add(row)
        row.security_key_for_admins = True
    client = app.server.test_client()
    landed = sign_in(client, admin.email)
    assert landed.status_code == 302 and landed.location.startswith("/auth/webauthn/enrol")
    assert client.get("/profile").location.startswith("/auth/webauthn/enrol")
    blocked = client.post("/_dash-update-component", json={}, headers=csrf_headers(client))
    assert blocked.status_code == 403 and blocked.get_json()["error"] == "security_key_required"
    assert "Add a security key" in client.get("/auth/webauthn/enrol").get_data(as_text=True)
    key = SoftKey(origin=ORIGIN)
    _register(client, key, "Admin key")
    assert client.get("/profile").status_code == 200, "with a key the pages open"
    # Next time the app's code is refused: the key is required.
    later = app.server.test_client()
    step = _password(later, admin.email)
    page = later.get(step.location)
    code = later.post(step.location, data={"code": pyotp.TOTP(DEMO_TOTP).now(),
                                           "csrf_token": form_token(page.get_data(as_text=True))})
    assert code.status_code == 401 and "security key" in code.get_data(as_text=True)
    assert _key_step(later, key).status_code == 200
    assert later.get("/profile").status_code == 200


def test_an_administrator_resets_a_persons_keys_on_the_users_page(app, world, sqlite_db):
    from tests.integration.test_admin_pages import _act, _forbidden, _post

    analyst = world["Analyst"]
    own = app.server.test_client()
    assert sign_in(own, analyst.email).status_code == 302
    _register(own, SoftKey(origin=ORIGIN))
    with sqlite_db.session() as s:
        analyst_id = s.scalar(select(User.id).where(User.email == analyst.email))
    viewer = app.server.test_client()
    sign_in(viewer, world["Viewer"].email)
    _forbidden(_post({"app": app}, viewer, "admin-users-result.children", trigger="admin-users-reset-keys.n_clicks",
                     rows=[{"id": analyst_id}]))
    admin = app.server.test_client()
    assert sign_in(admin, world["Organization Administrator"].email).status_code == 302
    said = _act({"app": app}, admin, "reset-keys", analyst_id, analyst.email)
    assert "security key" in said and analyst.email in said
    with sqlite_db.session() as s:
        assert s.scalar(select(SecurityKey.id).where(SecurityKey.user_id == analyst_id)) is None
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "security_key.reset")).all()
        assert event.target_id == str(analyst_id) and event.data == {"removed": 1}
    assert own.get("/profile").status_code == 302, "the person's sessions ended"
