"""A new customer from an empty database to a first plan, in a real browser (issue 14, item 9).

`python app.py` without the demo on an empty database. The person who installed it opens the
one-time setup link the app wrote to its log, creates the first System Administrator and enrols
MFA (the TOTP code computed from the key the enrolment page shows), creates the organization and
invites its Organization Administrator, signs out. The invited administrator sets a password,
enrols MFA and sets the portfolio up: a project, three own and three competitor brands (the bulk
CSV of the Portfolio setup page), the metric framework from the template with one section weight
changed, the metric and the marketing sample files shipped in data/samples/new_customer/ (preview,
then commit, with their shipped mappings; the marketing import queues a refit of the three own
brands' response curves, followed to the end on the Model review page), the portfolio page with
scores for the six brands and the checklist ticking, then a first optimizer run on the fitted curves.
Screenshots at 1280 px (and the portfolio and the optimizer result at 390 px) go to a temporary
folder printed at the end, never into the repository.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from core.demo.samples import COMPETITOR_BRANDS, OWN_BRANDS, PROJECT
from tests.browser.conftest import ROOT, _app_env, _driver, _free_port, _serve

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "data" / "samples" / "new_customer"
MAPPINGS = ROOT / "docs" / "import-mappings"
ROOT_ADMIN = ("root@kestrel.example", "Ravi Menon", "Harbour-lights-2026!")
ORG_ADMIN = ("olga@kestrel.example", "Olga Kestrel", "Quiet-meadow-2031!")
ORGANIZATION = "Kestrel Beverages"
TOKEN = re.compile(r"/setup\?token=(\S+)")
WAIT = 60


class Blank:
    """The app on an empty database: its address and its log."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def setup_link(self) -> str:
        found = TOKEN.search(self.log.read_text(errors="replace"))
        assert found, "the app did not log a setup link: " + self.log.read_text(errors="replace")[-2000:]
        return f"{self.url}/setup?token={found.group(1)}"


@pytest.fixture(scope="module")
def blank(tmp_path_factory, _chrome_available) -> Iterator[Blank]:
    """`python app.py` with DIGICADENCE_DEMO=0 on an empty embedded database (it migrates at start)."""
    instance = tmp_path_factory.mktemp("new-customer")
    port = _free_port()
    env = {**_app_env(instance, port), "DIGICADENCE_DEMO": "0", "SECRET_KEY": "new-customer-" + "k" * 40}
    server = _serve(env, instance, port)
    try:
        yield Blank(next(server), instance / "app.log")
    finally:
        server.close()


# ------------------------------------------------------------------------------------------------ helpers

class Shots:
    """Screenshots of the whole page into a temporary folder (printed, never committed)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dc-new-customer-"))

    @staticmethod
    def _viewport(driver, width: int, height: int) -> None:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})

    def take(self, driver, name: str, width: int = 1280) -> None:
        self._viewport(driver, width, max(driver.execute_script("return document.body.scrollHeight") + 50, 800))
        driver.save_screenshot(str(self.folder / f"{name}-{width}.png"))
        self._viewport(driver, width, 900)

    def phone(self, driver, name: str, ready: str) -> int:
        """Reload the page on a 390-px phone, wait for `ready` (CSS), take it; returns the page's width.
        The viewport stays a phone's until `desktop`."""
        self._viewport(driver, 390, 844)
        driver.refresh()
        _element(driver, ready)
        self.take(driver, name, 390)
        return driver.execute_script("return document.documentElement.scrollWidth")

    def desktop(self, driver) -> None:
        self._viewport(driver, 1280, 900)


def _until(driver, condition, what: str, timeout: float = WAIT):
    """Wait for `condition`; on a timeout, fail with the page's address and text (what a person would see)."""
    try:
        # A Dash re-render can replace an element between finding it and reading it; that is a retry, not a failure.
        return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        pytest.fail(f"{what} (after {timeout} s) at {driver.current_url}:\n{_body(driver)[:3000]}")


def _body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_text(driver, text: str, timeout: int = WAIT, where: str = "body") -> None:
    by = (By.TAG_NAME, "body") if where == "body" else (By.ID, where)
    _until(driver, lambda d: text in d.find_element(*by).text, f"no {text!r} in {where}", timeout)


def _element(driver, css: str, timeout: int = WAIT):
    return _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, css), f"no {css}", timeout)[0]


def _click(driver, css: str, timeout: int = WAIT) -> None:
    """Click once it is there, enabled and nothing covers it (a grid overlay, a sticky navbar)."""
    def clicked(d) -> bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        if not found or not found[0].is_enabled():
            return False
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
        try:
            found[0].click()
        except (ElementClickInterceptedException, StaleElementReferenceException, ElementNotInteractableException):
            return False
        return True

    _until(driver, clicked, f"could not click {css}", timeout)


def _type(driver, css: str, text: str) -> None:
    """Replace the box's text once it takes keys (a form in a collapse is shown by an animation)."""
    def typed(d) -> bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        if not found or not found[0].is_displayed():
            return False
        try:
            found[0].send_keys(Keys.CONTROL, "a")
            found[0].send_keys(text)
        except (ElementNotInteractableException, StaleElementReferenceException):
            return False
        return True

    _until(driver, typed, f"could not type into {css}")


def _enrol(driver) -> None:
    """MFA enrolment at the first sign-in: read the key, type its current code, keep going."""
    _until(driver, lambda d: "/login/enrol" in d.current_url, what="no MFA enrolment")
    secret = _element(driver, "#manual-key").text.strip()
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).now())  # each person enrols once
    driver.find_element(By.ID, "confirm").click()
    assert len(_element(driver, "#recovery-codes").find_elements(By.TAG_NAME, "li")) == 10
    _click(driver, "#continue")
    _until(driver, lambda d: "/login" not in d.current_url, "still signing in")


def _sign_in_first_time(driver, url: str, email: str, password: str) -> None:
    driver.get(url + "/login")
    _type(driver, "#email", email)
    _type(driver, "#password", password)
    driver.find_element(By.ID, "sign-in").click()
    _enrol(driver)


def _upload(driver, upload_id: str, path: Path) -> None:
    _element(driver, f"#{upload_id} input[type=file]").send_keys(str(path))


def _pick(driver, dropdown_id: str, label: str) -> None:
    """Choose an option of a dcc.Dropdown by typing its label, as a person does."""
    _click(driver, f"#{dropdown_id}")
    search = _element(driver, f"#{dropdown_id} input, .dash-dropdown-search input, input.dash-dropdown-search")
    search.send_keys(label)

    def choose(d) -> bool:
        # Find and click in one step, so an option list re-rendered in between is simply read again.
        options = [o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]") if label in o.text]
        if not options:
            return False
        options[0].click()
        return True

    _until(driver, choose, what=f"no option {label!r} in #{dropdown_id}")
    _until(driver, lambda d: label in d.find_element(By.ID, dropdown_id).text, f"#{dropdown_id} did not take {label!r}")


def _json(text: str | None) -> object:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _checklist(driver) -> str:
    return _element(driver, "#getting-started").text


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# ------------------------------------------------------------------------------------------------ the journey

def _first_administrator(driver, blank: Blank, shots: Shots) -> None:
    email, name, password = ROOT_ADMIN
    driver.get(blank.setup_link())
    for box, text in (("#email", email), ("#name", name), ("#password", password), ("#confirm", password)):
        _type(driver, box, text)
    shots.take(driver, "01-setup")
    driver.find_element(By.ID, "create-admin").click()
    _until(driver, lambda d: d.current_url.endswith("/login"), "not sent to sign in")
    _sign_in_first_time(driver, blank.url, email, password)


def _organization(driver, blank: Blank, shots: Shots) -> str:
    """Create the organization with its administrator's invitation; returns the invitation link."""
    email, name, _password = ORG_ADMIN
    driver.get(blank.url + "/admin/organizations")
    _wait_text(driver, "0 organizations")
    _click(driver, "#orgs-new")
    for box, text in (("#orgs-new-name", ORGANIZATION), ("#orgs-new-admin-email", email),
                      ("#orgs-new-admin-name", name)):
        _type(driver, box, text)
    _click(driver, "#orgs-create")
    _wait_text(driver, f"{ORGANIZATION} was created")
    _wait_text(driver, "/login/invite/")
    shots.take(driver, "02-organization")
    link = re.search(r"https?://\S+/login/invite/\S+", _body(driver))
    assert link, _body(driver)
    return link.group(0)


def _sign_out(driver) -> None:
    driver.execute_script("document.getElementById('sign-out').closest('form').submit()")
    _until(driver, lambda d: "/login" in d.current_url, "not signed out")


def _accept_invitation(driver, blank: Blank, link: str) -> None:
    email, _name, password = ORG_ADMIN
    driver.get(link)
    _type(driver, "#new", password)
    _type(driver, "#confirm", password)
    driver.find_element(By.ID, "set-password").click()
    _until(driver, lambda d: d.current_url.endswith("/login"), "not sent to sign in")
    _sign_in_first_time(driver, blank.url, email, password)


def _project_and_brands(driver, blank: Blank, shots: Shots, tmp: Path) -> None:
    _click(driver, "#getting-started-link-project")  # the checklist's first step opens Portfolio setup
    _until(driver, lambda d: d.current_url == blank.url + "/admin/portfolio", "the checklist link went elsewhere")
    _type(driver, "#pset-project-new", PROJECT)
    _click(driver, "#pset-project-create")
    _wait_text(driver, f"Project “{PROJECT}” created.", where="pset-message")
    brands = tmp / "brands.csv"
    brands.write_text("name,role,projects\n" + "".join(f"{b},own,{PROJECT}\n" for b in OWN_BRANDS)
                      + "".join(f"{b},competitor,{PROJECT}\n" for b in COMPETITOR_BRANDS), encoding="utf-8")
    _upload(driver, "pset-csv", brands)
    _wait_text(driver, "6 brand(s)", where="pset-csv-result")
    _click(driver, "#pset-csv-commit")
    _until(driver, lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#pset-brands .ag-center-cols-container .ag-row")) == 6, what="six brands in the grid")
    grid = driver.find_element(By.ID, "pset-projects").text
    assert PROJECT in grid
    shots.take(driver, "03-portfolio-setup")


def _framework(driver, blank: Blank, shots: Shots) -> None:
    """Start from the template, raise Marketplace's weight from 0.3 to 0.4, save."""
    driver.get(blank.url + "/admin/framework")
    _click(driver, "#framework-template")
    _wait_text(driver, "Started from the template: 60 metrics.", where="framework-result")
    cell = "#framework-sections .ag-row[row-index='0'] .ag-cell[col-id='weight']"
    _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, cell)
           and d.find_element(By.CSS_SELECTOR, cell).text == "0.3", "the template's Marketplace weight 0.3")
    assert "Marketplace" in driver.find_element(By.CSS_SELECTOR, "#framework-sections .ag-row[row-index='0']").text
    _click(driver, cell)
    editor = _element(driver, f"{cell} input")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("0.4", Keys.ENTER)
    _until(driver, lambda d: d.find_element(By.CSS_SELECTOR, cell).text == "0.4", "Marketplace weight not 0.4")
    _click(driver, "#framework-save")
    _element(driver, "#framework-saved")
    _until(driver, lambda d: d.find_element(By.CSS_SELECTOR, cell).text == "0.4", "Marketplace weight not 0.4")
    _wait_text(driver, "framework v2", where="framework-version")
    shots.take(driver, "04-framework")


def _import(driver, blank: Blank, shots: Shots, kind: str) -> str:
    """Upload the sample, choose its shipped mapping, preview, commit; returns the committed summary."""
    driver.get(f"{blank.url}/admin/import?kind={kind}")
    _until(driver, lambda d: d.find_elements(By.ID, "import-mapping")
           and d.find_element(By.ID, "import-mapping").get_attribute("value"), "no mapping shown")
    _upload(driver, "import-upload", SAMPLES / f"{kind}.csv")
    _wait_text(driver, f"{kind}.csv", where="import-upload-status")
    _pick(driver, "import-mapping-choice", f"new_customer_{kind}.json")
    shipped = json.loads((MAPPINGS / f"new_customer_{kind}.json").read_text())
    shipped.pop("description")
    _until(driver, lambda d: _json(d.find_element(By.ID, "import-mapping").get_attribute("value")) == shipped,
           "the chosen mapping is not in the editor")  # Preview sends the editor's text
    _click(driver, "#import-preview")
    _element(driver, "#import-preview-ok", timeout=90)
    _click(driver, "#import-commit")
    committed = _element(driver, "#import-committed", timeout=120).text
    shots.take(driver, f"05-import-{kind}")
    return committed


def _portfolio(driver, blank: Blank, shots: Shots) -> None:
    driver.get(blank.url + "/")
    _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-kpis .card"), "no KPI cards")
    _until(driver, lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#portfolio-ranking .ag-center-cols-container .ag-row")) == 6, what="six ranked brands")
    ranking = driver.find_element(By.ID, "portfolio-ranking").text
    for brand in (*OWN_BRANDS, *COMPETITOR_BRANDS):
        assert brand in ranking, f"{brand} not ranked: {ranking}"
    assert re.search(r"\b\d{1,3}\.\d\b", ranking), f"no scores in the ranking: {ranking}"
    assert "Setup 6 of 7 done" in _checklist(driver)  # the import's refits fitted the curves
    shots.take(driver, "06-portfolio")
    width = shots.phone(driver, "06-portfolio", "#portfolio-ranking .ag-row")
    assert width <= 400, f"the portfolio page is {width} px wide on a phone"
    shots.desktop(driver)


def _models_fitted(driver, blank: Blank, shots: Shots) -> None:
    """The marketing import queued a fit per own brand: Model review lists all three as fitted (version 1)."""
    def fitted(d) -> bool:
        d.get(blank.url + "/models")
        _element(d, "#models-brand")
        _click(d, "#models-brand")
        options = [o.text for o in d.find_elements(By.CSS_SELECTOR, "[role=option]")]
        return len(options) == 3 and all("(version 1)" in o for o in options)

    _until(driver, fitted, "the import's refits did not fit the three own brands", 600)
    driver.get(blank.url + "/models")
    _element(driver, "#models-review .js-plotly-plot")
    shots.take(driver, "06b-models")


def _optimize(driver, blank: Blank, shots: Shots) -> None:
    driver.get(blank.url + "/optimizer")
    _element(driver, "#optimizer-run")
    brands = _element(driver, "#optimizer-brands").text
    assert "(not fitted yet)" not in brands and "3 selected" in brands, brands  # the three own brands, fitted
    assert driver.find_element(By.CSS_SELECTOR, "#optimizer-source input:checked").get_attribute("value") == "fitted"
    _click(driver, "#optimizer-run")
    _element(driver, "#optimizer-result-view", timeout=150)
    kpis = driver.find_element(By.ID, "optimizer-kpis").text.upper()
    assert "PREDICTED REVENUE" in kpis and "UPLIFT" in kpis
    _element(driver, "#optimizer-allocation-graph .barlayer .trace")
    shots.take(driver, "07-optimizer")
    _type(driver, "#optimizer-save-name", "First plan")
    _click(driver, "#optimizer-save")
    _element(driver, "#optimizer-saved")
    width = shots.phone(driver, "07-optimizer", "#optimizer-result-view")  # a reload shows the last result
    assert width <= 400, f"the optimizer is {width} px wide on a phone"
    shots.desktop(driver)


def test_a_new_customer_from_an_empty_database_to_a_first_plan(blank, tmp_path):
    shots = Shots()
    driver = _driver(1280, 900)
    try:
        _first_administrator(driver, blank, shots)
        invitation = _organization(driver, blank, shots)
        _sign_out(driver)
        _accept_invitation(driver, blank, invitation)
        driver.get(blank.url + "/")
        assert "Setup 0 of 7 done" in _checklist(driver)
        shots.take(driver, "02b-checklist")
        _project_and_brands(driver, blank, shots, tmp_path)
        _framework(driver, blank, shots)
        metrics = _import(driver, blank, shots, "metrics")
        assert "8,640" in metrics and "DC scores recomputed for: " + PROJECT in metrics, metrics
        marketing = _import(driver, blank, shots, "marketing")
        assert "1,248" in marketing and "312" in marketing, marketing
        assert "Models of 3 brand(s) are being refitted" in marketing, marketing
        _models_fitted(driver, blank, shots)
        _portfolio(driver, blank, shots)
        _optimize(driver, blank, shots)
        driver.get(blank.url + "/")  # every step done: the checklist is gone, the portfolio stays
        _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#portfolio-kpis .card"), "no KPI cards")
        assert not driver.find_elements(By.ID, "getting-started")
        shots.take(driver, "08-portfolio-after-plan")
        assert _severe(driver) == []
    finally:
        print(f"\nscreenshots: {shots.folder}")
        driver.quit()
