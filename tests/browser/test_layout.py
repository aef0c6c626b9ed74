"""Issue 16, item 9 (layout), as a tester saw it at 1440 and 390 px: the navigation on one row for every
role, KPI cards that cut no text, Plotly's toolbar out of the Tab order and off the heatmap's cells,
whole metric names, a usable alert threshold, the DC score in view and whole amounts on a phone, and
the allocation chart's labels clear of its legend. The figure half is tests/unit/test_chart_layout.py.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import DEMO_EMAILS, _driver, browser_sign_in, screenshot

pytestmark = pytest.mark.browser

# Every element of a KPI card (title, value, detail) whose text is wider than its box: cut or overflowing.
CUT_TEXT = """
return Array.from(document.querySelectorAll(arguments[0] + ' .card-body > div'))
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.textContent + ' (' + e.scrollWidth + ' > ' + e.clientWidth + ')');
"""
RECT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"


@pytest.fixture
def wide(_chrome_available):
    """A 1440-px-wide laptop screen, the tester's."""
    driver = _driver(1440, 900)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def _rect(driver, element) -> list[float]:
    return driver.execute_script(RECT, element)


def _portfolio(driver, url: str) -> None:
    browser_sign_in(driver, url, "Portfolio Manager")
    driver.get(url + "/")
    WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row"))
                                    >= 20)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-trend .scatterlayer .trace"))
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#portfolio-kpis .card")) >= 5)


def _no_cut_kpis(driver, container: str) -> None:
    assert driver.find_elements(By.CSS_SELECTOR, f"{container} .card-body > div"), "no KPI cards found"
    assert driver.execute_script(CUT_TEXT, container) == []


def test_navigation_is_one_row_at_1440_px_for_every_role(wide, live_url):
    for role in DEMO_EMAILS:
        wide.delete_all_cookies()
        browser_sign_in(wide, live_url, role)
        wide.get(live_url + "/profile")
        WebDriverWait(wide, 30).until(lambda d: d.find_elements(By.ID, "user-menu"))
        items = [*wide.find_elements(By.CSS_SELECTOR, "#nav-links > *"), wide.find_element(By.ID, "user-menu"),
                 wide.find_element(By.ID, "theme-toggle")]
        middles = [(box[1] + box[3]) / 2 for box in (_rect(wide, item) for item in items if item.is_displayed())]
        assert max(middles) - min(middles) <= 12, f"{role}: the navigation wraps: rows at {sorted(set(middles))}"
        right = max(_rect(wide, item)[2] for item in items)
        assert right <= 1440, f"{role}: the navigation runs {right - 1440:.0f} px past the screen"
        if role == "System Administrator":  # the initials open the person's menu: name, profile, sign-out
            wide.find_element(By.CSS_SELECTOR, "#user-menu .dropdown-toggle").click()
            WebDriverWait(wide, 10).until(lambda d: d.find_element(By.ID, "sign-out").is_displayed())
            menu = wide.find_element(By.CSS_SELECTOR, "#user-menu .dropdown-menu").text
            assert "System Administrator" in menu and "Profile" in menu and "Sign out" in menu
            screenshot(wide, "layout-navigation-admin-1440")


def test_portfolio_at_1440_px_cuts_no_kpi_and_tab_skips_the_chart_toolbar(wide, live_url):
    _portfolio(wide, live_url)
    _no_cut_kpis(wide, "#portfolio-kpis")
    ActionChains(wide).move_to_element(wide.find_element(By.ID, "portfolio-trend")).perform()
    buttons = wide.find_elements(By.CSS_SELECTOR, ".modebar-btn")
    assert buttons and all(b.get_attribute("tabindex") == "-1" for b in buttons)
    # Tab from the top of the page past the trend chart: into the movers' links, never onto the toolbar.
    wide.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    visited = []
    for _ in range(150):
        ActionChains(wide).send_keys(Keys.TAB).perform()
        visited.append(wide.execute_script(
            "const e = document.activeElement; return [!!e.closest('#portfolio-movers'), !!e.closest('.modebar')];"))
        if visited[-1][0]:
            break
    assert visited[-1][0], "Tab never reached the movers after the trend chart"
    assert not any(on_toolbar for _, on_toolbar in visited), "Tab stopped on Plotly's toolbar"
    # The heatmap's cells stay uncovered on hover: no toolbar over its plot area.
    heat = wide.find_element(By.ID, "portfolio-heatmap")
    ActionChains(wide).move_to_element(heat).perform()
    area = _rect(wide, heat.find_element(By.CSS_SELECTOR, ".nsewdrag"))
    for bar in heat.find_elements(By.CSS_SELECTOR, ".modebar"):
        assert _rect(wide, bar)[3] <= area[1], "the toolbar covers the heatmap's top row"
    screenshot(wide, "layout-portfolio-1440")


def test_portfolio_on_a_phone_keeps_the_threshold_and_the_dc_score_in_view(phone, live_url):
    _portfolio(phone, live_url)
    _no_cut_kpis(phone, "#portfolio-kpis")
    box = phone.find_element(By.ID, "portfolio-drop-threshold")
    assert box.size["width"] >= 80, f"the alert threshold box is {box.size['width']} px wide"
    header = phone.find_elements(By.CSS_SELECTOR, "#portfolio-ranking .ag-header-cell[col-id='score']")
    assert header, "the DC score column is not drawn without scrolling"
    left, _top, right, _bottom = _rect(phone, header[0])
    grid = _rect(phone, phone.find_element(By.ID, "portfolio-ranking"))
    assert grid[0] <= left and right <= min(grid[2], 390) + 1, f"the DC score header ends at {right} px"
    screenshot(phone, "layout-portfolio-390")


def _brand(driver, url: str) -> None:
    browser_sign_in(driver, url, "Brand Manager")
    driver.get(url + "/brand")
    for mark in ("#brand-waterfall-graph .bars .point path",
                 "#brand-correlation-graph .heatmaplayer image, #brand-correlation-graph .heatmaplayer .hm"):
        WebDriverWait(driver, 90).until(lambda d, m=mark: d.find_elements(By.CSS_SELECTOR, m))
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#brand-kpis .card")) == 4)


def _whole_names(driver) -> None:
    kpis = driver.find_element(By.ID, "brand-kpis").text
    ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#brand-waterfall-graph .ytick text")]
    assert ticks and "…" not in kpis and not any("…" in t for t in ticks), f"cut text: {kpis!r} {ticks}"
    _no_cut_kpis(driver, "#brand-kpis")


@pytest.mark.parametrize("width", [1440, 390])
def test_brand_page_names_metrics_whole_and_keeps_the_toolbar_off_the_heatmap(width, request):
    driver = request.getfixturevalue("wide" if width == 1440 else "phone")
    url = request.getfixturevalue("live_url")
    _brand(driver, url)
    _whole_names(driver)
    if width == 1440:
        heat = driver.find_element(By.ID, "brand-correlation-graph")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", heat)
        ActionChains(driver).move_to_element(heat.find_element(By.CSS_SELECTOR, ".nsewdrag")).perform()
        bar = heat.find_element(By.CSS_SELECTOR, ".modebar")
        area = _rect(driver, heat.find_element(By.CSS_SELECTOR, ".nsewdrag"))
        assert _rect(driver, bar)[3] <= area[1] + 1, "the toolbar covers the correlation heatmap's top row"
    screenshot(driver, f"layout-brand-{width}")


def _run_optimizer(driver, url: str) -> None:
    """The optimizer for three brands (a Portfolio Manager's default): cells labelled "Brand · Channel"."""
    browser_sign_in(driver, url, "Portfolio Manager")
    driver.get(url + "/optimizer")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-cells .ag-row"))


def _cut_cells(driver, grid: str, fields: tuple[str, ...]) -> tuple[int, list[str]]:
    cells = [c for f in fields for c in driver.find_elements(By.CSS_SELECTOR, f"#{grid} .ag-cell[col-id='{f}']")]
    cut = driver.execute_script(
        "return arguments[0].filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent);", cells)
    return len(cells), cut


@pytest.mark.parametrize("width", [1440, 390])
def test_optimizer_shows_whole_amounts_and_chart_labels_clear_of_the_legend(width, request):
    driver = request.getfixturevalue("wide" if width == 1440 else "phone")
    url = request.getfixturevalue("live_url")
    _run_optimizer(driver, url)
    count, cut = _cut_cells(driver, "optimizer-cells", ("current",))
    assert count and cut == [], f"amounts cut in the constraint grid: {cut}"
    run = driver.find_element(By.XPATH, "//label[contains(., 'Demo truth curves')]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", run)
    button = driver.find_element(By.ID, "optimizer-run")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
    WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-allocation-table .ag-row"))
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#optimizer-allocation-graph .barlayer .trace"))
    money = ("current", "optimal", "change")
    WebDriverWait(driver, 20).until(lambda d: _cut_cells(d, "optimizer-allocation-table", money)[0])
    count, cut = _cut_cells(driver, "optimizer-allocation-table", money)
    assert count and cut == [], f"amounts cut in the allocation table: {cut}"
    _no_cut_kpis(driver, "#optimizer-kpis")
    graph = driver.find_element(By.ID, "optimizer-allocation-graph")
    brands = set(driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('.ytick text'), t => "
        "(t.querySelector('tspan.line') || t).textContent);", graph))
    assert len(brands) > 1, f"not a multi-brand run: {brands}"
    legend = _rect(driver, graph.find_element(By.CSS_SELECTOR, ".legend"))
    for tick in graph.find_elements(By.CSS_SELECTOR, ".xtick text, .ytick text"):
        box = _rect(driver, tick)
        overlap = box[0] < legend[2] and legend[0] < box[2] and box[1] < legend[3] and legend[1] < box[3]
        assert not overlap, f"the label {tick.text!r} runs into the legend"
    assert not graph.find_elements(By.CSS_SELECTOR, ".xtick text[transform*='rotate']"), "rotated labels"
    screenshot(driver, f"layout-optimizer-{width}")
