"""Company sign-in in a real Chromium: an Organization Administrator sets up single sign-on on the
settings page, then a member signs in through the real OpenID provider (tests/oidc) and out again.

This is the path the unit of HTML cannot show: the sign-in form may only post to this site (CSP
form-action), so the hand-over to the provider must survive a real browser's rules.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot
from tests.oidc_provider import start_providers

pytestmark = pytest.mark.browser
ADMIN = "Organization Administrator"
MEMBER = {"planner": {"sub": "planner", "email": "portfolio@demo.digicadence.test", "email_verified": True,
                      "groups": ["planners"], "name": "Pat Planner", "amr": ["pwd", "mfa"]}}
# The demo Portfolio Manager's own grant, so other browser tests see the same people.
RULE = "groups = planners -> Portfolio Manager @ organization"


@pytest.fixture(scope="module")
def provider(live_url, tmp_path_factory):
    with start_providers(tmp_path_factory.mktemp("oidc-browser"), {"demo": MEMBER}, app_url=live_url) as started:
        yield started["demo"]


def _type(driver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    if text:
        field.send_keys(text)


def _wait_text(driver, text: str, timeout: int = 30) -> None:
    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text,
                                         message=f"never showed {text!r}")


def _set_enabled(driver, live_url: str, on: bool) -> None:
    switch = driver.find_element(By.ID, "sso-enabled")
    if switch.is_selected() != on:
        driver.execute_script("arguments[0].click()", switch)


def _on_a_phone(phone, live_url: str) -> None:
    """The sign-in page with company sign-in, and the settings page, at 390 px: nothing wider than the screen."""
    phone.get(live_url + "/login")
    WebDriverWait(phone, 20).until(lambda d: d.find_elements(By.ID, "sso-sign-in"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "sign-in-with-sso-phone")
    browser_sign_in(phone, live_url, ADMIN)
    phone.get(live_url + "/admin/sso")
    WebDriverWait(phone, 30).until(lambda d: d.find_element(By.ID, "sso-issuer").get_attribute("value"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "admin-sso-phone")


def test_set_up_then_sign_in_with_the_company_account(browser, phone, live_url, provider):
    browser.set_window_size(1440, 1000)  # the desktop width the screenshots are looked at
    browser_sign_in(browser, live_url, ADMIN)
    browser.get(live_url + "/admin/sso")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "sso-issuer"))
    _type(browser, "sso-issuer", "http://nowhere.example")  # not https: refused in words
    browser.find_element(By.ID, "sso-save").click()
    _wait_text(browser, "Nothing was saved")
    assert "starting with https://" in browser.find_element(By.TAG_NAME, "body").text
    _type(browser, "sso-issuer", provider.issuer)
    _type(browser, "sso-client_id", provider.client_id)
    _type(browser, "sso-client_secret", provider.client_secret)
    _type(browser, "sso-allowed_domains", "demo.digicadence.test")
    _type(browser, "sso-role_mapping", RULE)
    _set_enabled(browser, live_url, True)
    browser.find_element(By.ID, "sso-save").click()
    _wait_text(browser, "Company sign-in is on")
    secret = browser.find_element(By.ID, "sso-client_secret")
    WebDriverWait(browser, 10).until(lambda d: secret.get_attribute("placeholder") == "A secret is stored")
    assert secret.get_attribute("value") == ""
    screenshot(browser, "admin-sso")
    _on_a_phone(phone, live_url)

    browser.delete_all_cookies()
    browser.get(live_url + "/login")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "sso-sign-in"))
    screenshot(browser, "sign-in-with-sso")
    browser.find_element(By.ID, "sso_address").send_keys("portfolio@demo.digicadence.test")
    browser.find_element(By.ID, "sso-sign-in").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.startswith(provider.issuer + "/interaction/"),
                                     message="not handed over to the provider")
    browser.find_element(By.NAME, "login").send_keys("planner")
    browser.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.rstrip("/") == live_url,
                                     message="not back home after the provider")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "sign-out"), message="not signed in")
    screenshot(browser, "signed-in-through-sso")

    browser.get(live_url + "/admin/sso")  # put it back (off) for the other browser tests
    browser.delete_all_cookies()
    browser_sign_in(browser, live_url, ADMIN)
    browser.get(live_url + "/admin/sso")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "sso-issuer").get_attribute("value"))
    _set_enabled(browser, live_url, False)
    browser.find_element(By.ID, "sso-save").click()
    _wait_text(browser, "Company sign-in is off")
