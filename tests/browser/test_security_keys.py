"""Security keys and passkeys in a real Chromium, with its virtual authenticator (WebDriver's WebAuthn API).

One person, made for this module in the live app's database, registers a key on the Profile page; then
the key is the second factor after the password, a passkey signs in with no password, an unknown key and a
removed key are refused, and a cloned key — the same credential re-added with its older sign counter — is
refused and leaves a `security_key.clone_suspected` audit row. The page is served on http://localhost:
WebAuthn needs a domain for the relying party, not an IP address.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import Credential, VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.db import Database
from core.models import AuditEvent, Organization, Role, RoleGrant, User
from core.models.security import OrganizationSecurity, SecurityKey
from core.security.crypto import SecretBox, load_keys
from core.security.passwords import hash_password
from tests.browser.conftest import _driver, screenshot
from tests.support import DEMO_PASSWORD, DEMO_TOTP

EMAIL = "kim.keys@demo.digicadence.test"


@pytest.fixture(scope="module")
def site(live_app) -> Iterator[tuple[str, Database]]:
    """The live app on http://localhost:PORT, and its database with one Analyst of the first organization
    who has a password and no second factor yet."""
    db = Database(live_app.database_url)
    with db.session() as s:
        org = s.scalar(select(Organization.id).order_by(Organization.id))
        role = s.scalar(select(Role.id).where(Role.name == "Analyst", Role.organization_id.is_(None)))
        user = User(email=EMAIL, name="Kim Keys", organization_id=org,
                    password_hash=hash_password(DEMO_PASSWORD, rounds=4))
        s.add(user)
        s.flush()
        s.add(RoleGrant(user_id=user.id, role_id=role, scope_type="organization", scope_id=org))
    yield live_app.url.replace("127.0.0.1", "localhost"), db
    db.dispose()


def _authenticator(driver, *credentials: Credential) -> None:
    """A fresh virtual authenticator (CTAP2 over USB, resident keys, user verification) holding `credentials`."""
    if driver.virtual_authenticator_id:
        driver.remove_virtual_authenticator()
    options = VirtualAuthenticatorOptions(protocol=VirtualAuthenticatorOptions.Protocol.CTAP2,
                                          transport=VirtualAuthenticatorOptions.Transport.USB,
                                          has_resident_key=True, has_user_verification=True, is_user_verified=True)
    driver.add_virtual_authenticator(options)
    for credential in credentials:
        driver.add_credential(credential)


def _copy(credential: Credential, sign_count: int) -> Credential:
    """The same credential (id, user, private key) with another sign counter: a clone, or a restore.
    Selenium's properties give base64 text; the constructor wants the bytes it keeps."""
    return Credential.create_resident_credential(credential._id, credential.rp_id, credential._user_handle,
                                                 credential._private_key, sign_count)


@pytest.fixture(scope="module")
def driver(_chrome_available) -> Iterator:
    driver = _driver(1440, 1000)
    _authenticator(driver)
    yield driver
    driver.quit()


def _password_step(driver, base: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login?next=/profile")
    driver.find_element(By.ID, "email").send_keys(EMAIL)
    driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


def _on_profile(driver) -> None:
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/profile") and d.find_elements(
        By.ID, "security-key-add"), message="not on the profile page")


def _passkey_sign_in(driver, base: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login?next=/profile")
    driver.find_element(By.ID, "passkey-sign-in").click()


def _message(driver) -> str:
    WebDriverWait(driver, 20).until(lambda d: "alert-danger" in (d.find_element(By.ID, "webauthn-message")
                                                                 .get_attribute("class") or ""),
                                    message="no refusal shown")
    return driver.find_element(By.ID, "webauthn-message").text


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.session() as s:
        user = s.scalar(select(User.id).where(User.email == EMAIL))
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action, (AuditEvent.actor_id == user) | (
            AuditEvent.target_id == str(user))).order_by(AuditEvent.id)))


def _stored(db: Database) -> int:
    """The sign counter the server holds for the person's "Blue key"."""
    with db.session() as s:
        return s.scalar(select(SecurityKey.sign_count).join(User).where(User.email == EMAIL,
                                                                        SecurityKey.name == "Blue key"))


def _add_key(driver, name: str) -> None:
    field = driver.find_element(By.ID, "security-key-name")
    field.clear()
    field.send_keys(name)
    driver.find_element(By.ID, "security-key-add").click()
    WebDriverWait(driver, 20).until(lambda d: name in d.find_element(By.ID, "profile-keys").text,
                                    message=f"{name} not listed")


@pytest.fixture(scope="module")
def enrolled(site, driver) -> Credential:
    """The person signs in with the password and registers "Blue key" on the Profile page."""
    base, _db = site
    _password_step(driver, base)
    _on_profile(driver)
    screenshot(driver, "security-keys-empty-1440")
    _add_key(driver, "Blue key")
    screenshot(driver, "security-keys-added-1440")
    [credential] = driver.get_credentials()
    return credential


def test_a_key_is_registered_on_the_profile_page(site, driver, enrolled):
    _base, db = site
    assert "Blue key" in driver.find_element(By.ID, "profile-keys").text
    assert "added" in driver.find_element(By.ID, "security-key-message").text
    with db.session() as s:
        [key] = s.scalars(select(SecurityKey).join(User).where(User.email == EMAIL)).all()
    assert (key.name, key.is_passkey) == ("Blue key", True)
    assert enrolled.is_resident_credential and enrolled.rp_id == "localhost"
    assert [e.data["passkey"] for e in _events(db, "security_key.added")] == [True]


def test_the_key_is_the_second_factor_after_the_password(site, driver, enrolled):
    base, db = site
    _password_step(driver, base)
    WebDriverWait(driver, 20).until(lambda d: "/login/mfa" in d.current_url)
    assert not driver.find_elements(By.ID, "code"), "no app is set up: no code field"
    screenshot(driver, "security-keys-second-factor-1440")
    driver.find_element(By.ID, "security-key-sign-in").click()
    _on_profile(driver)
    assert _events(db, "auth.sign_in")[-1].data["factor"] == "security_key"


def test_a_passkey_signs_in_without_a_password(site, driver, enrolled):
    base, db = site
    driver.delete_all_cookies()
    driver.get(base + "/login")
    screenshot(driver, "sign-in-with-passkey-1440")
    _passkey_sign_in(driver, base)
    _on_profile(driver)
    assert _events(db, "auth.sign_in")[-1].data["factor"] == "passkey"


def test_an_unknown_or_removed_key_is_refused(site, driver, enrolled):
    base, db = site
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    mine = driver.get_credentials()[0]
    try:
        _authenticator(driver, Credential.create_resident_credential(
            secrets.token_bytes(16), "localhost", secrets.token_bytes(32), stranger, 0))
        _passkey_sign_in(driver, base)
        assert "not registered here" in _message(driver)
        assert "/login" in driver.current_url
        # A second key, registered and then removed on the Profile page, signs in no more.
        _authenticator(driver, mine)
        _passkey_sign_in(driver, base)
        _on_profile(driver)
        _authenticator(driver)
        _add_key(driver, "Spare key")
        spare = driver.get_credentials()[0]
        row = driver.find_element(By.XPATH, "//div[@id='profile-keys']//div[@role='row'][.//*[text()='Spare key']]")
        # Under "Blue key", used and so dated, AG Grid's date inference would blank the new key's "never".
        assert row.find_element(By.XPATH, ".//div[@col-id='last_used']").text == "never"
        row.find_element(By.XPATH, ".//div[@col-id='name']").click()
        driver.find_element(By.ID, "profile-keys-remove").click()
        WebDriverWait(driver, 20).until(lambda d: "Spare key" not in d.find_element(By.ID, "profile-keys").text)
        _passkey_sign_in(driver, base)
        assert "not registered here" in _message(driver)
        assert [e.data["reason"] for e in _events(db, "auth.sign_in_failed")][-1:] == ["unknown_key"]
        assert spare.id != mine.id
    finally:  # the real key again, its counter where the server last saw it
        _authenticator(driver, _copy(mine, _stored(db)))


def test_a_cloned_key_with_a_stale_counter_is_refused(site, driver, enrolled):
    base, db = site
    [original] = driver.get_credentials()
    stale = original.sign_count
    _passkey_sign_in(driver, base)  # the real key: its counter moves on, and the server stores it
    _on_profile(driver)
    stored = _stored(db)
    assert stored > stale
    try:
        _authenticator(driver, _copy(original, stale))  # the copy, made before that sign-in
        _passkey_sign_in(driver, base)
        assert "copied" in _message(driver)
        screenshot(driver, "sign-in-cloned-key-refused-1440")
        alarm = _events(db, "security_key.clone_suspected")[-1]
        assert alarm.data["stored_count"] == stored and alarm.data["presented_count"] <= stored
    finally:
        _authenticator(driver, _copy(original, stored))
    _passkey_sign_in(driver, base)  # the real key, with its own counter, still works
    _on_profile(driver)


def test_pages_at_phone_width(site, phone, driver, enrolled):
    """The sign-in page with its passkey button and the Security keys card, 390 px wide (to be looked at).
    Last in the module: the phone signs in with a copy of the key, which leaves the desktop's copy behind."""
    base, db = site
    phone.get(base + "/login?next=/profile")
    assert phone.find_element(By.ID, "passkey-sign-in").is_displayed()
    screenshot(phone, "sign-in-with-passkey-390")
    _authenticator(phone, _copy(driver.get_credentials()[0], _stored(db)))
    phone.find_element(By.ID, "passkey-sign-in").click()
    _on_profile(phone)
    WebDriverWait(phone, 20).until(lambda d: "Blue key" in d.find_element(By.ID, "profile-keys").text)
    phone.execute_script("document.getElementById('profile-security-keys').scrollIntoView()")
    screenshot(phone, "security-keys-390")


def test_an_administrator_is_sent_to_add_a_key_first(live_app, site, _chrome_available):
    """The second organization requires a key of administrators: one who has only the app's code signs in with
    it, lands on the page that adds a key, and reaches the page they asked for once the key is added."""
    base, db = site
    email = "ada.admin@demo.digicadence.test"
    box = SecretBox(load_keys((), live_app.instance))  # the instance key the app uses for TOTP secrets
    with db.session() as s:
        second = s.scalars(select(Organization.id).order_by(Organization.id)).all()[1]
        role = s.scalar(select(Role.id).where(Role.name == "Organization Administrator",
                                              Role.organization_id.is_(None)))
        admin = User(email=email, name="Ada Admin", organization_id=second, mfa_enabled=True,
                     password_hash=hash_password(DEMO_PASSWORD, rounds=4), mfa_secret_encrypted=box.encrypt(DEMO_TOTP))
        s.add(admin)
        s.flush()
        s.add(RoleGrant(user_id=admin.id, role_id=role, scope_type="organization", scope_id=second))
        policy = s.get(OrganizationSecurity, second) or OrganizationSecurity(organization_id=second)
        policy.security_key_for_admins = True
        s.add(policy)
    driver = _driver(1440, 1000)
    try:
        _authenticator(driver)
        driver.get(base + "/login?next=/profile")
        driver.find_element(By.ID, "email").send_keys(email)
        driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 20).until(lambda d: "/login/mfa" in d.current_url)
        driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(DEMO_TOTP).now())
        driver.find_element(By.ID, "verify").click()
        WebDriverWait(driver, 20).until(lambda d: "/auth/webauthn/enrol" in d.current_url)
        driver.get(base + "/admin/users")  # every page leads back here until a key is added
        assert "/auth/webauthn/enrol" in driver.current_url
        screenshot(driver, "security-key-required-1440")
        driver.find_element(By.ID, "security-key-name").send_keys("Ada's key")
        driver.find_element(By.ID, "security-key-add").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/admin/users"))
        WebDriverWait(driver, 30).until(lambda d: "Users" in d.find_element(By.TAG_NAME, "h2").text)
        with db.session() as s:
            assert s.scalar(select(SecurityKey.name).join(User).where(User.email == email)) == "Ada's key"
    finally:
        driver.quit()
