"""The Alerts page's "Deliver my alerts" form in a real browser: a webhook that is not a web address is refused
in words and nothing is saved; a daily e-mail digest with a localhost webhook is saved and the line under the
form says so; Stop ends it. At 1400 px and on a 390-px phone, without sideways scrolling."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/wt-alertmail-shots")


def _save_shot(driver, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(screenshot(driver, name), SHOTS / f"{name}.png")


def _webhook(driver, text: str) -> None:
    field = driver.find_element(By.ID, "alerts-mail-webhook")
    field.clear()
    field.send_keys(text)


@pytest.mark.parametrize("viewport", ["browser", "phone"])
def test_the_delivery_form_refuses_a_bad_webhook_in_words_and_saves_a_good_one(viewport, request, live_url):
    driver = request.getfixturevalue(viewport)
    browser_sign_in(driver, live_url, "Viewer" if viewport == "browser" else "Analyst")
    driver.get(live_url + "/alerts")
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: d.find_elements(By.ID, "alerts-mail-save"))
    assert "only here, in the app" in driver.find_element(By.ID, "alerts-mail-status").text
    _webhook(driver, "ftp://hooks.example.com/x")
    driver.execute_script("document.getElementById('alerts-mail-save').scrollIntoView({block: 'center'})")
    driver.find_element(By.ID, "alerts-mail-save").click()
    refused = wait.until(lambda d: d.find_elements(By.ID, "alerts-mail-refused"))[0]
    assert "Nothing was saved" in refused.text and "https://" in refused.text
    assert "only here, in the app" in driver.find_element(By.ID, "alerts-mail-status").text
    if viewport == "phone":
        _save_shot(driver, "alert-delivery-refused-390")
    _webhook(driver, "http://localhost:9/hooks/alerts")
    driver.find_element(By.ID, "alerts-mail-save").click()
    wait.until(lambda d: d.find_elements(By.ID, "alerts-mail-saved"))
    status = driver.find_element(By.ID, "alerts-mail-status").text
    assert "e-mail and webhook, daily at 08:00 UTC" in status, status
    assert driver.execute_script("return document.documentElement.scrollWidth") <= (
        1400 if viewport == "browser" else 400)
    _save_shot(driver, f"alert-delivery-{1400 if viewport == 'browser' else 390}")
    driver.find_element(By.ID, "alerts-mail-stop").click()
    wait.until(lambda d: "Stopped" in d.find_element(By.ID, "alerts-mail-result").text)
    assert "only here, in the app" in driver.find_element(By.ID, "alerts-mail-status").text


def test_an_administrator_subscribes_to_the_compliance_report_and_stops_it(browser, live_url):
    driver = browser
    browser_sign_in(driver, live_url, "Organization Administrator")
    driver.get(live_url + "/admin/compliance")
    wait = WebDriverWait(driver, 90)
    wait.until(lambda d: d.find_elements(By.ID, "compliance-sub-create"))
    button = driver.find_element(By.ID, "compliance-sub-create")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    wait.until(lambda d: "Subscribed" in d.find_element(By.ID, "compliance-sub-result").text)
    _save_shot(driver, "compliance-subscribe-1400")
    driver.find_element(By.ID, "compliance-sub-mine").click()  # a person opens the list and picks theirs

    def pick(d) -> bool:
        options = [o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]") if "Compliance report" in o.text]
        if options:
            options[0].click()
        return bool(options)

    wait.until(pick)
    driver.find_element(By.ID, "compliance-sub-stop").click()
    wait.until(lambda d: "Stopped" in d.find_element(By.ID, "compliance-sub-result").text)
    driver.get(live_url + "/admin/settings")
    wait.until(lambda d: d.find_element(By.ID, "settings-alert_roas_floor").get_attribute("value") == "1")
    _save_shot(driver, "settings-floor-1400")
