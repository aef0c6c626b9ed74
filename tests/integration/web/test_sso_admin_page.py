"""The single sign-on settings page through real callback posts: validated on the server, the secret
never sent back, other organizations refused, a Viewer kept out."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.models import User
from core.models.sso import OrganizationSSO
from core.security.passwords import hash_password
from tests.integration.security.conftest import add_user, build_world
from tests.integration.test_admin_pages import _forbidden, _ok, _post
from tests.support import DEMO_PASSWORD, DEMO_TOTP, make_app, sign_in

SECRET = "very-secret-client-value-42"


@pytest.fixture
def world(db, tmp_path):
    app = make_app(db, tmp_path)
    world = build_world(db)
    password = hash_password(DEMO_PASSWORD, 4)
    olga = add_user(db, world, "olga@a.example", "A", [("Organization Administrator", "organization", "A")],
                    password_hash=password)
    add_user(db, world, "vic@a.example", "A", [("Viewer", "organization", "A")], password_hash=password)
    with db.session() as s:
        user = s.get(User, olga)
        user.mfa_secret_encrypted = app.server.extensions["digicadence.accounts"].box.encrypt(DEMO_TOTP)
        user.mfa_enabled = True
    return {"db": db, "app": app, "world": world, "home": world.orgs["A"], "second": world.orgs["B"]}


def _client(world, email: str):
    client = world["app"].server.test_client()
    assert sign_in(client, email).status_code == 302
    return client


GOOD = {"issuer": "https://login.a.example", "client_id": "digicadence", "client_secret": SECRET,
        "allowed_domains": "a.example", "role_mapping": "groups = marketing -> Analyst @ organization",
        "mfa_acr_values": "", "enabled": True, "jit_provisioning": False, "local_passwords_enabled": True}


def _save(world, client, organization_id=None, **values):
    return _post(world, client, "sso-result.children", organization_id=organization_id or world["home"],
                 **{**GOOD, **values})


def test_the_page_opens_for_an_administrator_and_not_for_a_viewer(world):
    page = _client(world, "olga@a.example").get("/admin/sso")
    assert page.status_code == 200
    assert _client(world, "vic@a.example").get("/admin/sso").status_code == 403


def test_bad_values_are_explained_and_nothing_is_saved(world):
    admin = _client(world, "olga@a.example")
    bad = _ok(_save(world, admin, issuer="ftp://nowhere", role_mapping="groups = x -> System Administrator"))
    assert bad["sso-issuer"]["invalid"] is True and "https://" in bad["sso-issuer-feedback"]["children"]
    assert "System Administrator" in bad["sso-role_mapping-feedback"]["children"]
    assert "Nothing was saved" in json.dumps(bad["sso-result"])
    with world["db"].session() as s:
        assert s.get(OrganizationSSO, world["home"]) is None


def test_saved_settings_come_back_without_the_secret(world):
    admin = _client(world, "olga@a.example")
    saved = _ok(_save(world, admin))
    assert "Saved" in json.dumps(saved["sso-result"]) and saved["sso-client_secret"]["value"] == ""
    assert saved["sso-client_secret"]["placeholder"] == "A secret is stored" and SECRET not in json.dumps(saved)
    loaded = _ok(_post(world, admin, "sso-issuer.value", organization_id=world["home"]))
    assert loaded["sso-issuer"]["value"] == "https://login.a.example"
    assert loaded["sso-client_secret"]["placeholder"] == "A secret is stored"
    assert SECRET not in json.dumps(loaded)
    with world["db"].session() as s:
        stored = s.scalar(select(OrganizationSSO.client_secret_encrypted))
    assert SECRET not in stored
    # The sign-in page now offers company sign-in.
    assert "Sign in with your company account" in world["app"].server.test_client().get("/login").get_data(True)


def test_another_organizations_settings_are_refused(world):
    admin = _client(world, "olga@a.example")
    _forbidden(_save(world, admin, organization_id=world["second"]))
    _forbidden(_post(world, admin, "sso-issuer.value", organization_id=world["second"]))
    with world["db"].session() as s:
        assert s.get(OrganizationSSO, world["second"]) is None
