"""The framework page's item card in Chromium: the Organization Administrator adds a section, sees it in
the Sections grid, then removes it again (it holds no values, so no confirmation is asked)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot
from tests.browser.test_new_customer import _pick

NAME = "Browser Check Section"


def _click(driver, element_id: str) -> None:
    found = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found)
    WebDriverWait(driver, 20).until(lambda d: found.is_displayed() and found.is_enabled())
    driver.execute_script("arguments[0].click()", found)  # no sticky navbar in the way


def _wait_text(driver, element_id: str, text: str) -> None:
    WebDriverWait(driver, 60).until(lambda d: text in d.find_element(By.ID, element_id).text,
                                    message=f"no {text!r} in #{element_id}")


def test_a_section_is_added_and_removed_from_the_page(browser, live_url):
    browser.set_window_size(1280, 1000)
    browser_sign_in(browser, live_url, "Organization Administrator")
    browser.get(live_url + "/admin/framework")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#framework-sections .ag-row"))
    browser.find_element(By.ID, "framework-new-section-name").send_keys(NAME)
    _click(browser, "framework-add-section")
    _wait_text(browser, "framework-item-message", f"Section “{NAME}” added.")
    assert "recomputed" in browser.find_element(By.ID, "framework-item-message").text
    _wait_text(browser, "framework-sections", NAME)
    screenshot(browser, "framework-items-1280")

    _pick(browser, "framework-item", NAME)  # a dcc.Dropdown: open it, type, pick the option
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "framework-item-name").get_attribute("value") == NAME)
    _click(browser, "framework-item-remove")
    _wait_text(browser, "framework-item-message", "Section removed.")
    WebDriverWait(browser, 60).until(lambda d: NAME not in d.find_element(By.ID, "framework-sections").text)
