"""The "Download report" control in a real browser: a click on PDF on the Portfolio page saves the
executive summary, the Brand explorer offers the same control, and a Viewer sees none."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def test_portfolio_pdf_download(browser, live_url, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row"))
    browser.find_element(By.ID, "report-portfolio-pdf").click()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob("portfolio-*.pdf")):
        time.sleep(0.5)
    files = list(tmp_path.glob("portfolio-*.pdf"))
    assert len(files) == 1 and files[0].read_bytes()[:5] == b"%PDF-"
    screenshot(browser, "portfolio-report-control")
    browser.get(live_url + "/brand")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "report-brand-xlsx"))
    screenshot(browser, "brand-report-control")
    browser.get(live_url + "/scenarios")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "report-scenario-pdf"))
    screenshot(browser, "scenarios-report-control")


def test_a_viewer_sees_no_download_control(browser, live_url):
    browser_sign_in(browser, live_url, "Viewer")
    browser.get(live_url + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "portfolio-kpis"))
    assert not browser.find_elements(By.ID, "report-portfolio-pdf")
