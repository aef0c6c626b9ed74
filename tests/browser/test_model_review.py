"""The model review page in a real browser (`python app.py`: SQLite, fit jobs on the in-process executor).

A Viewer (an executive) opens /models: their brand is not fitted yet and there is no Fit button. The
demo Analyst picks that brand, presses Fit now, sees the job's progress and then the charts and the
diagnostics; the Viewer reloads and sees the same review, still without a Fit button. Screenshots at
desktop and phone width (Shots, printed folder) are for a person to look at.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import browser_sign_in
from tests.browser.test_new_customer import Shots, _click, _element, _pick, _until

pytestmark = pytest.mark.browser

FIT_WAIT = 600  # a full fit (100 bootstrap refits) on a shared CI machine
CHART_POINTS_JS = """
return Array.from(document.querySelectorAll('#models-review .js-plotly-plot')).map(el =>
  (el.data || []).reduce((n, t) => n + Math.max((t.x || []).length, (t.y || []).length), 0));
"""


def _open(driver, url: str) -> None:
    driver.get(url + "/models")
    _element(driver, "#models-brand")
    _until(driver, lambda d: d.find_elements(By.ID, "models-review") or d.find_elements(By.ID, "models-not-fitted"),
           "the review area did not render")


def _chosen_brand(driver) -> str:
    return driver.find_element(By.ID, "models-brand").text.split(" · ")[0].strip()


def test_fit_a_brand_and_review_it(browser, phone, live_url):
    shots = Shots()
    browser_sign_in(phone, live_url, "Viewer")
    _open(phone, live_url)
    brand = _chosen_brand(phone)
    assert "not fitted yet" in phone.find_element(By.ID, "models-brand").text
    assert phone.find_elements(By.ID, "models-not-fitted") and not phone.find_elements(By.ID, "models-fit")

    browser_sign_in(browser, live_url, "Analyst")
    _open(browser, live_url)
    _pick(browser, "models-brand", brand)
    _until(browser, lambda d: d.find_elements(By.ID, "models-not-fitted"), f"{brand} shows no 'not fitted yet'")
    _click(browser, "#models-fit")
    _until(browser, lambda d: d.find_element(By.ID, "models-progress-wrap").is_displayed(), "no progress bar", 60)
    shots.take(browser, "models-fitting")
    _until(browser, lambda d: d.find_elements(By.ID, "models-review"), "no review after the fit", FIT_WAIT)
    assert "Fitted" in browser.find_element(By.ID, "models-message").text
    diagnostics = browser.find_element(By.ID, "models-diagnostics").text
    for label in ("R²", "HOLDOUT MAPE", "NRMSE", "DW"):
        assert label in diagnostics.upper(), diagnostics
    _until(browser, lambda d: len(d.execute_script(CHART_POINTS_JS)) >= 6, "the charts did not draw", 60)
    points = browser.execute_script(CHART_POINTS_JS)
    assert all(n > 0 for n in points), points
    assert "version 1" in browser.find_element(By.ID, "models-version-header").text
    assert "first fit" in browser.find_element(By.ID, "models-changes").text
    shots.take(browser, "models-analyst")
    width = shots.phone(browser, "models-analyst", "#models-review .js-plotly-plot")
    assert width <= 400, f"/models scrolls sideways on a phone: {width}px"
    shots.desktop(browser)

    _open(phone, live_url)  # the Viewer now reads the same version, and still may not fit
    _until(phone, lambda d: d.find_elements(By.ID, "models-review"), "the Viewer sees no review")
    assert brand in phone.find_element(By.ID, "models-version-header").text
    assert not phone.find_elements(By.ID, "models-fit")
    shots.take(phone, "models-viewer", 390)
    print(f"screenshots: {shots.folder}")
