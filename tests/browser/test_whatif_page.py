"""The what-if page in a real browser: sliders, live score, recommend and apply, phone width."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _score(driver) -> str:
    return driver.find_element(By.ID, "whatif-score").text


def _wait_for_sliders(driver) -> None:
    WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".whatif-slider")) >= 10)
    WebDriverWait(driver, 30).until(lambda d: "WHAT-IF DC SCORE" in _score(d).upper())


def test_recommend_and_apply_plan_move_the_score(browser, live_url):
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(live_url + "/whatif")
    _wait_for_sliders(browser)
    before = _score(browser)
    assert "+0.00 vs current" in before.replace("−", "-") and "0 metrics moved" in before
    browser.find_element(By.ID, "whatif-recommend").click()
    WebDriverWait(browser, 60).until(lambda d: "DC after" in d.find_element(By.ID, "whatif-plan").text)
    plan = browser.find_element(By.ID, "whatif-plan").text
    final = re.search(r"DC [\d.]+ → ([\d.]+)", plan).group(1)
    steps = browser.find_elements(By.CSS_SELECTOR, ".whatif-plan-table tbody tr")
    assert 1 <= len(steps) <= 3
    apply = browser.find_element(By.ID, "whatif-apply")
    WebDriverWait(browser, 10).until(lambda d: apply.is_enabled())
    apply.click()
    WebDriverWait(browser, 60).until(lambda d: re.search(r"\b[1-9]\d* metrics? moved", _score(d)))
    WebDriverWait(browser, 30).until(lambda d: _score(d).split("\n")[1] == final)
    assert f"{len(steps)} metric" in _score(browser)
    screenshot(browser, "whatif-desktop")
    browser.find_element(By.ID, "whatif-reset").click()
    WebDriverWait(browser, 60).until(lambda d: "0 metrics moved" in _score(d))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_whatif_is_usable_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "Brand Manager")
    phone.get(live_url + "/whatif")
    _wait_for_sliders(phone)
    assert "best visible competitor" in phone.find_element(By.ID, "whatif-sliders").text  # market data
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways on a phone: {width}px"
    screenshot(phone, "whatif-phone")
