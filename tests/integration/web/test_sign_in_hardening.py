"""Issue 12: `next` after sign-in stays on this site however it is spelled, never answers 500, and
look-alike spellings of an address sign in (and count toward the per-account limit) as one account.

One SQLite world and one app for the module: what is checked here does not depend on the database.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from core.demo import seed_demo
from core.models import User
from tests.conftest import _empty
from tests.support import DEMO_PASSWORD, DEMO_TOTP, demo_people, form_token, make_app, sign_in

# `next` as an attacker writes it into a link's query string. A browser strips leading and trailing
# C0 controls and spaces, drops tab/CR/LF anywhere and reads "\" as "/", so each would leave the site.
HOSTILE_NEXT = [
    "/%09/evil.test", "/%0A/evil.test", "/%0D/evil.test", "/%0D%0A/evil.test", "%09/%09/evil.test",
    "/%09%09/evil.test", "//%09evil.test", "%0A%0D//evil.test", "%20//evil.test", "%00//evil.test",
    "/%00/evil.test", "/%5Cevil.test", "%5C%5Cevil.test", "/%5C/evil.test", "%5C/evil.test", "/%09%5Cevil.test",
    "///evil.test", "////evil.test", "//evil.test", "%2F%2Fevil.test", "/%2Fevil.test", "https:evil.test",
    "https://evil.test", "http:%5C%5Cevil.test", "javascript:alert(1)", "%09javascript:alert(1)",
]
KEPT_NEXT = {"%2Fbrand%3Fx%3D1": "/brand?x=1", "/scenarios": "/scenarios"}
ADMIN, SYSADMIN, ANALYST = "Organization Administrator", "System Administrator", "Analyst"


@pytest.fixture(scope="module")
def world(_sqlite_db, tmp_path_factory):
    _empty(_sqlite_db)
    seed_demo(_sqlite_db, seed=7, months=1)
    tmp = tmp_path_factory.mktemp("hardening")
    people = demo_people(_sqlite_db, tmp)
    app = make_app(_sqlite_db, tmp, signin_rate_per_ip="10000 per minute",
                   signin_rate_per_account="10000 per minute")
    yield {"db": _sqlite_db, "app": app, "people": people, "tmp": tmp}
    _empty(_sqlite_db)


def _client(world):
    return world["app"].server.test_client()


def _form_action(response) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', response.get_data(as_text=True))
    assert match, "no form on the page"
    return html.unescape(match.group(1))


def _password(client, email: str, url: str):
    page = client.get("/login")
    return client.post(url, data={"email": email, "password": DEMO_PASSWORD,
                                  "csrf_token": form_token(page.get_data(as_text=True))})


def _home(response, where: str) -> None:
    """A clean redirect to the home page (never a 500, never another site)."""
    assert response.status_code == 302, f"{where}: {response.status_code}"
    assert response.location == "/", f"{where}: Location {response.location!r}"


def _next_param(location: str) -> str:
    return parse_qs(urlsplit(location).query).get("next", [""])[0]


def test_next_after_the_password_step_never_leaves_the_site(world):
    email = world["people"][ANALYST].email
    for raw in HOSTILE_NEXT:
        client = _client(world)
        page = client.get(f"/login?next={raw}")  # the link the attacker sends
        assert page.status_code == 200, raw
        action = _form_action(page)
        done = client.post(action, data={"email": email, "password": DEMO_PASSWORD,
                                         "csrf_token": form_token(page.get_data(as_text=True))})
        _home(done, f"form of /login?next={raw}")
        _home(_password(_client(world), email, f"/login?next={raw}"), f"POST /login?next={raw}")


def test_next_when_already_signed_in_never_leaves_the_site(world):
    client = _client(world)
    assert sign_in(client, world["people"][ANALYST].email).status_code == 302
    for raw in HOSTILE_NEXT:
        _home(client.get(f"/login?next={raw}"), f"signed in, /login?next={raw}")


def test_next_through_the_second_factor_never_leaves_the_site(world):
    email, totp = world["people"][ADMIN].email, pyotp.TOTP(DEMO_TOTP)
    start = datetime.now(UTC) + timedelta(minutes=1)
    for i, raw in enumerate(HOSTILE_NEXT):
        with time_machine.travel(start + timedelta(seconds=30 * i), tick=False):  # a fresh code each time
            client = _client(world)
            first = _password(client, email, f"/login?next={raw}")
            assert first.status_code == 302 and first.location.startswith("/login/mfa"), raw
            assert _next_param(first.location) == "/", raw
            page = client.get(f"/login/mfa?next={raw}")  # the step itself, reached with a crafted link
            assert _next_param(_form_action(page)) == "/", raw
            done = client.post(f"/login/mfa?next={raw}", data={
                "code": totp.now(), "csrf_token": form_token(page.get_data(as_text=True))})
            _home(done, f"POST /login/mfa?next={raw}")


def test_next_through_enrolment_never_leaves_the_site(world):
    db, email = world["db"], world["people"][SYSADMIN].email
    for raw in HOSTILE_NEXT:
        with db.session() as s:  # not enrolled yet: the sign-in goes through enrolment
            admin = s.scalar(select(User).where(User.email == email))
            admin.mfa_enabled, admin.mfa_secret_encrypted, admin.mfa_last_timestep = False, None, None
        client = _client(world)
        first = _password(client, email, f"/login?next={raw}")
        assert first.status_code == 302 and first.location.startswith("/login/enrol"), raw
        assert _next_param(first.location) == "/", raw
        page = client.get(f"/login/enrol?next={raw}")
        assert _next_param(_form_action(page)) == "/", raw
        text = page.get_data(as_text=True)
        secret = text.split('id="manual-key">')[1].split("<")[0]
        done = client.post(f"/login/enrol?next={raw}", data={"code": pyotp.TOTP(secret).now(),
                                                              "csrf_token": form_token(text)})
        assert done.status_code == 200, raw
        continue_to = re.search(r'href="([^"]*)" id="continue"', done.get_data(as_text=True)).group(1)
        assert html.unescape(continue_to) == "/", f"enrolment with next={raw}: {continue_to!r}"


def test_a_newline_in_next_is_a_clean_redirect_home(world):
    """It answered 500: a newline reached the Location header."""
    email = world["people"][ANALYST].email
    cases = {"/%0A/evil.test": "/", "%0A": "/", "/%0D%0ASet-Cookie:%20x=1": "/Set-Cookie:%20x=1"}
    for raw, home in cases.items():
        done = _password(_client(world), email, f"/login?next={raw}")
        assert done.status_code == 302 and done.location == home, raw
        assert "x=1" not in done.headers.get("Set-Cookie", ""), raw
        client = _client(world)
        sign_in(client, email)
        again = client.get(f"/login?next={raw}")
        assert again.status_code == 302 and again.location == home, raw


def test_local_next_paths_are_kept(world):
    email = world["people"][ANALYST].email
    for raw, kept in KEPT_NEXT.items():
        done = _password(_client(world), email, f"/login?next={raw}")
        assert done.status_code == 302 and done.location == kept


def test_an_address_signs_in_however_its_case_or_width_is_typed(world):
    email = world["people"][ANALYST].email
    local, domain = email.split("@")
    for typed in (f"{local}@{domain.upper()}", f"  {email.upper()} ",
                  "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email)):  # full-width letters
        assert _password(_client(world), typed, "/login").status_code == 302, typed
    look_alike = _password(_client(world), email + "\u200b", "/login")
    assert look_alike.status_code == 401


def test_look_alike_spellings_share_the_per_account_limit(world):
    app = make_app(world["db"], world["tmp"], signin_rate_per_account="3 per minute")
    email = world["people"]["Viewer"].email
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email)
    codes = []
    for typed in (email, email.upper(), full_width, email):
        page_client = app.server.test_client()
        codes.append(sign_in(page_client, typed, password="not-the-password-1").status_code)
    assert codes == [401, 401, 401, 429]
