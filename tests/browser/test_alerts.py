"""The alerts bell and the Alerts page in a real browser: the demo's findings counted on the bell, listed
newest first with a link to the brand, and marking them read empties the bell; readable on a phone."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _count(driver) -> int:
    badge = driver.find_element(By.ID, "nav-alerts-count")  # textContent: a phone collapses the bar
    text = (badge.get_attribute("textContent") or "").strip()
    return int(text) if text.isdigit() else 0


@pytest.mark.parametrize("viewport", ["browser", "phone"])
def test_the_bell_counts_the_alerts_and_the_page_lists_them(viewport, request, live_url):
    driver = request.getfixturevalue(viewport)
    browser_sign_in(driver, live_url, "Portfolio Manager" if viewport == "browser" else "Analyst")
    driver.get(live_url + "/alerts")
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts-grid .ag-row"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#alerts-grid .ag-center-cols-container .ag-row")
    bell = driver.find_element(By.ID, "nav-alerts-bell")
    assert "Alerts," in bell.get_attribute("title")
    assert _count(driver) == len(rows) > 0, (bell.get_attribute("title"), len(rows))
    link = driver.find_element(By.CSS_SELECTOR, "#alerts-grid a")
    assert link.get_attribute("href").split(live_url)[1].startswith(("/brand?brand=", "/models?brand="))
    assert driver.execute_script("return document.documentElement.scrollWidth") <= (
        1400 if viewport == "browser" else 400
    )
    screenshot(driver, f"alerts-{viewport}")
    if viewport == "browser":
        driver.find_element(By.ID, "alerts-read-all").click()
        wait.until(lambda d: "marked read" in d.find_element(By.ID, "alerts-message").text)
        wait.until(lambda d: _count(d) == 0)
        assert "0 new" in driver.find_element(By.ID, "alerts-count").text
