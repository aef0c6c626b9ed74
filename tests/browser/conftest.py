"""Real app processes and a real headless Chromium to drive them.

`live_url` is `python app.py` on the embedded default (SQLite, jobs on an in-process executor), as a newcomer runs it.
`live_stack` is the production shape: the app on PostgreSQL with sessions, rate limits and durable
jobs on Redis, and a separate Celery worker process. Screenshots go to artifacts/screenshots/ (ignored
by git) so a person can look at them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.support import wait as selenium_wait

from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL, require_service
from tests.support import DEMO_PASSWORD, DEMO_TOTP

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

# Every wait in these tests polls a page that Dash re-renders: an element found a moment ago may be
# replaced before its text is read. That is a reason to look again, never a failure, so every
# WebDriverWait (which reads this default at construction) retries on it as on a missing element.
selenium_wait.IGNORED_EXCEPTIONS = (NoSuchElementException, StaleElementReferenceException)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_env(instance: Path, port: int) -> dict[str, str]:
    env = {**os.environ, "DIGICADENCE_INSTANCE_DIR": str(instance), "PORT": str(port),
           "DIGICADENCE_DEMO_PASSWORD": DEMO_PASSWORD, "DIGICADENCE_DEMO_TOTP_SECRET": DEMO_TOTP,
           # Browser tests sign in dozens of times a minute from one address; the limits themselves
           # are tested in tests/integration/web/test_sign_in.py.
           "DIGICADENCE_SIGNIN_RATE_PER_IP": "1000 per minute",
           "DIGICADENCE_SIGNIN_RATE_PER_ACCOUNT": "1000 per minute"}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DIGICADENCE_DEMO", "DIGICADENCE_CELERY_QUEUE"):
        env.pop(name, None)
    return env


def _stop(proc: subprocess.Popen, grace: float = 10) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _serve(env: dict[str, str], instance: Path, port: int) -> Iterator[str]:
    """Run `python app.py` with `env` until the generator is closed; yields its URL once it answers."""
    log = (instance / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode}: {(instance / 'app.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail("app did not answer /healthz within 240 s")
        yield url
    finally:
        _stop(proc)
        log.close()


@dataclass(frozen=True)
class LiveApp:
    url: str
    instance: Path  # app.log and the embedded SQLite database are here

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.instance / 'digicadence.db'}"


@pytest.fixture(scope="session")
def live_app(tmp_path_factory) -> Iterator[LiveApp]:
    """`python app.py` as a newcomer runs it, in a throw-away instance folder."""
    instance = tmp_path_factory.mktemp("instance")
    port = _free_port()
    server = _serve(_app_env(instance, port), instance, port)
    try:
        yield LiveApp(next(server), instance)
    finally:
        server.close()


@pytest.fixture(scope="session")
def live_url(live_app) -> str:
    return live_app.url


def _live_redis_url() -> str:
    """A Redis database of its own: integration tests FLUSHDB theirs, and run their own workers."""
    url = os.environ.get("TEST_LIVE_REDIS_URL")
    if url:
        return url
    base, _, db = REDIS_TEST_URL.rpartition("/")
    return f"{base}/{(int(db) - 1) % 16 if db.isdigit() else 14}"


@dataclass(frozen=True)
class LiveStack:
    url: str
    database_url: str
    instance: Path  # app.log and worker.log are here

    def log_about(self, reference: str) -> str:
        """The app log's lines around an error reference shown in the browser, for the failure message."""
        lines = (self.instance / "app.log").read_text(errors="replace").splitlines()
        hits = [i for i, line in enumerate(lines) if reference in line]
        return "\n".join(lines[hits[0]: hits[0] + 40]) if hits else "(reference not in app.log)"


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory) -> Iterator[LiveStack]:
    """The app on PostgreSQL and Redis with a real Celery worker process, demo portfolio seeded.

    The Celery queue name is unique to this run, so no other worker on the same Redis can take its jobs.
    """
    import redis
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    redis_url = _live_redis_url()
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require_service(f"Redis not reachable at {redis_url}: {exc.__class__.__name__}")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        require_service(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    run = uuid.uuid4().hex[:10]
    name = f"dc_live_{run}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    instance = tmp_path_factory.mktemp("live-stack")
    port = _free_port()
    env = {**_app_env(instance, port), "DIGICADENCE_DEMO": "1", "SECRET_KEY": "live-stack-" + "s" * 40,
           "DATABASE_URL": make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "DIGICADENCE_CELERY_QUEUE": f"dc-live-{run}"}
    worker = None
    server = _serve(env, instance, port)
    try:
        url = next(server)  # the web process migrates and seeds before it answers
        worker_env = {k: v for k, v in env.items() if k != "DIGICADENCE_DEMO"}
        worker_log = instance / "worker.log"
        with worker_log.open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker:celery", "worker", "--loglevel=INFO",
                 "--concurrency=2", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while " ready." not in worker_log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail("celery worker did not start: " + worker_log.read_text()[-3000:])
            time.sleep(0.5)
        yield LiveStack(url, env["DATABASE_URL"], instance)
    finally:
        if worker is not None:
            _stop(worker, grace=20)
        server.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _chrome_available() -> None:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        require_service(f"Chromium not found at {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)")


def _driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Reduced motion turns off Bootstrap's smooth scrolling: headless Chromium 156 animates a
    # scrollIntoView so slowly that a click lands where the element was before the scroll.
    for arg in ("--headless=new", "--force-prefers-reduced-motion", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(_chrome_available):
    driver = _driver(1400, 1000)
    yield driver
    driver.quit()


@pytest.fixture
def phone(_chrome_available):
    """A 390-px-wide phone viewport; desktop Chromium cannot make a window that narrow itself."""
    driver = _driver(500, 844)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Full page height so the whole view is in the picture.
    height = driver.execute_script("return document.body.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": max(height + 50, 800), "deviceScaleFactor": 1, "mobile": width < 500},
    )
    driver.save_screenshot(str(path))
    return path


def screenshot_at(driver, folder: Path, name: str, width: int) -> Path:
    """The whole page at `width` CSS pixels, as `folder/name-width.png` (for a person to look at)."""
    folder.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    time.sleep(0.6)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": max(height + 20, 800), "deviceScaleFactor": 1,
                            "mobile": width < 500})
    time.sleep(0.3)
    path = folder / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


DEMO_EMAILS = {
    "System Administrator": "admin@demo.digicadence.test",
    "Organization Administrator": "orgadmin@demo.digicadence.test",
    "Portfolio Manager": "portfolio@demo.digicadence.test",
    "Brand Manager": "brand@demo.digicadence.test",
    "Analyst": "analyst@demo.digicadence.test",
    "Viewer": "viewer@demo.digicadence.test",
}
_used_steps: dict[str, int] = {}


def browser_sign_in(driver, base_url: str, role: str) -> None:
    """Fill the sign-in form like a person; administrators also type a fresh TOTP code."""
    import pyotp
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/login")
    driver.find_element(By.ID, "email").send_keys(DEMO_EMAILS[role])
    driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 20).until(
        lambda d: "/login" not in d.current_url or "/login/mfa" in d.current_url,
        message=f"{role} still on the sign-in page",
    )
    if "/login/mfa" in driver.current_url:
        totp = pyotp.TOTP(DEMO_TOTP)
        step = int(time.time() // 30)
        while _used_steps.get(role, -1) >= step:  # each code works once: wait for the next one
            time.sleep(1)
            step = int(time.time() // 30)
        _used_steps[role] = step
        driver.find_element(By.ID, "code").send_keys(totp.at(step * 30))
        driver.find_element(By.ID, "verify").click()
        WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)
