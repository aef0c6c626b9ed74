"""Classified charts in a real browser (issue 17 item 3): with one metric of the Brand Manager's
organization classified confidential, the Brand Manager's Brand explorer charts carry a
"Confidential" badge and offer the metric; a Viewer's say "Internal", leave the metric out and say so.
Screenshots at 1440 and 390 px for a person to look at."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.db import Database
from core.models import Metric, Organization
from tests.browser.conftest import browser_sign_in, screenshot

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

