"""Classified charts in a real browser (issue 17 item 3): with one metric of the Brand Manager's
organization classified confidential, the Brand Manager's Brand explorer charts carry a
"Confidential" badge and offer the metric; a Viewer's say "Internal", leave the metric out and say so.
A flighting plan reopened from a confidential scenario shows "Confidential" on its cards. Screenshots
at 1440 (1400 for the plan) and 390 px for a person to look at (the plan's also in /tmp/wt-classgaps-shots/)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.budget import catalogue
from core.db import Database
from core.flighting.run import run_flighting
from core.models import Metric, Organization, Scenario, User
from core.security import load_principal
from tests.browser.conftest import DEMO_EMAILS, browser_sign_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def confidential_metric(live_app):
    """The first metric of the demo's first organization, classified confidential for the test."""
    db = Database(live_app.database_url)
    with db.session() as s:
        org = s.scalars(select(Organization.id).order_by(Organization.id)).first()
        metric = s.scalars(select(Metric).where(Metric.organization_id == org).order_by(Metric.id)).first()
        metric.classification = "confidential"
        label = f"{metric.name} ({metric.platform.name})"
        ident = metric.id
    try:
        yield label
    finally:
        with db.session() as s:
            s.get(Metric, ident).classification = "internal"
        db.engine.dispose()


def _badges(driver) -> list[str]:
    """The chart cards' badge texts, read inside the wait (Dash may replace the cards while they are read)."""
    return WebDriverWait(driver, 60).until(lambda d: [b.text for b in d.find_elements(
        By.CSS_SELECTOR, ".card-header .classification-badge")] or None)


def test_classified_charts_carry_their_level_and_leave_out_what_a_viewer_may_not_read(browser, phone, live_url,
                                                                                       confidential_metric):
    browser.set_window_size(1440, 1000)
    browser_sign_in(browser, live_url, "Brand Manager")
    browser.get(live_url + "/brand")
    badges = _badges(browser)
    assert set(badges) == {"Confidential"} and len(badges) == 6
    WebDriverWait(browser, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#brand-breakdown-graph g.slice"))
    assert "metric left out" not in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, "classification-brand-manager-1440")
    browser.get(live_url + "/")  # the Portfolio page states the highest level beside its title
    assert WebDriverWait(browser, 60).until(lambda d: [b.text for b in d.find_elements(
        By.CSS_SELECTOR, "h2 .classification-badge")] or None) == ["Confidential"]
    WebDriverWait(browser, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-heatmap .heatmaplayer"))
    screenshot(browser, "classification-portfolio-1440")

    browser_sign_in(phone, live_url, "Viewer")
    phone.get(live_url + "/brand")
    assert set(_badges(phone)) == {"Internal"}
    note = WebDriverWait(phone, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, ".classification-note").text)
    assert note.startswith("1 metric left out: classified confidential")
    WebDriverWait(phone, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#brand-breakdown-graph g.slice"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot(phone, "classification-viewer-390")



SHOTS = Path("/tmp/wt-classgaps-shots")


@pytest.fixture
def confidential_plan(live_app):
    """A flighting plan of the Portfolio Manager's first plannable brand (a real run on the demo's true
    curves), saved as the manager's scenario classified confidential."""
    db = Database(live_app.database_url)
    with db.session() as s:
        manager = s.scalar(select(User.id).where(User.email == DEMO_EMAILS["Portfolio Manager"]))
    principal = load_principal(db, manager)
    brand = catalogue(db, principal)["brands"][0]["id"]
    inputs = {"brand_ids": [brand], "weeks": 13, "budget": 1_000_000, "curve_source": "truth"}
    result = run_flighting(db, manager, inputs)
    with db.session() as s:
        scenario = Scenario(organization_id=principal.organization_id, owner_id=manager, name="Confidential quarter",
                            kind="flighting", inputs=inputs, constraints={}, result=result,
                            classification="confidential")
        s.add(scenario)
        s.flush()
        ident = scenario.id
    try:
        yield ident
    finally:
        with db.session() as s:
            s.delete(s.get(Scenario, ident))
        db.engine.dispose()


def _plan_shot(driver, name: str, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    time.sleep(0.5)  # Plotly redraws at the new width
    path = screenshot(driver, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def test_a_plan_from_a_confidential_scenario_shows_its_level(browser, live_url, confidential_plan):
    browser.set_window_size(1400, 1000)
    browser_sign_in(browser, live_url, "Portfolio Manager")
    browser.get(f"{live_url}/flighting?scenario={confidential_plan}")
    WebDriverWait(browser, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#flighting-heatmap .heatmaplayer"))
    badges = WebDriverWait(browser, 30).until(lambda d: [b.text for b in d.find_elements(
        By.CSS_SELECTOR, "#flighting-result-view .card-header .classification-badge")] or None)
    assert badges == ["Confidential"] * 4
    assert browser.find_elements(By.ID, "flighting-export-csv")
    _plan_shot(browser, "classification-flighting-plan-1400", 1400)
    _plan_shot(browser, "classification-flighting-plan-390", 390)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
