"""The administration and profile pages in a real browser, as the Organization Administrator.

A locked-out account shows on the Users page and the Unlock button frees it; a new user's temporary
password is shown once; the Access, Audit and Profile pages load their grids and the audit chain
verifies. Screenshots of each page go to artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import DEMO_EMAILS, browser_sign_in, screenshot

pytestmark = pytest.mark.browser
LOCKED = "Brand Manager"


def _lock_out(base_url: str, email: str) -> None:
    """Five wrong passwords through the real sign-in form lock the account."""
    http = requests.Session()
    for _ in range(5):
        form = http.get(base_url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        response = http.post(base_url + "/login", data={"email": email, "password": "wrong-password-000",
                                                         "csrf_token": token}, timeout=10)
        assert response.status_code == 401


def _rows(driver, grid_id: str):
    return driver.find_elements(By.CSS_SELECTOR, f"#{grid_id} .ag-center-cols-container .ag-row")


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, text: str, timeout: int = 30) -> None:
    WebDriverWait(driver, timeout).until(lambda d: text in _text(d))


def _select_row(driver, grid_id: str, text: str) -> None:
    """Click the grid row whose pinned e-mail cell shows `text`."""
    cell = next(c for c in driver.find_elements(By.CSS_SELECTOR, f"#{grid_id} .ag-pinned-left-cols-container .ag-row")
                if text in c.text)
    row_id = cell.get_attribute("row-id")
    driver.find_element(By.CSS_SELECTOR, f'#{grid_id} .ag-center-cols-container .ag-row[row-id="{row_id}"] '
                                         ".ag-cell").click()


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_admin_pages_as_the_organization_administrator(browser, live_url):
    locked_email = DEMO_EMAILS[LOCKED]
    _lock_out(live_url, locked_email)
    browser_sign_in(browser, live_url, "Organization Administrator")

    browser.get(live_url + "/admin/users")
    WebDriverWait(browser, 60).until(lambda d: len(_rows(d, "admin-users-grid")) >= 5)
    locked_note = browser.find_element(By.ID, "admin-users-locked").text
    assert locked_email in locked_note and "until" in locked_note
    assert "Traceback" not in _text(browser)
    screenshot(browser, "admin-users")

    _select_row(browser, "admin-users-grid", locked_email)
    unlock = browser.find_element(By.ID, "admin-users-unlock")
    WebDriverWait(browser, 20).until(lambda d: unlock.is_enabled())
    unlock.click()
    _wait_text(browser, f"{locked_email} is unlocked")
    WebDriverWait(browser, 20).until(lambda d: not d.find_elements(By.ID, "admin-users-locked"))

    browser.find_element(By.ID, "admin-users-new").click()
    email = browser.find_element(By.ID, "admin-users-email")
    WebDriverWait(browser, 10).until(lambda d: email.is_displayed())
    email.send_keys("new.colleague@aurora.test")
    browser.find_element(By.ID, "admin-users-name").send_keys("New Colleague")
    browser.find_element(By.CSS_SELECTOR, "#admin-users-method input[value='password']").click()
    browser.find_element(By.ID, "admin-users-create").click()
    _wait_text(browser, "Temporary password (shown only now)")
    WebDriverWait(browser, 20).until(lambda d: "new.colleague@aurora.test" in d.find_element(
        By.ID, "admin-users-grid").text)
    screenshot(browser, "admin-users-created")

    browser.get(live_url + "/admin/access")
    WebDriverWait(browser, 60).until(lambda d: len(_rows(d, "admin-access-grants")) >= 1)
    assert "Custom roles" in _text(browser)
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                               "#admin-access-role-permissions input"))
    screenshot(browser, "admin-access")

    browser.get(live_url + "/admin/audit")
    WebDriverWait(browser, 60).until(lambda d: len(_rows(d, "admin-audit-grid")) >= 5)
    assert "auth.locked" in browser.find_element(By.ID, "admin-audit-grid").text
    browser.find_element(By.ID, "admin-audit-verify").click()
    _wait_text(browser, "Chain intact")
    screenshot(browser, "admin-audit")

    browser.get(live_url + "/profile")
    WebDriverWait(browser, 60).until(lambda d: len(_rows(d, "profile-sessions")) >= 1)
    text = _text(browser)
    assert DEMO_EMAILS["Organization Administrator"] in text and "this session" in text
    screenshot(browser, "profile")
    assert _severe(browser) == []

    # The unlocked account signs in again, so later journeys find it as they expect.
    browser.delete_all_cookies()
    browser_sign_in(browser, live_url, LOCKED)
    assert "/login" not in browser.current_url
