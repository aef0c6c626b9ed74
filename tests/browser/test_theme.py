"""Light and dark themes: the toggle switches, the choice survives a reload, charts and grids follow."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _theme(driver) -> str:
    return driver.execute_script("return document.documentElement.getAttribute('data-bs-theme')")


def _background(driver, selector: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).backgroundColor", selector)


def test_dark_theme_is_chosen_kept_and_undone(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-ranking .ag-row"))
    assert _theme(browser) == "light"  # headless Chromium reports no dark preference
    light_card = _background(browser, ".card")
    toggle = browser.find_element(By.ID, "theme-toggle")
    assert "Dark" in toggle.text
    browser.execute_script("arguments[0].click()", toggle)
    WebDriverWait(browser, 10).until(lambda d: _theme(d) == "dark")
    assert "Light" in browser.find_element(By.ID, "theme-toggle").text
    assert _background(browser, ".card") != light_card
    grid = _background(browser, "#portfolio-ranking .ag-root-wrapper")
    assert grid in ("rgb(17, 24, 39)", "rgba(17, 24, 39, 1)"), grid

    browser.refresh()  # the choice is the person's, kept in this browser
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-trend .scatterlayer"))
    assert _theme(browser) == "dark"
    tick = browser.find_element(By.CSS_SELECTOR, "#portfolio-trend .ytick text")
    assert browser.execute_script("return getComputedStyle(arguments[0]).fill", tick) == "rgb(209, 213, 219)"
    screenshot(browser, "portfolio-dark-desktop")

    browser.execute_script("arguments[0].click()", browser.find_element(By.ID, "theme-toggle"))
    WebDriverWait(browser, 10).until(lambda d: _theme(d) == "light")
