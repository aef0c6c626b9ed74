"""The navigation bar on a phone: the menu button opens the collapsed links, and an administrator's
administration pages sit in one menu in the order of setting up an organization."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.shell import ADMIN_ORDER
from tests.browser.conftest import browser_sign_in, screenshot


def test_the_menu_button_opens_the_navigation_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "System Administrator")
    phone.get(live_url + "/admin/portfolio")
    WebDriverWait(phone, 30).until(lambda d: d.find_elements(By.ID, "nav-admin"))
    admin = phone.find_element(By.ID, "nav-admin")
    assert not admin.is_displayed()  # collapsed behind the menu button at 390 px
    phone.find_element(By.ID, "nav-toggler").click()
    WebDriverWait(phone, 10).until(lambda d: admin.is_displayed())
    admin.find_element(By.CSS_SELECTOR, ".dropdown-toggle").click()
    items = phone.find_elements(By.CSS_SELECTOR, ".nav-admin-item")
    WebDriverWait(phone, 10).until(lambda d: items[0].is_displayed())
    hrefs = [item.get_attribute("href").removeprefix(live_url) for item in items]
    assert hrefs == sorted(hrefs, key=lambda h: ADMIN_ORDER.index(h) if h in ADMIN_ORDER else len(ADMIN_ORDER))
    assert hrefs[0] == "/admin/portfolio" and "/admin/organizations" in hrefs
    screenshot(phone, "navigation-phone-open")
    phone.find_element(By.ID, "nav-toggler").click()
    WebDriverWait(phone, 10).until(lambda d: not admin.is_displayed())
