"""Real OpenID providers for the SSO tests: tests/oidc/provider.mjs (the certified `oidc-provider`) on Node.

`start_providers` runs `npm ci` when tests/oidc/node_modules is missing, then starts one provider per
organization on a free loopback port. `drive` plays the browser at the provider with `requests`:
it follows the redirects, submits the login form for the chosen account, and returns the URL the
provider sends back to our callback (without calling it: the test hands it to the app).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from tests.conftest import require_service

HERE = Path(__file__).parent / "oidc"
REDIRECT_URI = "http://localhost/auth/oidc/callback"
POST_LOGOUT_URI = "http://localhost/login"


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _install() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        require_service("Node.js and npm are needed for the OpenID provider tests (apt-get install nodejs npm)")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            require_service(f"npm ci in tests/oidc failed: {done.stderr[-500:]}")


def _wait(issuer: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the OpenID provider exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the OpenID provider at {issuer} did not answer in 30 s")


@contextmanager
def start_providers(tmp: Path, accounts: dict[str, dict[str, dict]],
                    app_url: str = "http://localhost") -> Iterator[dict[str, Provider]]:
    """One provider per key of `accounts` ({name: {login: claims}}), each with one client for the app at `app_url`."""
    _install()
    procs, providers = [], {}
    try:
        for name, logins in accounts.items():
            port = _free_port()
            provider = Provider(f"http://127.0.0.1:{port}", f"dc-{name.lower()}", f"secret-{name.lower()}-0123456789")
            config = {"port": port, "issuer": provider.issuer, "accounts": logins, "clients": [{
                "client_id": provider.client_id, "client_secret": provider.client_secret,
                "redirect_uris": [app_url + "/auth/oidc/callback"],
                "post_logout_redirect_uris": [app_url + "/login"]}]}
            path = tmp / f"provider-{name}.json"
            path.write_text(json.dumps(config))
            proc = subprocess.Popen(["node", str(HERE / "provider.mjs"), str(path)], cwd=HERE,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            _wait(provider.issuer, proc)
            providers[name] = provider
        yield providers
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def drive(url: str, login: str) -> str:
    """Play the browser at the provider from the authorization URL; returns our callback URL with its query."""
    browser = requests.Session()
    browser.trust_env = False
    for _ in range(10):
        if url.startswith(REDIRECT_URI):
            return url
        parts = urlsplit(url)
        if parts.path.startswith("/interaction/") and not parts.path.endswith("/login"):
            form = browser.get(url, timeout=10)
            assert form.ok, form.text
            response = browser.post(url.rstrip("/") + "/login", data={"login": login}, allow_redirects=False,
                                    timeout=10)
        else:
            response = browser.get(url, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), f"{response.status_code} at {url}: {response.text[:300]}"
        url = urljoin(url, response.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


def _person(sub: str, email: str, groups: list[str], amr: list[str] | None = None, verified: bool = True) -> dict:
    return {"sub": sub, "email": email, "email_verified": verified, "groups": groups, "name": sub.title(),
            **({"amr": amr} if amr else {})}


# The people each organization's provider knows (login → claims); `amr` is what the login reports.
ACCOUNTS = {
    "A": {
        "lena": _person("lena", "lena@a.example", ["marketing"], ["pwd", "mfa"]),
        "otto": _person("otto", "otto@a.example", ["marketing"]),  # no second factor at the provider
        "sam": _person("sam", "sam@a.example", ["sales"], ["mfa"]),  # a group no rule maps
        "newbie": _person("newbie", "newbie@a.example", ["marketing"], ["mfa"]),  # never invited
        "mallory": _person("mallory", "boss@b.example", ["marketing"], ["mfa"]),  # A's provider, B's address
        "unverified": _person("unverified", "una@a.example", ["marketing"], ["mfa"], verified=False),
        "impostor": _person("impostor", "lena@a.example", ["marketing"], ["mfa"]),  # lena's address, reused
    },
    "B": {
        "bea": _person("bea", "bea@b.example", ["marketing"], ["mfa"]),
        "lena": _person("lena-at-b", "lena@a.example", ["marketing"], ["mfa"]),  # A's member at B's provider
    },
}


RULES = "groups = marketing -> Analyst @ organization"


def sso_world(db, box, providers: dict[str, Provider], *, jit: bool = False, passwords: bool = True):
    """Organizations A and B (tests/integration/security/conftest.build_world), each signing in through
    its own provider, and A's members: lena (invited), otto (TOTP on), sam, pat (password, Analyst),
    olga (Organization Administrator, password and TOTP). Returns (world, {login: user id})."""
    from core.models import User
    from core.security import sso_settings
    from core.security.passwords import hash_password
    from core.security.principal import load_principal
    from tests.integration.security.conftest import add_user, build_world
    from tests.support import DEMO_PASSWORD, DEMO_TOTP

    world = build_world(db)
    root = load_principal(db, add_user(db, world, "root@ops.example", None, [("System Administrator", "system", None)]))
    for name, provider in providers.items():
        sso_settings.save(db, root, world.orgs[name], {
            "enabled": True, "issuer": provider.issuer, "client_id": provider.client_id,
            "client_secret": provider.client_secret, "allowed_domains": f"{name.lower()}.example",
            "role_mapping": RULES, "jit_provisioning": jit, "local_passwords_enabled": passwords}, box)
    password = hash_password(DEMO_PASSWORD, 4)
    people = {
        "lena": add_user(db, world, "lena@a.example", "A"),
        "otto": add_user(db, world, "otto@a.example", "A"),
        "sam": add_user(db, world, "sam@a.example", "A", [("Viewer", "organization", "A")]),
        "una": add_user(db, world, "una@a.example", "A"),
        "pat": add_user(db, world, "pat@a.example", "A", [("Analyst", "organization", "A")], password_hash=password),
        "olga": add_user(db, world, "olga@a.example", "A", [("Organization Administrator", "organization", "A")],
                         password_hash=password),
        "bea": add_user(db, world, "bea@b.example", "B"),
    }
    with db.session() as s:
        for login in ("otto", "olga"):
            user = s.get(User, people[login])
            user.mfa_secret_encrypted, user.mfa_enabled = box.encrypt(DEMO_TOTP), True
    return world, people
