"""Locust users for the load test: executives browsing, marketers exploring, analysts optimizing.

    locust -f benchmarks/locustfile.py --host http://127.0.0.1:8050   # against a running app
    python -m benchmarks.load --users 50 --minutes 5 --json             # the whole run, set up and torn down

Each simulated person signs in once (the demo account of their role; password from
DIGICADENCE_DEMO_PASSWORD) and then repeats their journey (benchmarks.journeys) in one browser tab
driven by benchmarks.dash_client, which sends the page, layout, dependency and callback requests a
real dash-renderer sends. Requests are named "<page> <what>", so the report can aggregate per page.
Something a person would see as an error (HTTP error, the app's error banner, a run that never
finishes) is recorded as a failed "journey" request named after the page.
"""

from __future__ import annotations

import os
import random
from urllib.parse import urlencode

import gevent
from locust import FastHttpUser, between, task

from benchmarks.dash_client import DashClientError, DashTab
from benchmarks.journeys import JOURNEYS, ROLE_EMAILS, sign_in

PASSWORD_ENV = "DIGICADENCE_DEMO_PASSWORD"
# Set by benchmarks.load: the user mix ("5:3:2" = executives : marketers : analysts) and a factor on
# every think time (a smoke run shortens the pauses to cover every page in seconds).
MIX = [int(part) for part in os.environ.get("DC_LOAD_MIX", "5:3:2").split(":")]
THINK_SCALE = float(os.environ.get("DC_LOAD_THINK_SCALE", "1"))


class DashUser(FastHttpUser):
    """FastHttpUser (geventhttpclient), not HttpUser (requests): the load generator shares the two cores
    with the app it measures, and requests costs it about three times the CPU per request."""

    abstract = True
    role = ""
    wait_time = between(2 * THINK_SCALE, 6 * THINK_SCALE)

    def _send(self, method: str, path: str, name: str, *, params: dict | None = None, **kwargs):
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params)}"
        return self.client.request(method, path, name=name, **kwargs)

    def _think(self, low: float, high: float) -> None:
        gevent.sleep(random.uniform(low, high) * THINK_SCALE)

    def _csrf(self) -> str | None:
        return next((c.value for c in self.client.cookiejar if c.name == "_csrf_token"), None)

    def on_start(self) -> None:
        self.signed_in = False
        try:
            sign_in(self._send, ROLE_EMAILS[self.role], os.environ[PASSWORD_ENV])
            self.signed_in = True
        except DashClientError as exc:
            self._journey_failed("sign-in", exc)

    def _journey_failed(self, page: str, exc: DashClientError) -> None:
        if exc.http_status is not None:
            return  # locust already counted the failed request itself
        self.environment.events.request.fire(request_type="JOURNEY", name=f"{page} journey", response_time=0,
                                             response_length=0, exception=exc, context={})

    @task
    def journey(self) -> None:
        if not self.signed_in:
            self.on_start()
            if not self.signed_in:
                gevent.sleep(5)
                return
        tab = DashTab(self._send, self.host.rstrip("/"), self._csrf, sleep=gevent.sleep)
        try:
            JOURNEYS[self.role](tab, self._think)
        except DashClientError as exc:
            self._journey_failed(tab.page, exc)


class ExecutiveBrowsing(DashUser):
    """Portfolio Manager: the Portfolio page, a filter change, open a brand."""

    role = "Portfolio Manager"
    weight = MIX[0]


class MarketerExploring(DashUser):
    """Brand Manager: the Brand explorer — metrics, competitor overlay, downloads."""

    role = "Brand Manager"
    weight = MIX[1]


class AnalystOptimizing(DashUser):
    """Analyst: an optimizer run followed to the end, saved, then Scenarios."""

    role = "Analyst"
    weight = MIX[2]
