"""The target-ROAS scenarios in a real browser (issue 16 item 12): the Target ROAS field appears for them and
the budget field goes (the plan finds it), a run says the budget it found, on a desktop and on a phone."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import _driver, browser_sign_in, screenshot
from tests.browser.test_optimizer import _choose, _click, _open_optimizer, _severe, _type

pytestmark = pytest.mark.browser


@pytest.fixture
def wide(_chrome_available):
    driver = _driver(1440, 1000)
    yield driver
    driver.quit()


def _found(driver) -> str:
    """The budget-found sentence ("" while there is none, or while the result is being drawn again)."""
    try:
        found = driver.find_elements(By.ID, "optimizer-budget-found")
        return found[0].text if found else ""
    except StaleElementReferenceException:
        return ""


def _run(driver, label: str, target: str, expect: str, shot: str) -> str:
    """Choose the scenario type by its label, type the target and run; the budget-found sentence."""
    _choose(driver, "Demo truth curves")
    _choose(driver, label)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "optimizer-target-roas").is_displayed())
    assert not driver.find_element(By.ID, "optimizer-budget").is_displayed()  # the plan finds the budget
    _type(driver, "optimizer-target-roas", target)
    _click(driver, driver.find_element(By.ID, "optimizer-run"))
    WebDriverWait(driver, 180, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: expect in _found(d) or "danger" in (d.find_element(By.ID, "optimizer-message")
                                                      .get_attribute("innerHTML") or ""))
    assert expect in _found(driver), driver.find_element(By.ID, "optimizer-message").text
    screenshot(driver, shot)
    return _found(driver)


@pytest.mark.parametrize("size", ["wide", "phone"])
def test_target_roas_runs_say_the_budget_they_found(size, live_url, request):
    driver = request.getfixturevalue(size)
    browser_sign_in(driver, live_url, "Brand Manager")
    _open_optimizer(driver, live_url)
    _choose(driver, "Maximize outcome for a budget")  # a reload reopens the last run's type: start from this one
    WebDriverWait(driver, 10).until(lambda d: not d.find_element(By.ID, "optimizer-target-roas").is_displayed())
    text = _run(driver, "Spend until the marginal ROAS", "1.2", "spend stops where each extra ₹1 returns",
                f"optimizer-marginal-roas-{size}")
    assert text.startswith("Budget found: ₹") and "₹1.20" in text
    _open_optimizer(driver, live_url)
    _run(driver, "Largest budget whose ROAS", "2.2", "the largest budget whose plan returns at least ₹2.20 per ₹1",
         f"optimizer-overall-roas-{size}")
    assert _severe(driver) == []
