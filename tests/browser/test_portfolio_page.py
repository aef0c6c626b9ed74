"""The portfolio page in a real browser: data in the chart and the grid, no errors, phone width."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _wait_for_data(driver) -> None:
    def count(css: str):
        return lambda d: len(d.find_elements(By.CSS_SELECTOR, css))

    WebDriverWait(driver, 60).until(lambda d: count(".ag-center-cols-container .ag-row")(d) >= 20)
    WebDriverWait(driver, 30).until(lambda d: count(".js-plotly-plot .scatterlayer .trace")(d) >= 2)


def _severe_console_messages(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_portfolio_shows_ranked_brands_and_trend(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    _wait_for_data(browser)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Portfolio" in text and "Competitor average" in text
    assert "Traceback" not in text and "Error" not in text
    kpis = browser.find_element(By.ID, "portfolio-kpis").text
    assert "OWN BRANDS' DC SCORE" in kpis.upper()
    traces = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")
    assert len(traces) == 6  # top five own brands and the competitor average
    screenshot(browser, "portfolio-desktop")
    assert _severe_console_messages(browser) == []


def test_project_in_the_url_is_selected_and_kept(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/?project=2")
    _wait_for_data(browser)
    selected = browser.find_element(By.CSS_SELECTOR, "#portfolio-project").text
    assert selected.startswith("Aurora Consumer Products")
    assert browser.current_url.endswith("?project=2")


def test_portfolio_is_usable_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "Portfolio Manager")
    phone.get(live_url + "/")
    _wait_for_data(phone)
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways on a phone: {width}px"
    screenshot(phone, "portfolio-phone")
