"""Security alerts in a real browser on `python app.py`: the Organization Administrator sets the thresholds and the
security contacts on the Settings page (a burst of one account is refused in words, nothing is saved), then sees
the alerts a pass raised on the Audit page, each with where it was sent (a real aiosmtpd server started here).

Pictures at 1400 and 390 px go to /tmp/wt-secalert-shots/ (for a person to look at; never committed).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.config import MailSettings
from core.db import Database
from core.models import User
from core.models.base import utcnow
from core.security import Forbidden, SecuritySettings, load_principal
from core.security.accounts import Accounts
from core.security.authorizer import deny
from core.security.crypto import SecretBox, load_keys
from core.security_alerts.run import _release, _take_lease, run_pass
from core.settings import read_settings, save_settings
from core.subscriptions import delivery
from tests.browser.conftest import DEMO_EMAILS, browser_sign_in, screenshot_at
from tests.receivers import SmtpServer
from tests.support import DEMO_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/wt-secalert-shots")
CONTACT = "security@demo.example"


def _shot(driver, name: str, width: int) -> Path:
    """The whole page at `width` CSS pixels; nothing sticks out sideways."""
    path = screenshot_at(driver, SHOTS, name, width)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def _type(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)


def _loaded(driver) -> None:
    field = "settings-lockout_burst_accounts"
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, field)
                                    and d.find_element(By.ID, field).get_attribute("value") not in ("", None))


def _events(db: Database, instance: Path) -> None:
    """What the pass will find: the Viewer refused three times, their two-factor sign-in reset by the
    Organization Administrator, and two sign-ins of theirs from networks they never used."""
    with db.session() as s:
        ids = dict(s.execute(select(User.email, User.id).where(User.email.in_(
            [DEMO_EMAILS["Viewer"], DEMO_EMAILS["Organization Administrator"]]))).all())
    viewer = load_principal(db, ids[DEMO_EMAILS["Viewer"]])
    for _ in range(3):
        with pytest.raises(Forbidden):
            deny(viewer, "user:manage", ("organization", viewer.organization_id))
    accounts = Accounts(db, SecuritySettings.from_env(), SecretBox(load_keys((), instance)))
    accounts.reset_mfa(load_principal(db, ids[DEMO_EMAILS["Organization Administrator"]]), viewer.user_id)
    for ip in ("203.0.113.10", "198.51.100.23"):
        assert accounts.authenticate(DEMO_EMAILS["Viewer"], DEMO_PASSWORD, personal={"ip": ip}).ok


def test_thresholds_and_contacts_then_the_alert_list(browser, live_app):
    url, db = live_app.url, Database(live_app.database_url)
    browser_sign_in(browser, url, "Organization Administrator")
    browser.get(url + "/admin/settings")
    _loaded(browser)
    assert browser.find_element(By.ID, "settings-lockout_burst_accounts").get_attribute("value") == "5"
    _type(browser, "settings-lockout_burst_accounts", "1")
    _type(browser, "settings-denial_spike_count", "3")
    _type(browser, "settings-security_contacts", f"{CONTACT}\nnot an address")
    browser.find_element(By.ID, "settings-save").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "settings-invalid"))
    refusal = browser.find_element(By.ID, "settings-invalid").text
    assert refusal.startswith("Nothing was saved.")
    assert "Accounts locked in a burst must be a whole number between 2 and 1000." in refusal
    assert "“not an address” is not an e-mail address" in browser.find_element(
        By.ID, "settings-security_contacts-feedback").text
    _shot(browser, "settings-refused", 1400)
    _shot(browser, "settings-refused", 390)

    _type(browser, "settings-lockout_burst_accounts", "3")
    _type(browser, "settings-security_contacts", CONTACT)
    browser.find_element(By.ID, "settings-save").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "settings-saved"))
    saved = browser.find_element(By.ID, "settings-saved").text
    assert "Lockout burst: accounts: 5 → 3" in saved and "Denial spike: refusals of one person: 20 → 3" in saved
    assert f"Security contacts: nobody → {CONTACT}" in saved
    _shot(browser, "settings-saved", 1400)
    _shot(browser, "settings-saved", 390)

    smtp = SmtpServer()
    smtp.start()
    delivery.configure(MailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="alerts@dc.test",
                                    timeout_s=5, public_url=url, max_attempts=3, retry_base_s=1, tick_s=0), "")
    try:
        run_pass(db)  # what the other browser tests left, so this pass reads only the events below
        deadline = time.monotonic() + 60  # hold the app's own timer off them (its mail is not configured)
        while not _take_lease(db, utcnow()):
            assert time.monotonic() < deadline, "the app's pass kept its lease for a minute"
            time.sleep(0.5)
        _events(db, live_app.instance)
        _release(db)
        result = run_pass(db)
    finally:
        smtp.stop()
        delivery.configure(MailSettings(), "")
    assert result.get("denial_spike") == 1 and result.get("mfa_reset") == 1 and result.get("new_network", 0) >= 1
    subjects = [" ".join(m["Subject"].split()) for m in smtp.inbox.to(CONTACT)]
    assert "[Digi-Cadence security] Two-factor sign-in was reset for viewer@demo.digicadence.test" in subjects

    browser.get(url + "/admin/audit")
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#admin-audit-security .security-alert"))
    listed = browser.find_element(By.ID, "admin-audit-security").text
    assert "Two-factor sign-in was reset for viewer@demo.digicadence.test" in listed
    assert "viewer@demo.digicadence.test was refused 3 times within 10 minutes" in listed
    assert "signed in from a new network (198.51.100.0/24)" in listed
    assert f"e-mail to {CONTACT}: sent" in listed
    _shot(browser, "audit-security-alerts", 1400)
    _shot(browser, "audit-security-alerts", 390)

    # Put the settings back for the other browser tests.
    with db.session() as s:
        admin = s.scalar(select(User.id).where(User.email == DEMO_EMAILS["Organization Administrator"]))
    principal = load_principal(db, admin)
    org = principal.organization_id
    values = read_settings(db, principal, org, SecuritySettings.from_env()).values()
    save_settings(db, principal, org, {**values, "lockout_burst_accounts": 5, "denial_spike_count": 20,
                                       "security_contacts": []}, SecuritySettings.from_env())
    db.dispose()
