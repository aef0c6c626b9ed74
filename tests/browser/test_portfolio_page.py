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
    kpis = browser.find_element(By.ID, "portfolio-kpis").text.upper()
    for title in ("PORTFOLIO DC SCORE", "SPEND, 12 MONTHS", "REVENUE, 12 MONTHS", "MER (REVENUE ÷ SPEND)",
                  "IMPROVING / DECLINING"):
        assert title in kpis
    assert "VS A YEAR EARLIER" in kpis
    traces = browser.find_elements(By.CSS_SELECTOR, "#portfolio-trend .scatterlayer .trace")
    assert len(traces) == 7  # top five own brands, the own average and the competitor average
    heat_rows = browser.find_elements(By.CSS_SELECTOR, "#portfolio-heatmap .yaxislayer-above .ytick")
    assert len(heat_rows) >= 20
    bars = browser.find_elements(By.CSS_SELECTOR, "#portfolio-sections .barlayer .trace")
    assert len(bars) == 2  # own brands and the competitor average
    assert len(browser.find_elements(By.CSS_SELECTOR, "#portfolio-movers .mover")) == 6
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-alerts .alert-item"))
    assert "robust z" in browser.find_element(By.ID, "portfolio-alerts").text
    links = browser.find_elements(By.CSS_SELECTOR, ".ag-pinned-left-cols-container a[href^='/brand?brand=']")
    assert links and "&project=" in links[0].get_attribute("href")
    screenshot(browser, "portfolio-desktop")
    assert _severe_console_messages(browser) == []


def test_alert_threshold_changes_the_alerts(browser, live_url):
    from selenium.webdriver.common.keys import Keys

    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    _wait_for_data(browser)
    box = browser.find_element(By.ID, "portfolio-drop-threshold")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("0.5", Keys.ENTER)
    WebDriverWait(browser, 30).until(
        lambda d: "score drop" in d.find_element(By.ID, "portfolio-alerts").text)


def test_movers_link_opens_the_brand(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    _wait_for_data(browser)
    link = browser.find_element(By.CSS_SELECTOR, "#portfolio-movers a[href^='/brand?brand=']")
    href = link.get_attribute("href")
    link.click()
    WebDriverWait(browser, 30).until(lambda d: "/brand?brand=" in d.current_url)
    assert d_url_matches(browser.current_url, href)


def d_url_matches(current: str, href: str) -> bool:
    return current.split("/brand", 1)[1] == href.split("/brand", 1)[1]


def test_project_in_the_url_is_selected_and_kept(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/?project=2")
    _wait_for_data(browser)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "ctx-bar").is_displayed())
    assert browser.find_element(By.ID, "ctx-org").text.startswith("Aurora Consumer Products")
    project = browser.find_element(By.ID, "ctx-project").text
    assert project and project in browser.find_element(By.TAG_NAME, "h2").find_element(By.XPATH, "..").text
    assert browser.current_url.endswith("?project=2")


def test_period_selector_redraws_the_page_as_of_that_month(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    _wait_for_data(browser)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "ctx-period").text)
    latest = browser.find_element(By.ID, "ctx-period").text
    browser.get(live_url + "/?project=2&period=2025-06")
    _wait_for_data(browser)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "ctx-period").text == "June 2025")
    assert latest != "June 2025"
    heading = browser.find_element(By.TAG_NAME, "h2").find_element(By.XPATH, "..").text
    assert "June 2025" in heading
    WebDriverWait(browser, 30).until(lambda d: any(m in d.find_element(By.ID, "portfolio-alerts").text
                                                   for m in ("Jun 2025", "June 2025")))
    screenshot(browser, "portfolio-june-2025-desktop")


def test_portfolio_is_usable_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "Portfolio Manager")
    phone.get(live_url + "/")
    _wait_for_data(phone)
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways on a phone: {width}px"
    screenshot(phone, "portfolio-phone")
