"""One journey per built-in role in a real browser: sign in (TOTP for administrators), see exactly
the navigation the role may use, and get the 403 page on a URL it may not open."""

from __future__ import annotations

import dash
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from core.security.permissions import BUILTIN_ROLES
from tests.browser.conftest import ROOT, browser_sign_in, screenshot

pytestmark = pytest.mark.browser


def _pages() -> list[dict]:
    """The app's page registry as the running app builds it (same modules, same permissions)."""
    if not dash.page_registry:
        dash.Dash(__name__, use_pages=True, pages_folder=str(ROOT / "dashboard" / "pages"))
    return list(dash.page_registry.values())


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_role_journey(browser, live_url, role):
    browser_sign_in(browser, live_url, role)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav-links .nav-link"))
    shown = sorted(link.text for link in browser.find_elements(By.CSS_SELECTOR, "#nav-links .nav-link"))
    held = BUILTIN_ROLES[role]
    pages = _pages()
    expected = sorted(p["name"] for p in pages if p.get("nav", True) and p["permission"] in held)
    assert shown == expected, f"{role} sees {shown}, expected {expected}"
    screenshot(browser, f"journey-{role.lower().replace(' ', '-')}")
    forbidden = [p for p in pages if p["permission"] not in held]
    if forbidden:
        browser.get(live_url + forbidden[0]["path"])
        WebDriverWait(browser, 20).until(lambda d: "403" in d.find_element(By.TAG_NAME, "body").text)
        assert "not allowed" in browser.find_element(By.TAG_NAME, "body").text.lower()
