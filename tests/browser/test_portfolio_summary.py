"""The "what changed and why" paragraph in a real browser: first on the Portfolio page, written in
words with the month on screen, readable on a phone without sideways scrolling."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _summary(driver, base_url: str) -> str:
    browser_sign_in(driver, base_url, "Portfolio Manager")
    driver.get(base_url + "/")
    WebDriverWait(driver, 60).until(lambda d: "own brands average" in d.find_element(By.ID, "portfolio-summary").text)
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "portfolio-kpis").text)
    return driver.find_element(By.ID, "portfolio-summary").text


@pytest.mark.parametrize("viewport", ["browser", "phone"])
def test_the_summary_opens_the_page_above_the_headline_figures(viewport, request, live_url):
    driver = request.getfixturevalue(viewport)
    text = _summary(driver, live_url)
    heading = driver.find_element(By.CSS_SELECTOR, "h2 + div.text-muted").text  # "Organization · Project · Month"
    assert heading.split(" · ")[2] in text  # the month on screen
    assert "rose most" in text and "fell most" in text and "best competitor" in text
    card = driver.find_element(By.ID, "portfolio-summary-card").rect
    assert card["y"] < driver.find_element(By.ID, "portfolio-kpis").rect["y"]
    assert driver.execute_script("return document.documentElement.scrollWidth") <= (
        1400 if viewport == "browser" else 400
    )
    screenshot(driver, f"portfolio-summary-{viewport}")
