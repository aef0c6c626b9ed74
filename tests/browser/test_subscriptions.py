"""The Subscriptions page in a real browser on `python app.py`: a Brand Manager subscribes; an
Organization Administrator sees the delivery in the log (mail is not configured in the embedded default,
and the log says so) and resends it; the report e-mail's HTML as a mail client would show it.

Pictures at 1440 and 390 px go to /tmp/wt-subs-shots/ (for a person to look at; never committed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from core.db import Database
from core.jobs.executor import LocalExecutor
from core.models import ReportSubscription
from core.subscriptions.scheduler import tick
from core.subscriptions.sending import report_mail
from tests.browser.conftest import browser_sign_in, screenshot_at
from tests.integration.jobs.support import FAST
from tests.integration.subscriptions.conftest import deliveries, make_due

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/wt-subs-shots")


def _shot(driver, name: str, width: int) -> Path:
    return screenshot_at(driver, SHOTS, name, width)


def _text_appears(driver, element_id: str, text: str, timeout: float = 60) -> None:
    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.ID, element_id).text)


def test_subscribe_then_the_administrators_log_and_resend(browser, live_app):
    url = live_app.url
    browser_sign_in(browser, url, "Brand Manager")
    browser.get(url + "/subscriptions")
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "subs-target").text.strip() not in ("", "Choose…"))
    browser.find_element(By.ID, "subs-create").click()
    _text_appears(browser, "subs-result", "Subscribed.")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#subs-grid .ag-center-cols-container .ag-row"))
    assert "weekly at 08:00 UTC" in browser.find_element(By.ID, "subs-grid").text
    _shot(browser, "subscriptions-brand-manager", 1440)
    _shot(browser, "subscriptions-brand-manager", 390)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1440

    db = Database(live_app.database_url)  # the app's own SQLite file: the period comes due, a tick queues it
    with db.session() as s:
        sub = s.scalars(select(ReportSubscription.id).order_by(ReportSubscription.id.desc())).first()
    make_due(db, sub)
    executor = LocalExecutor(db, FAST)
    try:
        # The app's own timer (every 60 s) may queue it a moment before this tick does: either way, once.
        assert tick(db, executor)["queued"] == 1 or len(deliveries(db, sub)) == 1
    finally:
        executor.shutdown()

    browser.delete_all_cookies()  # a fresh session for the administrator
    browser_sign_in(browser, url, "Organization Administrator")
    browser.get(url + "/subscriptions")
    _text_appears(browser, "subs-log", "mail is not configured")
    assert "failed" in browser.find_element(By.ID, "subs-log").text
    browser.find_element(By.CSS_SELECTOR, "#subs-log .ag-center-cols-container .ag-row .ag-cell").click()
    browser.find_element(By.ID, "subs-resend").click()
    _text_appears(browser, "subs-log-result", "Queued again")
    _shot(browser, "subscriptions-delivery-log", 1440)
    _shot(browser, "subscriptions-delivery-log", 390)


def test_the_report_email_as_a_mail_client_shows_it(browser):
    mail = report_mail("brand@demo.digicadence.test", "Brand card · Digi-Cadence",
                       "Brand card: Aurora Cola (Beverages India) as PDF, weekly at 08:00 Asia/Kolkata",
                       "weekly at 08:00 Asia/Kolkata", "https://digicadence.example.com/brand",
                       "https://digicadence.example.com/unsubscribe/WzEsIjBmIl0.abc",
                       ("brand-aurora-cola-2026-11.pdf", "application/pdf", b"%PDF-"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = SHOTS / "report-email.html"
    page.write_text(mail.html, encoding="utf-8")
    browser.get(page.as_uri())
    assert "Unsubscribe" in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, "report-email", 1440)
    _shot(browser, "report-email", 390)
