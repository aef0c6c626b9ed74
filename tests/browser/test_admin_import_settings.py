"""The data import and settings pages in a real browser, as the Organization Administrator.

A weekly spend file goes through the column form (roles guessed, one changed, the JSON follows, its
blank revenue cell listed); a file with bad rows is uploaded and previewed (its errors listed,
Commit stays disabled), then a good one is previewed and committed (the batch and the recomputed
scores shown); on the settings page a bad value is refused with its reason and a good one saved,
then put back so the other browser tests find the demo as they expect. Screenshots at desktop and 390-px width.
"""

from __future__ import annotations

import csv

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser
ADMIN = "Organization Administrator"
# The demo's catalogue and last month are fixed (core/demo): "Lumina" is an own brand of the first organization.
LAST_MONTH = "2026-10-01"


def _write(path, rows: list[list]) -> str:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, text: str, timeout: int = 60) -> None:
    WebDriverWait(driver, timeout).until(lambda d: text in _text(d), message=f"no {text!r} on the page")


def _upload(driver, path: str, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#import-upload input[type=file]").send_keys(path)
    WebDriverWait(driver, 30).until(lambda d: name in d.find_element(By.ID, "import-upload-status").text)


def _setting(driver, value: str):
    """The minimum-length input once the organization's values have loaded into it."""
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "settings-password_min_length") and d.find_element(
        By.ID, "settings-password_min_length").get_attribute("value") == value)
    return driver.find_element(By.ID, "settings-password_min_length")


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _mapping(driver) -> str:
    return driver.find_element(By.ID, "import-mapping").get_attribute("value")


def _kind(driver, label: str) -> None:
    driver.find_element(By.XPATH, f"//*[@id='import-kind']//label[contains(., '{label}')]").click()


def _roles(driver) -> list[str]:
    return [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, "select[id*='import-col-role']")]


def _spend_file_through_the_column_form(driver, tmp_path) -> None:
    """Issue 16, item 10: a weekly spend and revenue file gets a role per column (guessed), a preview of its
    first rows and the JSON as the advanced option; its blank revenue cell is a listed row problem."""
    weekly = _write(tmp_path / "weekly-spend.csv", [
        ["week", "brand", "tv_spend", "search_spend", "revenue", "festive"],
        ["2026-09-07", "Lumina", "1000", "400", "25000", "0"],
        ["2026-09-14", "Lumina", "1010", "401", "", "1"],
        ["2026-09-21", "Lumina", "1020", "402", "25200", "0"],
    ])
    _kind(driver, "Spend, revenue")
    WebDriverWait(driver, 30).until(lambda d: '"kind": "marketing"' in _mapping(d))
    assert not driver.find_element(By.ID, "import-mapping").is_displayed()  # JSON is the advanced option
    _upload(driver, weekly, "weekly-spend.csv")
    WebDriverWait(driver, 30).until(lambda d: len(_roles(d)) == 6, message="no column form")
    assert _roles(driver) == ["date", "brand", "spend", "spend", "revenue", "ignore"]
    names = [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, "input[id*='import-col-name']")]
    assert names[2:4] == ["TV", "Search"]
    assert "2026-09-14" in driver.find_element(By.ID, "import-columns-preview").text
    Select(driver.find_elements(By.CSS_SELECTOR, "select[id*='import-col-role']")[5]).select_by_value("control")
    WebDriverWait(driver, 30).until(lambda d: '"festive": "festive"' in _mapping(d), message="the JSON did not follow")
    driver.find_element(By.ID, "import-json-toggle").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "import-mapping").is_displayed())
    driver.find_element(By.ID, "import-preview").click()
    _wait_text(driver, "nothing can be committed")
    WebDriverWait(driver, 30).until(lambda d: "revenue is empty" in d.find_element(By.ID, "import-errors").text)
    assert not driver.find_element(By.ID, "import-commit").is_enabled()
    screenshot(driver, "admin-import-column-form")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 400
        screenshot(driver, "admin-import-column-form-phone")
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})


def test_import_a_bad_then_a_good_file_and_change_a_setting(browser, live_url, tmp_path):
    bad = _write(tmp_path / "bad-values.csv", [
        ["brand", "metric", "period", "value"],
        ["Lumina", "amazon_avg_rating", LAST_MONTH, "4.1"],
        ["Nobody Brand", "amazon_avg_rating", LAST_MONTH, "4.0"],
        ["Lumina", "amazon_avg_rating_typo", LAST_MONTH, "4.0"],
        ["Lumina", "amazon_avg_rating", "2026-13-01", "4.0"],
        ["Lumina", "amazon_avg_rating", LAST_MONTH, "nine"],
    ])
    good = _write(tmp_path / "good-values.csv", [
        ["brand", "metric", "period", "value"],
        ["Lumina", "amazon_avg_rating", LAST_MONTH, "4.07"],
    ])
    browser_sign_in(browser, live_url, ADMIN)
    browser.get(live_url + "/admin/import")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "import-mapping")
                                     and '"layout": "long"' in d.find_element(By.ID, "import-mapping")
                                     .get_attribute("value"))
    menu = browser.find_element(By.ID, "nav-links").get_attribute("textContent")  # the Administration menu's items
    assert "Import" in menu and "Settings" in menu

    _spend_file_through_the_column_form(browser, tmp_path)
    _kind(browser, "Metric values")
    WebDriverWait(browser, 30).until(lambda d: '"layout": "long"' in _mapping(d))
    _upload(browser, bad, "bad-values.csv")
    browser.find_element(By.ID, "import-preview").click()
    _wait_text(browser, "nothing can be committed")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#import-errors .ag-center-cols-container .ag-row")) >= 3)
    grid = browser.find_element(By.ID, "import-errors").text
    assert "amazon_avg_rating_typo" in grid and "nine" in grid
    # An administrator's preview names the unknown brand as one the import would create (once confirmed).
    assert "Nobody Brand" in browser.find_element(By.TAG_NAME, "body").text and "Nobody Brand" not in grid
    assert not browser.find_element(By.ID, "import-commit").is_enabled()
    screenshot(browser, "admin-import-errors")

    _upload(browser, good, "good-values.csv")
    browser.find_element(By.ID, "import-preview").click()
    _wait_text(browser, "No errors: Commit writes exactly this.")
    commit = browser.find_element(By.ID, "import-commit")
    WebDriverWait(browser, 20).until(lambda d: commit.is_enabled())
    assert "1" in browser.find_element(By.ID, "import-counts").text
    commit.click()
    _wait_text(browser, "Committed as import batch")
    assert "DC scores recomputed for" in browser.find_element(By.ID, "import-committed").text
    WebDriverWait(browser, 20).until(lambda d: not commit.is_enabled())
    screenshot(browser, "admin-import-committed")

    browser.get(live_url + "/admin/settings")
    length = _setting(browser, "12")
    length.send_keys(Keys.CONTROL, "a")
    length.send_keys("8")
    browser.find_element(By.ID, "settings-save").click()
    _wait_text(browser, "Nothing was saved")
    assert "between 12 and 64" in _text(browser)
    screenshot(browser, "admin-settings-invalid")
    length.send_keys(Keys.CONTROL, "a")
    length.send_keys("16")
    browser.find_element(By.ID, "settings-save").click()
    _wait_text(browser, "Minimum password length: 12 → 16")
    screenshot(browser, "admin-settings")

    browser.get(live_url + "/admin/audit")
    _wait_text(browser, "settings.changed")
    assert "import.committed" in _text(browser)

    browser.get(live_url + "/admin/settings")  # put it back for the other browser tests
    length = _setting(browser, "16")
    length.send_keys(Keys.CONTROL, "a")
    length.send_keys("12")
    browser.find_element(By.ID, "settings-save").click()
    _wait_text(browser, "Minimum password length: 16 → 12")
    assert "Traceback" not in _text(browser)
    assert _severe(browser) == []


def test_import_and_settings_pages_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, ADMIN)
    phone.get(live_url + "/admin/import")
    WebDriverWait(phone, 60).until(lambda d: d.find_elements(By.ID, "import-mapping")
                                   and d.find_element(By.ID, "import-mapping").get_attribute("value"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "admin-import-phone")
    phone.get(live_url + "/admin/settings")
    _setting(phone, "12")
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "admin-settings-phone")
