"""Lift tests in a real browser: an Analyst records one with the form, uploads the shipped sample CSV
(preview, then commit), sees every test in the grid with its units, and deletes the one typed by hand.

Screenshots at desktop and phone width: artifacts/screenshots/lift-tests-{desktop,phone}.png.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from core.lift_tests.truth import SAMPLE
from tests.browser.conftest import browser_sign_in, screenshot
from tests.browser.test_new_customer import _click, _element, _pick, _type, _until, _upload, _wait_text

pytestmark = pytest.mark.browser


def _grid_text(driver) -> str:
    return driver.find_element(By.ID, "lift-grid").text


def _date(driver, picker: str, text: str) -> None:
    """Type a date into a dcc.DatePickerSingle as a person does, then close its calendar."""
    _type(driver, f"input#{picker}, #{picker} input", text)
    _element(driver, f"input#{picker}, #{picker} input").send_keys("\ue004")  # Tab: the picker keeps the date


def test_record_upload_and_delete_lift_tests(browser, live_url):
    browser_sign_in(browser, live_url, "Analyst")
    browser.get(live_url + "/lift-tests")
    _wait_text(browser, "Recorded tests")
    _until(browser, lambda d: "No lift tests recorded yet." in _grid_text(d), "the grid is not empty at first")

    # One test by the form; a standard error of zero is refused first, in plain words.
    _pick(browser, "lift-brand", "Lumina")
    _pick(browser, "lift-channel", "TV")
    _date(browser, "lift-start", "2025-08-04")
    _date(browser, "lift-end", "2025-08-31")
    _type(browser, "#lift-outcome", "250,000")
    _type(browser, "#lift-se", "0")
    _type(browser, "#lift-note", "Geo holdout typed in the browser")
    _click(browser, "#lift-record")
    _wait_text(browser, "a lift test always has some uncertainty", where="lift-form-message")
    _type(browser, "#lift-se", "30,000")
    _click(browser, "#lift-record")
    _element(browser, "#lift-form-done")
    _until(browser, lambda d: "250,000 revenue" in _grid_text(d) and "28 days" in _grid_text(d),
           "the recorded test is not in the grid with its units")

    # The sample file: a preview of its eight tests, then all recorded at once.
    _upload(browser, "lift-csv", SAMPLE)
    _wait_text(browser, "Ready to record 8 lift test(s)", where="lift-csv-result")
    assert "Lumina · Search · 2025-03-03 … 2025-03-30 (28 days)" in browser.find_element(By.ID, "lift-csv-result").text
    _click(browser, "#lift-csv-commit")
    _wait_text(browser, "Recorded 8 lift test(s).", where="lift-csv-result")
    _until(browser, lambda d: all(name in _grid_text(d) for name in ("Veda Botanics", "Retail Media", "Dewdrop")),
           "the sample's tests are not in the grid")
    rows = browser.find_elements(By.CSS_SELECTOR, "#lift-grid .ag-center-cols-container .ag-row")
    assert len(rows) == 9, len(rows)
    screenshot(browser, "lift-tests-desktop")

    # Delete the typed test: tick it, confirm.
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    _click(browser, "#lift-grid .ag-pinned-left-cols-container .ag-row[row-index='0'] .ag-checkbox-input, "
                    "#lift-grid .ag-center-cols-container .ag-row[row-index='0'] .ag-checkbox-input")
    _click(browser, "#lift-delete")
    _until(browser, expected_conditions.alert_is_present(), "no confirmation asked").accept()
    _element(browser, "#lift-delete-done")
    _until(browser, lambda d: "Geo holdout typed in the browser" not in _grid_text(d), "the deleted test stays")

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    browser.get(live_url + "/lift-tests")
    _until(browser, lambda d: "Dewdrop" in _grid_text(d), "the grid is empty on a phone")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone: {width}px"
    screenshot(browser, "lift-tests-phone")
