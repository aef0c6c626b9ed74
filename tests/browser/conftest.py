"""A real app process on the embedded default and a real headless Chromium to drive it.

Screenshots go to artifacts/screenshots/ (ignored by git) so a person can look at them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import require_service
from tests.support import DEMO_PASSWORD, DEMO_TOTP

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_url(tmp_path_factory) -> Iterator[str]:
    """`python app.py` as a newcomer runs it, in a throw-away instance folder."""
    instance = tmp_path_factory.mktemp("instance")
    port = _free_port()
    env = {**os.environ, "DIGICADENCE_INSTANCE_DIR": str(instance), "PORT": str(port),
           "DIGICADENCE_DEMO_PASSWORD": DEMO_PASSWORD, "DIGICADENCE_DEMO_TOTP_SECRET": DEMO_TOTP,
           # Browser tests sign in dozens of times a minute from one address; the limits themselves
           # are tested in tests/integration/web/test_sign_in.py.
           "DIGICADENCE_SIGNIN_RATE_PER_IP": "1000 per minute",
           "DIGICADENCE_SIGNIN_RATE_PER_ACCOUNT": "1000 per minute"}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DIGICADENCE_DEMO"):
        env.pop(name, None)
    log = (instance / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode}: {(instance / 'app.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail("app did not answer /healthz within 180 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def _chrome_available() -> None:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        require_service(f"Chromium not found at {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)")


def _driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
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
