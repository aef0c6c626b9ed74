"""The target-ROAS scenarios in a real browser (issue 16 item 12): the Target ROAS field appears for them and
the budget field goes (the plan finds it), a run says the budget it found, on a desktop and on a phone."""

from __future__ import annotations

import pytest
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


def _run(driver, url: str, label: str, target: str, shot: str) -> str:
    _open_optimizer(driver, url)
    assert not driver.find_element(By.ID, "optimizer-target-roas").is_displayed()
    _choose(driver, "Demo truth curves")
    _choose(driver, label)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "optimizer-target-roas").is_displayed())
    assert not driver.find_element(By.ID, "optimizer-budget").is_displayed()  # the plan finds the budget
    _type(driver, "optimizer-target-roas", target)
    _click(driver, driver.find_element(By.ID, "optimizer-run"))
    WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.ID, "optimizer-budget-found")
                                     or "danger" in (d.find_element(By.ID, "optimizer-message")
                                                     .get_attribute("innerHTML") or ""))
    found = driver.find_elements(By.ID, "optimizer-budget-found")
    assert found, driver.find_element(By.ID, "optimizer-message").text
    screenshot(driver, shot)
    return found[0].text


@pytest.mark.parametrize("size", ["wide", "phone"])
def test_target_roas_runs_say_the_budget_they_found(size, live_url, request):
    driver = request.getfixturevalue(size)
    browser_sign_in(driver, live_url, "Brand Manager")
    text = _run(driver, live_url, "Spend until the marginal ROAS", "1.2", f"optimizer-marginal-roas-{size}")
    assert text.startswith("Budget found: ₹") and "spend stops where each extra ₹1 returns ₹1.20" in text
    text = _run(driver, live_url, "Largest budget whose ROAS", "1.5", f"optimizer-overall-roas-{size}")
    assert "the largest budget whose plan returns at least ₹1.50 per ₹1 overall" in text
    assert _severe(driver) == []
