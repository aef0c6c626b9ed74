"""The organizations page in a real browser, as the System Administrator: create an organization
with its first administrator's invitation, select it in the grid, archive it and bring it back.
Screenshots at 1280 px and on a 390-px phone (artifacts/screenshots/, not committed)."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser
ROOT = "System Administrator"


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, text: str, timeout: int = 60) -> None:
    WebDriverWait(driver, timeout).until(lambda d: text in _text(d), message=f"no {text!r} on the page")


def _grid_row(driver, name: str):
    """The grid cell holding `name` (AG Grid renders rows as they load)."""
    WebDriverWait(driver, 60).until(
        lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, "#orgs-grid .ag-cell") if c.text == name],
        message=f"{name!r} not in the grid")
    return next(c for c in driver.find_elements(By.CSS_SELECTOR, "#orgs-grid .ag-cell") if c.text == name)


def _click(driver, find) -> None:
    """Click what `find(driver)` returns once nothing covers it (the grid's loading overlay after a change)."""
    def clicked(d) -> bool:
        element = find(d)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        try:
            element.click()
        except (ElementClickInterceptedException, StaleElementReferenceException):
            return False
        return True

    WebDriverWait(driver, 30).until(clicked, message="could not click")


def _row(name: str):
    return lambda d: _grid_row(d, name)


def _button(ident: str):
    return lambda d: d.find_element(By.ID, ident)


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_create_archive_and_restore_an_organization(browser, live_url):
    browser.set_window_size(1280, 1000)
    browser_sign_in(browser, live_url, ROOT)
    browser.get(live_url + "/admin/organizations")
    _wait_text(browser, "2 organizations · 2 live · 0 archived")  # the demo's two
    _click(browser, _button("orgs-new"))
    browser.find_element(By.ID, "orgs-new-name").send_keys("Northwind Traders")
    browser.find_element(By.ID, "orgs-new-admin-email").send_keys("nina@northwind.example")
    browser.find_element(By.ID, "orgs-new-admin-name").send_keys("Nina Holm")
    _click(browser, _button("orgs-create"))
    _wait_text(browser, "Northwind Traders was created (slug northwind-traders).")
    _wait_text(browser, "/login/invite/")
    _click(browser, _row("Northwind Traders"))
    _wait_text(browser, "Northwind Traders — live, 1 member")
    _click(browser, _button("orgs-archive"))
    _wait_text(browser, "is archived: its members now see")
    _wait_text(browser, "3 organizations · 2 live · 1 archived")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1280, f"the page is {width} px wide at 1280 (the navigation must wrap, not overflow)"
    screenshot(browser, "admin-organizations-1280")
    _click(browser, _row("Northwind Traders"))
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "orgs-unarchive").is_enabled())
    _click(browser, _button("orgs-unarchive"))
    _wait_text(browser, "“Northwind Traders” is live again.")
    assert _severe(browser) == []


def test_the_page_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, ROOT)
    phone.get(live_url + "/admin/organizations")
    _click(phone, _row("Northwind Traders"))
    _wait_text(phone, "Northwind Traders — live, 1 member")
    screenshot(phone, "admin-organizations-390")
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390-px phone"
