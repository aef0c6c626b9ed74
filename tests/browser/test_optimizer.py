"""The budget optimizer and Scenarios in a real browser, on both ways the app runs background jobs:
the embedded default (diskcache, child processes) and production (Celery worker on Redis, PostgreSQL).

A Brand Manager runs an optimization, sees progress, leaves the page and comes back to the result,
saves it and reopens it from Scenarios; cancel stops a run; a Viewer cannot reach the optimizer; two
people who press Run with identical inputs at the same moment each get their own result.
"""

from __future__ import annotations

import pytest
from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import browser_sign_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(params=["embedded", "celery"])
def app_url(request) -> str:
    """The same journey on diskcache jobs (`python app.py`) and on the Celery worker stack."""
    if request.param == "embedded":
        return request.getfixturevalue("live_url")
    return request.getfixturevalue("live_stack").url


def _visible_text(driver, element_id: str) -> str:
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found and found[0].is_displayed() else ""


def _open_optimizer(driver, url: str) -> None:
    driver.get(url + "/optimizer")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "optimizer-run"))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-cells .ag-row"))


def _choose(driver, label: str) -> None:
    _click(driver, driver.find_element(By.XPATH, f"//label[contains(., '{label}')]"))


def _click(driver, element) -> None:
    """Scroll into view and click (a phone's sticky navbar can cover an element at the top edge)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_brand_manager_runs_saves_and_reopens(browser, app_url):
    live_url = app_url
    browser_sign_in(browser, live_url, "Brand Manager")
    _open_optimizer(browser, live_url)
    _choose(browser, "Fitted curves")  # none fitted yet in a fresh demo: the run fits them first (slow enough)
    _click(browser, browser.find_element(By.ID, "optimizer-run"))
    WebDriverWait(browser, 30).until(lambda d: "%" in _visible_text(d, "optimizer-progress")
                                     or _visible_text(d, "optimizer-progress-text"))
    progress = _visible_text(browser, "optimizer-progress-text")
    assert progress, "no progress shown while running"
    browser.get(live_url + "/scenarios")  # leave while it runs
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "scenarios-grid"))
    _open_optimizer(browser, live_url)  # … and come back: the run is still there
    WebDriverWait(browser, 180).until(lambda d: d.find_elements(By.ID, "optimizer-result-view"))
    kpis = browser.find_element(By.ID, "optimizer-kpis").text.upper()
    assert "PREDICTED OUTCOME" in kpis and "UPLIFT" in kpis and "90 % INTERVAL" in kpis
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-allocation-graph .barlayer .trace"))
    screenshot(browser, "optimizer-desktop")
    for tab in ("Response curves", "Marginal ROI", "Budget frontier", "Risk front"):  # each chart draws traces
        _click(browser, browser.find_element(By.LINK_TEXT, tab))
        WebDriverWait(browser, 20).until(lambda d: [g for g in d.find_elements(By.CSS_SELECTOR, ".tab-pane.active "
                                                                                 ".js-plotly-plot .trace")
                                                    if g.is_displayed()], f"no traces drawn on the {tab} tab")
        screenshot(browser, "optimizer-" + tab.lower().replace(" ", "-"))
    _click(browser, browser.find_element(By.LINK_TEXT, "Allocation"))
    name = browser.find_element(By.ID, "optimizer-save-name")
    name.clear()
    name.send_keys("Browser plan")
    # A real click (a covered button must fail), retried while the tab switch's fade still covers it.
    WebDriverWait(browser, 10, ignored_exceptions=[ElementClickInterceptedException]).until(
        lambda d: d.find_element(By.ID, "optimizer-save").click() or True)
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "optimizer-saved"))
    browser.get(live_url + "/scenarios")
    WebDriverWait(browser, 30).until(lambda d: "Browser plan" in d.find_element(By.ID, "scenarios-grid").text)
    screenshot(browser, "scenarios-desktop")
    browser.find_element(By.LINK_TEXT, "Browser plan").click()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "optimizer-result-view"))
    assert "Reopened scenario" in browser.find_element(By.TAG_NAME, "body").text
    assert "scenario=" in browser.current_url
    assert _severe(browser) == []


def test_cancel_stops_a_run(browser, app_url):
    live_url = app_url
    browser_sign_in(browser, live_url, "Brand Manager")
    _open_optimizer(browser, live_url)
    _choose(browser, "Demo truth curves")
    generations = browser.find_element(By.ID, "optimizer-generations")
    generations.clear()
    generations.send_keys("2000")
    _click(browser, browser.find_element(By.ID, "optimizer-run"))
    WebDriverWait(browser, 30).until(lambda d: _visible_text(d, "optimizer-progress-text"))
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "optimizer-cancel").is_enabled())
    _click(browser, browser.find_element(By.ID, "optimizer-cancel"))
    WebDriverWait(browser, 60).until(lambda d: "Run cancelled" in d.find_element(By.ID, "optimizer-message").text)
    assert browser.find_element(By.ID, "optimizer-run").is_enabled()


def test_viewer_cannot_reach_the_optimizer(browser, live_url):
    browser_sign_in(browser, live_url, "Viewer")
    browser.get(live_url + "/optimizer")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "403" in body and "optimizer-run" not in browser.page_source
    assert not browser.find_elements(By.LINK_TEXT, "Budget optimizer")


def test_pages_on_a_phone(phone, live_url):
    browser_sign_in(phone, live_url, "Brand Manager")
    _open_optimizer(phone, live_url)
    _choose(phone, "Demo truth curves")
    _click(phone, phone.find_element(By.ID, "optimizer-run"))
    WebDriverWait(phone, 120).until(lambda d: d.find_elements(By.ID, "optimizer-result-view"))
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"optimizer scrolls sideways on a phone: {width}px"
    screenshot(phone, "optimizer-phone")
    phone.get(live_url + "/scenarios")
    WebDriverWait(phone, 30).until(lambda d: d.find_elements(By.ID, "scenarios-grid"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "scenarios-phone")


def test_two_people_pressing_run_at_once_each_get_their_own_result(live_stack, _chrome_available):
    """Identical inputs, same moment, on the Celery stack: two jobs, each owned by and shown to its person."""
    import threading

    from sqlalchemy import create_engine, select

    from core.models import Job, RoleGrant, User
    from tests.browser.conftest import DEMO_EMAILS, _driver

    engine = create_engine(live_stack.database_url)
    with engine.connect() as conn:
        brand = conn.execute(select(RoleGrant.scope_id).join(User, User.id == RoleGrant.user_id)
                             .where(User.email == DEMO_EMAILS["Brand Manager"])).scalar_one()
        before = set(conn.execute(select(Job.id)).scalars())
    roles = ("Brand Manager", "Portfolio Manager")
    drivers = {role: _driver(1400, 1000) for role in roles}
    try:
        for role, driver in drivers.items():
            browser_sign_in(driver, live_stack.url, role)
            driver.get(f"{live_stack.url}/optimizer?brands={brand}")
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-cells .ag-row"))
            _choose(driver, "Demo truth curves")
        chosen = {role: d.find_element(By.ID, "optimizer-brands").text for role, d in drivers.items()}
        assert len(set(chosen.values())) == 1, f"inputs differ: {chosen}"
        barrier = threading.Barrier(len(drivers))

        def press(driver) -> None:
            barrier.wait()
            driver.execute_script("document.getElementById('optimizer-run').click()")

        threads = [threading.Thread(target=press, args=(d,)) for d in drivers.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for role, driver in drivers.items():
            WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.ID, "optimizer-result-view"),
                                             message=f"{role} got no result")
            screenshot(driver, f"optimizer-same-moment-{role.lower().replace(' ', '-')}")
        with engine.connect() as conn:
            jobs = conn.execute(select(Job.owner_id, Job.status, Job.result, User.email)
                                .join(User, User.id == Job.owner_id).where(Job.id.not_in(before))).all()
        assert sorted(j.email for j in jobs) == sorted(DEMO_EMAILS[r] for r in roles)
        for job in jobs:
            assert job.status == "succeeded" and job.result["run_by"] == job.owner_id
    finally:
        for driver in drivers.values():
            driver.quit()
        engine.dispose()
