"""One journey per built-in role in a real browser: sign in (TOTP for administrators), see exactly
the navigation the role may use, and get the 403 page on a URL it may not open."""

from __future__ import annotations

import dash
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.security.permissions import BUILTIN_ROLES
from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _pages(tmp_path) -> list[dict]:
    """The page registry as the app builds it: same construction, so the same modules."""
    if not dash.page_registry:
        from core.db import Database
        from tests.support import make_app

        make_app(Database(f"sqlite:///{tmp_path / 'registry.db'}"), tmp_path)
    return list(dash.page_registry.values())


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_role_journey(browser, live_url, role, tmp_path):
    browser_sign_in(browser, live_url, role)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav-links .nav-link"))
    # Everyday pages are links; administration pages are items of one menu (hidden until opened).
    links = browser.find_elements(By.CSS_SELECTOR, "#nav-links .nav-link:not(.dropdown-toggle)")
    items = browser.find_elements(By.CSS_SELECTOR, ".nav-admin-item")
    shown = sorted([link.text for link in links] + [item.get_attribute("textContent") for item in items])
    held = BUILTIN_ROLES[role]
    pages = _pages(tmp_path)
    expected = sorted(p["name"] for p in pages if p.get("nav", True) and p["permission"] in held)
    assert shown == expected, f"{role} sees {shown}, expected {expected}"
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".ag-row, .alert"))
    screenshot(browser, f"journey-{role.lower().replace(' ', '-')}")
    forbidden = [p for p in pages if p["permission"] not in held]
    if forbidden:
        browser.get(live_url + forbidden[0]["path"])
        WebDriverWait(browser, 20).until(lambda d: "403" in d.find_element(By.TAG_NAME, "body").text)
        assert "not allowed" in browser.find_element(By.TAG_NAME, "body").text.lower()
