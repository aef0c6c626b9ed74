"""The id_token checks on real tokens from a real provider, the nonce's single use, and the settings' rules.

Each token comes from tests/oidc's provider for a flow started here; the validator is then given
one expectation that does not hold (issuer, audience, nonce, clock) and must refuse it.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.models.sso import OrganizationSSO
from core.security.authorizer import Forbidden
from core.security.crypto import SecretBox
from core.security.oidc import Client, Discovery, Flow, SSORefused, authorization_url, exchange_code, validate_id_token
from core.security.principal import load_principal
from core.security.sso import SingleSignOn
from core.security.sso_settings import SSOSettingsInvalid, parse_rules, rules_as_text, save
from tests.integration.security.conftest import FAST, add_user, build_world
from tests.oidc_provider import REDIRECT_URI, drive


@pytest.fixture(scope="module")
def real_token(oidc_providers):
    """(provider, flow, token response) for lena at provider A, obtained through the whole code flow."""
    provider = oidc_providers["A"]
    discovery = Discovery()
    client = Client(provider.issuer, provider.client_id, provider.client_secret, REDIRECT_URI)
    flow = Flow.new(1, "/")
    callback = drive(authorization_url(discovery, client, flow), "lena")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    return provider, flow, exchange_code(discovery, client, flow, code), discovery


def _check(real_token, **change):
    provider, flow, token, discovery = real_token
    expected = {"keys": discovery.keys(provider.issuer), "issuer": provider.issuer, "client_id": provider.client_id,
                "nonce": flow.nonce, "access_token": token.get("access_token")} | change
    return validate_id_token(token["id_token"], **expected)


def test_a_real_token_passes_every_check(real_token):
    claims = _check(real_token)
    assert claims["email"] == "lena@a.example" and "mfa" in claims["amr"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"issuer": "http://127.0.0.1:1"}, "wrong_issuer"),
    ({"client_id": "someone-else"}, "wrong_audience"),
    ({"nonce": "not-the-nonce-we-sent"}, "wrong_nonce"),
    ({"now": time.time() + 2 * 3600}, "expired"),  # the provider's id_token lives an hour
    ({"now": time.time() - 3600}, "issued_in_future"),
])
def test_a_token_that_is_not_for_us_now_is_refused(real_token, change, reason):
    with pytest.raises(SSORefused) as refused:
        _check(real_token, **change)
    assert refused.value.reason == reason


def test_a_token_signed_by_another_provider_is_refused(real_token, oidc_providers):
    other = oidc_providers["B"]
    with pytest.raises(SSORefused) as refused:
        _check(real_token, keys=Discovery().keys(other.issuer))
    assert refused.value.reason == "bad_signature"


def test_a_tampered_token_is_refused(real_token):
    provider, flow, token, discovery = real_token
    header, body, signature = token["id_token"].split(".")
    forged = ".".join([header, body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB"), signature])
    with pytest.raises(SSORefused) as refused:
        validate_id_token(forged, keys=discovery.keys(provider.issuer), issuer=provider.issuer,
                          client_id=provider.client_id, nonce=flow.nonce)
    assert refused.value.reason == "bad_signature"


def test_metadata_naming_another_issuer_is_refused(oidc_providers):
    provider = oidc_providers["A"]
    claimed = provider.issuer.replace("127.0.0.1", "localhost")  # the same server, another name
    with pytest.raises(SSORefused) as refused:
        Discovery().metadata(claimed)
    assert refused.value.reason == "wrong_issuer"


def test_a_nonce_signs_in_once(db):
    sso = SingleSignOn(_accounts(db))
    flow = Flow.new(1, "/")
    with db.session() as s:
        sso._spend_nonce(s, flow)
    with pytest.raises(SSORefused) as refused, db.session() as s:
        sso._spend_nonce(s, flow)
    assert refused.value.reason == "replayed"


def _accounts(db):
    from core.security.accounts import Accounts

    return Accounts(db, FAST, SecretBox([Fernet.generate_key()]))


# ---- the settings --------------------------------------------------------------------------------------


GOOD = {"enabled": True, "issuer": "https://login.a.example", "client_id": "digicadence",
        "client_secret": "s3cret-value", "allowed_domains": "a.example, A.example", "role_mapping":
        "groups = marketing -> Analyst @ organization\ngroups = brand-team -> Brand Manager @ brand {b1}"}


@pytest.fixture
def admin_world(db):
    world = build_world(db)
    admin = load_principal(db, add_user(db, world, "olga@a.example", "A",
                                        [("Organization Administrator", "organization", "A")]))
    viewer = load_principal(db, add_user(db, world, "vic@a.example", "A", [("Viewer", "organization", "A")]))
    return world, admin, viewer


def _values(world, **change):
    return {**GOOD, "role_mapping": GOOD["role_mapping"].format(b1=world.brands["Ab1"])} | change


def test_settings_are_saved_with_the_secret_encrypted(db, admin_world):
    world, admin, _viewer = admin_world
    box = SecretBox([Fernet.generate_key()])
    saved = save(db, admin, world.orgs["A"], _values(world), box)
    assert saved.allowed_domains == ["a.example"] and saved.has_secret and not saved.jit_provisioning
    assert [r["role"] for r in saved.role_mapping] == ["Analyst", "Brand Manager"]
    with db.session() as s:
        stored = s.scalar(select(OrganizationSSO.client_secret_encrypted))
    assert "s3cret" not in stored and box.decrypt(stored) == "s3cret-value"
    again = save(db, admin, world.orgs["A"], _values(world, client_secret=""), box)  # blank keeps the secret
    assert again.has_secret
    assert parse_rules(rules_as_text(saved.role_mapping)) == saved.role_mapping


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"issuer": "http://login.a.example"}, "issuer", "https://"),
    ({"allowed_domains": "not a domain!"}, "allowed_domains", "not an e-mail domain"),
    ({"role_mapping": "groups = x -> System Administrator @ organization"}, "role_mapping", "System Administrator"),
    ({"role_mapping": "groups = x -> Nobody @ organization"}, "role_mapping", "no role named"),
    ({"role_mapping": "groups = x -> Analyst @ brand 999999"}, "role_mapping", "no brand"),
    ({"role_mapping": "groups = x -> Organization Administrator @ project 1"}, "role_mapping", "cannot be given"),
    ({"role_mapping": "this is not a rule"}, "role_mapping", "Line 1 is not a rule"),
    ({"role_mapping": ""}, "role_mapping", "at least one rule"),
])
def test_bad_settings_are_refused_in_plain_words(db, admin_world, change, field, words):
    world, admin, _viewer = admin_world
    with pytest.raises(SSOSettingsInvalid) as refused:
        save(db, admin, world.orgs["A"], _values(world, **change), SecretBox([Fernet.generate_key()]))
    assert words in refused.value.problems[field]
    with db.session() as s:
        assert s.scalar(select(OrganizationSSO.organization_id)) is None  # nothing was stored


def test_a_domain_signs_in_to_one_organization_only(db, admin_world):
    world, admin, _viewer = admin_world
    box = SecretBox([Fernet.generate_key()])
    save(db, admin, world.orgs["A"], _values(world), box)
    root = load_principal(db, add_user(db, world, "root@ops.example", None, [("System Administrator", "system", None)]))
    with pytest.raises(SSOSettingsInvalid) as refused:
        save(db, root, world.orgs["B"], _values(world, role_mapping="groups = x -> Viewer @ organization"), box)
    assert "another organization" in refused.value.problems["allowed_domains"]


def test_only_who_manages_settings_and_roles_may_save(db, admin_world):
    world, admin, viewer = admin_world
    box = SecretBox([Fernet.generate_key()])
    with pytest.raises(Forbidden):
        save(db, viewer, world.orgs["A"], _values(world), box)
    with pytest.raises(Forbidden):  # another organization's settings
        save(db, admin, world.orgs["B"], _values(world), box)
