"""Every role visits every page it may open, on the production shape (PostgreSQL, Redis, Celery worker).

Each visible chart must hold data, no error banner or stack trace may show, and the browser console
must stay clean. Each page is photographed at desktop width and at a 390-px phone width
(artifacts/screenshots/page-<page>-<role>-{desktop,phone}.png) so a person can look at them.
"""

from __future__ import annotations

import time

import dash
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from core.security.permissions import BUILTIN_ROLES
from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser

# Charts drawn without data would show an empty axis; the pages show an empty state instead.
CHART_POINTS_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(el => el.offsetParent !== null)
  .map(el => {
    const traces = el.data || [];
    const size = v => (v && v.length) || 0;
    const points = traces.reduce((n, t) => n + Math.max(size(t.x), size(t.y), size(t.z), size(t.values),
                                                        size(t.labels), size(t.r)), 0);
    const holder = el.closest('[id]');
    return [holder ? holder.id : '?', points];
  });
"""
# Dash's own bookkeeping (window.store is the renderer's Redux store) plus the loading markers it draws.
BUSY_JS = """
const state = window.store && window.store.getState();
if (!state || !state.callbacks) { return 1; }
const c = state.callbacks;
const queued = ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed']
  .reduce((n, key) => n + ((c[key] && c[key].length) || 0), 0);
return queued + document.querySelectorAll('[data-dash-is-loading="true"], ._dash-loading').length;
"""


def _pages(tmp_path) -> list[dict]:
    if not dash.page_registry:
        from core.db import Database
        from tests.support import make_app

        make_app(Database(f"sqlite:///{tmp_path / 'registry.db'}"), tmp_path)
    return list(dash.page_registry.values())


def _settle(driver, timeout: float = 90) -> None:
    """Wait until Dash has answered every callback the page fired (two quiet looks in a row)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"{driver.current_url} still loading after {timeout} s")
        busy = driver.execute_script(BUSY_JS)
        ready = driver.execute_script("return document.readyState") == "complete"
        quiet = quiet + 1 if ready and busy == 0 else 0
        time.sleep(0.4)


def _problems(driver) -> list[str]:
    problems = []
    banner = driver.find_elements("id", "app-error")
    if banner and banner[0].is_displayed() and banner[0].text.strip():
        problems.append(f"error banner: {banner[0].text.strip()[:200]}")
    body = driver.find_element("tag name", "body").text
    if "Traceback" in body or "Internal Server Error" in body:
        problems.append("a stack trace or server error is shown")
    for holder, points in driver.execute_script(CHART_POINTS_JS):
        if points == 0:
            problems.append(f"chart {holder} has no data")
    severe = [e["message"] for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    problems.extend(f"console: {m[:200]}" for m in severe)
    return problems


def _phone_width(driver) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_every_permitted_page_shows_data(browser, live_stack, role, tmp_path):
    browser_sign_in(browser, live_stack.url, role)
    held = BUILTIN_ROLES[role]
    pages = [p for p in _pages(tmp_path) if p["permission"] in held]
    assert pages, f"{role} may open no page"
    role_slug = role.lower().replace(" ", "-")
    charts_seen = 0
    for page in pages:
        page_slug = page["path"].strip("/").replace("/", "-") or "portfolio"
        browser.get(live_stack.url + page["path"])
        _settle(browser)
        problems = _problems(browser)
        if problems and "reference" in problems[0]:
            problems.append(live_stack.log_about(problems[0].rstrip(".").split()[-1]))
        assert not problems, f"{role} on {page['path']}: {problems}"
        charts_seen += len(browser.execute_script(CHART_POINTS_JS))
        screenshot(browser, f"page-{page_slug}-{role_slug}-desktop")
        _phone_width(browser)
        _settle(browser)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"{page['path']} scrolls sideways on a phone for {role}: {width}px"
        screenshot(browser, f"page-{page_slug}-{role_slug}-phone")
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert charts_seen > 0, f"{role} saw no chart at all"


def test_forbidden_page_is_refused_on_the_stack(browser, live_stack):
    browser_sign_in(browser, live_stack.url, "Viewer")
    browser.get(live_stack.url + "/optimizer")
    WebDriverWait(browser, 20).until(lambda d: "403" in d.find_element("tag name", "body").text)
    assert "optimizer-run" not in browser.page_source
