"""The brand explorer in a real browser as a Brand Manager: every chart drawn, no errors, phone width."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser

CHARTS = ("breakdown", "waterfall", "series", "gaps", "correlation", "revenue")
# What a drawn chart of each kind contains in the DOM.
MARKS = {
    "breakdown": "g.slice path", "waterfall": ".bars .point path", "series": ".scatterlayer .trace path",
    "gaps": ".bars .point path", "correlation": ".heatmaplayer image, .heatmaplayer .hm",
    "revenue": ".bars .point path",
}


def _wait_for_charts(driver) -> None:
    def drawn(d) -> bool:
        return all(d.find_elements(By.CSS_SELECTOR, f"#brand-{c}-graph {MARKS[c]}") for c in CHARTS)

    WebDriverWait(driver, 90).until(drawn)
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#brand-kpis .card")) == 4)


def _severe_console_messages(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_brand_manager_explores_their_brand(browser, live_url):
    browser_sign_in(browser, live_url, "Brand Manager")
    browser.get(live_url + "/brand")
    _wait_for_charts(browser)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Brand explorer" in text
    assert "Traceback" not in text and "Error" not in text and "went wrong" not in text
    # Competitors are market data: the brand manager compares against all ten (issue 16 item 8).
    assert "You may see" not in text
    assert "10 visible competitors" in browser.find_element(By.ID, "brand-gaps-note").text
    for chart in CHARTS:
        assert browser.find_element(By.ID, f"brand-{chart}-csv").is_displayed()
    screenshot(browser, "brand-desktop")
    assert _severe_console_messages(browser) == []


def test_brand_page_is_usable_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "Brand Manager")
    phone.get(live_url + "/brand")
    _wait_for_charts(phone)
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways on a phone: {width}px"
    screenshot(phone, "brand-phone")
    assert _severe_console_messages(phone) == []
