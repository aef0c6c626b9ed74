"""Company sign-in through the real web app against real OpenID providers (tests/oidc, Node).

The browser's part at the provider is played with `requests` (tests/oidc_provider.drive); the app is
Flask's test client. Each case checks what a person gets (a session, a refusal page in plain words)
and what the audit trail says.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from sqlalchemy import select

from core.models import AuditEvent, RoleGrant, User
from core.models.security import AccountToken
from core.models.sso import SSOIdentity
from core.security.audit import Action
from core.security.sso import LINKED_ELSEWHERE, NO_ROLE, NOT_INVITED, WRONG_ORGANIZATION
from core.security.sso_settings import PASSWORDS_OFF
from tests.oidc_provider import POST_LOGOUT_URI, drive, sso_world
from tests.support import DEMO_TOTP, form_token, make_app, sign_in


@pytest.fixture
def app(db, tmp_path):
    return make_app(db, tmp_path)


def _box(app):
    return app.server.extensions["digicadence.accounts"].box


@pytest.fixture
def people(app, db, oidc_providers):
    return sso_world(db, _box(app), oidc_providers)[1]


def _start(client, address: str):
    page = client.get("/login")
    return client.post("/login/sso", data={"sso_address": address,
                                           "csrf_token": form_token(page.get_data(as_text=True))})


def _provider_url(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    match = re.search(r'id="sso-continue" href="([^"]+)"', response.get_data(as_text=True))
    assert match, "no link to the provider"
    return html.unescape(match.group(1))


def _back(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(parts.path + "?" + parts.query)


def company_sign_in(client, address: str, login: str):
    """Start at our sign-in page, sign in at the provider as `login`, come back; the app's last answer."""
    return _back(client, drive(_provider_url(_start(client, address)), login))


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def _audit(db, action: str) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _refusals(db) -> list[str]:
    return [e.data["reason"] for e in _audit(db, Action.SSO_REFUSED)]


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_sign_in_page_offers_company_sign_in(app, people):
    page = app.server.test_client().get("/login").get_data(as_text=True)
    assert "Sign in with your company account" in page and 'name="sso_address"' in page


def test_sign_in_with_mfa_at_the_provider(app, db, people):
    client = app.server.test_client()
    response = company_sign_in(client, "lena@a.example", "lena")
    assert response.status_code == 302 and response.location == "/"
    assert _signed_in(client)
    [event] = _audit(db, Action.SSO_SIGN_IN)
    assert event.actor_id == people["lena"] and event.data["mfa_at_provider"] is True
    with db.session() as s:  # the mapped role was granted; the invitation is answered
        assert s.scalar(select(RoleGrant.id).where(RoleGrant.user_id == people["lena"])) is not None
        assert s.scalar(select(User.last_sign_in_at).where(User.id == people["lena"])) is not None


def test_organization_slug_also_routes_to_the_provider(app, people):
    client = app.server.test_client()
    assert company_sign_in(client, "org-a", "lena").status_code == 302
    assert _signed_in(client)


def test_unknown_domain_is_told_in_plain_words(app, people):
    response = _start(app.server.test_client(), "someone@nowhere.example")
    assert response.status_code == 400 and "could not find company sign-in" in _text(response)


def test_logout_also_signs_out_at_the_provider(app, db, people):
    client = app.server.test_client()
    company_sign_in(client, "lena@a.example", "lena")
    page = client.get("/login/password")
    response = client.post("/logout", data={"csrf_token": form_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    target = urlsplit(response.location)
    query = parse_qs(target.query)
    assert target.path == "/session/end" and query["post_logout_redirect_uri"] == [POST_LOGOUT_URI]
    assert query["id_token_hint"][0].count(".") == 2
    assert not _signed_in(client)
    # The provider accepts our hint and asks the person to confirm (not an error page).
    at_provider = requests.get(response.location, timeout=10)
    assert at_provider.status_code == 200 and "logout" in at_provider.text.lower()
    assert _audit(db, Action.SSO_SIGN_OUT)[0].data["provider_logout"] is True


def test_wrong_state_is_refused_and_spends_the_flow(app, db, people):
    client = app.server.test_client()
    callback = drive(_provider_url(_start(client, "lena@a.example")), "lena")
    query = parse_qs(urlsplit(callback).query)
    forged = {**{k: v[0] for k, v in query.items()}, "state": "not-our-state"}
    response = client.get("/auth/oidc/callback?" + urlencode(forged))
    assert response.status_code == 403 and "did not complete" in _text(response)
    assert _back(client, callback).status_code == 403  # the real state no longer works either
    assert not _signed_in(client)
    assert _refusals(db) == ["wrong_state", "no_flow"]


def test_replayed_code_is_refused(app, db, people):
    first = app.server.test_client()
    callback = drive(_provider_url(_start(first, "lena@a.example")), "lena")
    assert _back(first, callback).status_code == 302
    thief = app.server.test_client()  # a flow of its own, with the used code pasted in
    own = parse_qs(urlsplit(drive(_provider_url(_start(thief, "lena@a.example")), "lena")).query)
    used = parse_qs(urlsplit(callback).query)
    replay = thief.get("/auth/oidc/callback?" + urlencode({"code": used["code"][0], "state": own["state"][0],
                                                             "iss": own["iss"][0]}))
    assert replay.status_code == 403 and not _signed_in(thief)
    assert _refusals(db) == ["code_refused"]


def test_code_from_another_organizations_provider_is_refused(app, db, people):
    client = app.server.test_client()
    a_callback = parse_qs(urlsplit(drive(_provider_url(_start(client, "lena@a.example")), "lena")).query)
    b_callback = parse_qs(urlsplit(drive(_provider_url(_start(client, "org-b")), "bea")).query)
    mixed = {"code": a_callback["code"][0], "state": b_callback["state"][0], "iss": a_callback["iss"][0]}
    response = client.get("/auth/oidc/callback?" + urlencode(mixed))
    assert response.status_code == 403 and not _signed_in(client)
    assert _refusals(db) == ["wrong_issuer"]


def test_a_provider_cannot_sign_in_another_organizations_address(app, db, people):
    client = app.server.test_client()
    response = company_sign_in(client, "org-a", "mallory")  # A's provider vouching for boss@b.example
    assert response.status_code == 403 and WRONG_ORGANIZATION in _text(response)
    response = company_sign_in(client, "org-b", "lena")  # A's member at B's provider
    assert response.status_code == 403 and WRONG_ORGANIZATION in _text(response)
    assert not _signed_in(client)
    assert _refusals(db) == ["wrong_organization", "wrong_organization"]


def test_a_company_account_is_linked_once_and_an_address_reused_at_the_provider_is_refused(app, db, people):
    """The first company sign-in ties (issuer, subject) to the member; another account of the provider that now
    carries the same e-mail address is refused instead of opening the member's account."""
    assert company_sign_in(app.server.test_client(), "lena@a.example", "lena").status_code == 302
    with db.session() as s:
        [link] = s.scalars(select(SSOIdentity)).all()
    assert (link.subject, link.user_id) == ("lena", people["lena"]) and link.issuer.startswith("http://127.0.0.1:")
    client = app.server.test_client()
    response = company_sign_in(client, "lena@a.example", "impostor")
    assert response.status_code == 403 and LINKED_ELSEWHERE in _text(response)
    assert not _signed_in(client) and _refusals(db) == ["linked_elsewhere"]
    again = app.server.test_client()
    assert company_sign_in(again, "lena@a.example", "lena").status_code == 302 and _signed_in(again)
    assert len(_audit(db, Action.SSO_LINKED)) == 1  # linked once, matched since


def test_a_linked_account_keeps_signing_in_its_member_when_the_address_changes(app, db, people):
    """Claims as the provider would send them after renaming lena's address: the link, not the address,
    names the member (and nobody else holds the new address)."""
    assert company_sign_in(app.server.test_client(), "lena@a.example", "lena").status_code == 302
    sso = app.server.extensions["digicadence.sso"]
    with db.session() as s:
        link = s.scalars(select(SSOIdentity)).one()
        org = s.get(User, people["lena"]).organization_id
        claims = {"iss": link.issuer, "sub": "lena", "email": "lena.berg@a.example", "email_verified": True,
                  "groups": ["marketing"]}
        assert sso._person(s, org, claims).id == people["lena"]
        assert s.get(User, people["lena"]).email == "lena@a.example"  # our address is the administrator's to change


def test_claim_that_maps_to_no_role_is_refused_with_a_clear_page(app, db, people):
    client = app.server.test_client()
    response = company_sign_in(client, "sam@a.example", "sam")
    assert response.status_code == 403 and NO_ROLE in _text(response)
    assert "Company sign-in refused" in _text(response)
    assert not _signed_in(client) and _refusals(db) == ["unmapped"]


def test_unverified_address_is_refused(app, db, people):
    response = company_sign_in(app.server.test_client(), "org-a", "unverified")
    assert response.status_code == 403 and _refusals(db) == ["email_unverified"]


def test_uninvited_person_is_refused_while_jit_is_off(app, db, people):
    client = app.server.test_client()
    response = company_sign_in(client, "newbie@a.example", "newbie")
    assert response.status_code == 403 and NOT_INVITED in _text(response)
    with db.session() as s:
        assert s.scalar(select(User.id).where(User.email == "newbie@a.example")) is None
    assert _refusals(db) == ["not_invited"]


def test_jit_provisioning_creates_the_member_with_the_mapped_role(app, db, oidc_providers):
    sso_world(db, _box(app), oidc_providers, jit=True)
    client = app.server.test_client()
    assert company_sign_in(client, "newbie@a.example", "newbie").status_code == 302
    assert _signed_in(client)
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == "newbie@a.example"))
        assert user is not None and user.password_hash is None
        assert s.scalar(select(RoleGrant.scope_type).where(RoleGrant.user_id == user.id)) == "organization"


def test_no_mfa_at_the_provider_asks_for_our_code(app, db, people):
    client = app.server.test_client()
    response = company_sign_in(client, "otto@a.example", "otto")
    assert response.status_code == 302 and "/login/mfa" in response.location
    assert not _signed_in(client)
    step = client.get(response.location)
    done = client.post(response.location, data={"code": pyotp.TOTP(DEMO_TOTP).now(),
                                                "csrf_token": form_token(step.get_data(as_text=True))})
    assert done.status_code == 302 and _signed_in(client)
    assert _audit(db, Action.SSO_SIGN_IN)[0].data["mfa_pending"] is True
    page = client.get("/login/password")  # the SSO sign-out survived the second step
    out = client.post("/logout", data={"csrf_token": form_token(page.get_data(as_text=True))})
    assert urlsplit(out.location).path == "/session/end"


def test_local_passwords_off_refuse_members_but_not_administrators(app, db, oidc_providers):
    sso_world(db, _box(app), oidc_providers, passwords=False)
    member = sign_in(app.server.test_client(), "pat@a.example")
    assert member.status_code == 401 and PASSWORDS_OFF in _text(member)
    admin = sign_in(app.server.test_client(), "olga@a.example")  # break-glass: the password still works
    assert admin.status_code == 302
    with db.session() as s:
        failed = s.scalars(select(AuditEvent.data).where(AuditEvent.action == Action.SIGN_IN_FAILED)).all()
    assert [d["reason"] for d in failed] == ["passwords_off"]


def test_invitation_is_answered_by_the_first_company_sign_in(app, db, oidc_providers):
    _world, people = sso_world(db, _box(app), oidc_providers)
    with db.session() as s:
        from datetime import timedelta

        from core.models.base import utcnow
        s.add(AccountToken(user_id=people["lena"], purpose="invite", token_hash="0" * 64,
                           expires_at=utcnow() + timedelta(days=1)))
    assert company_sign_in(app.server.test_client(), "lena@a.example", "lena").status_code == 302
    with db.session() as s:
        assert s.scalar(select(AccountToken.used_at).where(AccountToken.user_id == people["lena"])) is not None


def test_company_sign_in_replaces_a_temporary_password(app, db, people):
    with db.session() as s:
        user = s.get(User, people["lena"])
        user.password_hash, user.must_change_password = "$2b$04$" + "x" * 53, True
    client = app.server.test_client()
    response = company_sign_in(client, "lena@a.example", "lena")
    assert response.status_code == 302 and response.location == "/"  # not the forced password change
    with db.session() as s:
        user = s.get(User, people["lena"])
        assert user.password_hash is None and not user.must_change_password


def test_the_data_download_lists_the_company_account_and_erasure_removes_it(app, db, people):
    from core.models.base import utcnow
    from core.security.personal_data import erase, export

    assert company_sign_in(app.server.test_client(), "lena@a.example", "lena").status_code == 302
    with db.session() as s:
        user = s.get(User, people["lena"])
        assert [a["subject"] for a in export(s, user)["company_accounts"]] == ["lena"]
        erase(s, user, utcnow())
    with db.session() as s:
        assert s.scalars(select(SSOIdentity)).all() == []
