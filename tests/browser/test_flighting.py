"""The flighting planner in a real browser (issue 19 item 5): a Brand Manager plans a quarter.

On `python app.py` (in-process executor, SQLite, the 36-month demo): open the planner from the navigation,
keep the 13-week horizon, type a blackout week into the weekly-limits grid, plan the weeks, follow the run
to its plan, see the heat map, the weekly outcome and each channel's reason, download the media plan as CSV.
Screenshots at 1440 and 390 px go to /tmp/shots-flightpage/ (and the usual artifacts folder).
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-flightpage")


def _shot(driver, name: str, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    time.sleep(0.5)  # Plotly redraws at the new width
    path = screenshot(driver, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def _open(driver, url: str) -> None:
    driver.get(url + "/")
    link = WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.LINK_TEXT, "Flighting planner"))
    _click(driver, link[0])
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "flighting-run"))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#flighting-bounds .ag-row"))


def _blackout(driver, channel_row: int, week: int) -> None:
    """Type 0 (a blackout) into a week's cell of the weekly-limits grid, as a person does."""
    cell = driver.find_element(By.CSS_SELECTOR, f'#flighting-bounds .ag-center-cols-container '
                                                f'.ag-row[row-index="{channel_row}"] .ag-cell[col-id="w{week}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    ActionChains(driver).move_to_element(cell).click().perform()  # the grid edits on a real click
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#flighting-bounds input"))
    driver.find_element(By.CSS_SELECTOR, "#flighting-bounds input").send_keys("0", Keys.ENTER)
    WebDriverWait(driver, 10).until(lambda d: cell.text.strip() in ("₹0", "0"), message=lambda: cell.text)


def test_a_brand_manager_plans_a_quarter(browser, live_url, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser_sign_in(browser, live_url, "Brand Manager")
    _open(browser, live_url)
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".navbar .nav-link")]
    assert nav.index("Flighting planner") == nav.index("Budget optimizer") + 1, nav
    assert browser.find_element(By.CSS_SELECTOR, "#flighting-weeks input[value='13']").is_selected()
    budget = browser.find_element(By.ID, "flighting-budget").get_attribute("value")
    assert budget and budget[0].isdigit(), f"the budget field shows {budget!r}"
    assert "Week 1 starts" in browser.find_element(By.ID, "flighting-window").text
    totals = browser.find_element(By.ID, "flighting-limits").text
    assert "Month " in totals and ", all weeks" in totals, totals
    truth = browser.find_elements(By.XPATH, "//label[contains(., 'Demo truth curves')]")
    if truth:
        _click(browser, truth[0])
    channel = browser.find_element(By.CSS_SELECTOR, '#flighting-bounds .ag-pinned-left-cols-container '
                                                    '.ag-row[row-index="0"]').text.strip()
    _blackout(browser, 0, 1)
    _click(browser, browser.find_element(By.ID, "flighting-run"))
    WebDriverWait(browser, 180).until(lambda d: d.find_elements(By.ID, "flighting-result-view"),
                                      message=lambda: browser.find_element(By.ID, "flighting-message").text)
    assert "Done" in browser.find_element(By.ID, "flighting-message").text
    kpis = browser.find_element(By.ID, "flighting-kpis").text.upper()
    assert "BUDGET, 13 WEEKS" in kpis and "UPLIFT VS A FLAT PLAN" in kpis and "₹" in kpis
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#flighting-heatmap .heatmaplayer"))
    assert browser.find_elements(By.CSS_SELECTOR, "#flighting-outcome .scatterlayer .trace")
    assert "adds about" in browser.find_element(By.ID, "flighting-prices").text
    reasons = browser.find_element(By.ID, "flighting-reasons")
    assert len(reasons.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 1 and "per ₹1" in reasons.text, reasons.text
    assert "Blacked out in 1 week." in reasons.text, reasons.text
    _shot(browser, "flighting-quarter-1440", 1440)

    _click(browser, browser.find_element(By.ID, "flighting-export-csv"))
    WebDriverWait(browser, 30).until(lambda _: list(tmp_path.glob("media-plan-*.csv")))
    rows = list(csv.reader(io.StringIO(next(tmp_path.glob("media-plan-*.csv")).read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["Brand", "Channel"] and rows[0][-1] == "Total" and len(rows[0]) == 2 + 13 + 1
    planned = {r[1]: [float(v) for v in r[2:]] for r in rows[1:]}
    assert channel in planned and planned[channel][0] == 0.0, f"{channel} is dark in week 1: {planned.get(channel)}"

    _shot(browser, "flighting-quarter-390", 390)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the planner scrolls sideways on a phone: {width}px"
