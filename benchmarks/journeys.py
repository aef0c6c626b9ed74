"""What the three kinds of user do, step by step, on a `DashTab` (see benchmarks.dash_client).

Kept apart from the locustfile so the same journeys run without locust (tests, a quick manual check).
`think(seconds_low, seconds_high)` is the pause a person takes between steps; locust passes a
gevent-friendly sleep, tests pass a no-op. Every journey names the page kind of each request
("portfolio", "brand", "optimizer", "scenarios", "sign-in"), which the load report aggregates on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from benchmarks.dash_client import DashClientError, DashTab

Think = Callable[[float, float], None]
PAGES = ("sign-in", "portfolio", "brand", "optimizer", "scenarios")
ROLE_EMAILS = {
    "Portfolio Manager": "portfolio@demo.digicadence.test",
    "Brand Manager": "brand@demo.digicadence.test",
    "Analyst": "analyst@demo.digicadence.test",
}


def sign_in(transport: Callable[..., Any], email: str, password: str) -> None:
    """The sign-in form as a browser submits it (GET the form for its CSRF token, POST it)."""
    form = transport("GET", "/login", "sign-in GET /login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or not match:
        raise DashClientError(f"sign-in form: HTTP {form.status_code}", http_status=form.status_code)
    answer = transport("POST", "/login", "sign-in POST /login", allow_redirects=False,
                       data={"email": email, "password": password, "csrf_token": match.group(1)})
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or "/login" in location:
        raise DashClientError(f"sign-in of {email} refused: HTTP {answer.status_code} → {location or '-'}")


def _other(options: list, current: Any) -> Any:
    choices = [o for o in options if o != current]
    return random.choice(choices) if choices else current


def executive(tab: DashTab, think: Think) -> None:
    """Portfolio page load, a filter change (another project, a stricter alert threshold), open a brand."""
    tab.load("/", "portfolio")
    think(2, 5)
    if len(tab.options("portfolio-project")) > 1:
        tab.set_props("portfolio-project", value=_other(tab.options("portfolio-project"),
                                                        tab.props("portfolio-project").get("value")))
        think(2, 5)
    tab.set_props("portfolio-drop-threshold", value=random.choice([2, 3, 5, 8]))
    think(1, 3)
    brands = tab.links("/brand?")
    if brands:
        tab.follow_link(random.choice(brands), "brand")
        think(3, 6)


def marketer(tab: DashTab, think: Think) -> None:
    """Brand explorer: metric changes, a competitor overlay, another comparison period, downloads."""
    tab.load("/brand", "brand")
    think(2, 4)
    metrics = tab.options("brand-metric")
    for _ in range(2):
        tab.set_props("brand-metric", value=_other(metrics, tab.props("brand-metric").get("value")))
        think(1, 3)
    competitors = tab.options("brand-competitors")
    if competitors:
        tab.set_props("brand-competitors", value=random.sample(competitors, min(len(competitors), 3)))
        think(1, 3)
    periods = tab.options("brand-from")
    if len(periods) > 2:
        tab.set_props("brand-from", value=periods[min(len(periods) - 1, 12)])  # a year back
        think(1, 3)
    tab.click("brand-series-csv")
    think(1, 2)
    tab.click(random.choice(["brand-breakdown-xlsx", "brand-gaps-csv", "brand-waterfall-csv"]))
    think(2, 4)


def analyst(tab: DashTab, think: Think) -> None:
    """Optimizer: start a run, follow its progress to the end, save it as a scenario, open Scenarios."""
    tab.load("/optimizer", "optimizer")
    think(2, 5)
    if not tab.has("optimizer-run"):
        raise DashClientError("optimizer: no Run button on the page")
    tab.click("optimizer-run")  # submits a job; the page's interval follows it until done
    if not tab.has("optimizer-save"):
        message = tab.props("optimizer-message").get("children") if tab.has("optimizer-message") else None
        raise DashClientError(f"optimizer: no result to save after the run: {message}")
    think(2, 4)
    tab.click("optimizer-save")
    links = tab.links("/scenarios")
    if not links:
        raise DashClientError(f"optimizer: save did not confirm: {tab.props('optimizer-save-message')}")
    think(1, 3)
    tab.follow_link(links[0], "scenarios")
    rows = tab.props("scenarios-grid").get("rowData") or []
    if rows:
        think(1, 3)
        tab.set_props("scenarios-grid", selectedRows=rows[: min(len(rows), 2)])
        tab.click("scenarios-compare")
    think(2, 4)


JOURNEYS = {"Portfolio Manager": executive, "Brand Manager": marketer, "Analyst": analyst}
