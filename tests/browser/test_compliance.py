"""The Compliance page in a real browser: an Organization Administrator finds it under Admin, sees the
access review of their organization, the chain's verdict and the retention table, and downloads the
workbook; readable on a phone without sideways scrolling."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", ["browser", "phone"])
def test_the_compliance_page_reviews_access_and_checks_the_chain(viewport, request, live_url):
    driver = request.getfixturevalue(viewport)
    browser_sign_in(driver, live_url, "Organization Administrator")
    driver.get(live_url + "/admin/compliance")
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: "orgadmin@demo.digicadence.test" in d.find_element(By.ID, "compliance-access").text)
    access = driver.find_element(By.ID, "compliance-access").text
    assert "Organization Administrator — organization" in access
    assert "stranger" not in access and "\nadmin@demo.digicadence.test\n" not in access
    verdict = wait.until(lambda d: d.find_element(By.ID, "compliance-chain").text)
    assert verdict.startswith("Audit chain intact."), verdict
    assert "people with access" in driver.find_element(By.ID, "compliance-kpis").text.lower()
    retention = wait.until(lambda d: d.find_element(By.ID, "compliance-retention").text)
    assert "Metric values (by month)" in retention and "Audit events" in retention
    assert "nothing to go" in retention  # not blanked by a column read as dates (the demo exports nothing)
    assert driver.find_element(By.ID, "compliance-report-xlsx").is_displayed()
    assert driver.execute_script("return document.documentElement.scrollWidth") <= (
        1400 if viewport == "browser" else 400
    )
    screenshot(driver, f"compliance-{viewport}")
