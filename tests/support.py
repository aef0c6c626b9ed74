"""Helpers for tests that drive the web app: build it, seed people, sign in like a browser."""

from __future__ import annotations

import re

import dash
import pyotp
from sqlalchemy import select

from app import create_app
from core.config import Config, Keys, MailSettings
from core.models import Organization
from core.security import SecuritySettings, ensure_demo_users
from core.security.crypto import SecretBox, load_keys

DEMO_PASSWORD = "correct-horse-battery-staple-42"
DEMO_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
FAST = SecuritySettings(bcrypt_rounds=4)


def make_app(db, tmp_path, **overrides) -> dash.Dash:
    # Bcrypt cost and Fernet keys as the test environment sets them (tests/conftest.py lowers the cost).
    # No subscription timer (its tick would run in every test app): tests call core.subscriptions.scheduler.tick.
    settings = {"security": SecuritySettings.from_env(), "keys": Keys.from_env(), "mail": MailSettings(tick_s=0),
                **overrides}
    config = Config(database_url=db.url, secret_key="k" * 32, instance_dir=tmp_path, **settings)
    return create_app(config, seed_demo=False)


def demo_people(db, tmp_path) -> dict[str, object]:
    """The six demo users (known password and TOTP secret) in the database's organizations."""
    with db.session() as s:
        org_ids = list(s.scalars(select(Organization.id).order_by(Organization.id)))
    creds = ensure_demo_users(db, *org_ids, password=DEMO_PASSWORD, totp_secret=DEMO_TOTP,
                              settings=FAST, box=SecretBox(load_keys((), tmp_path)))
    return {c.role: c for c in creds}


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def sign_in(client, email: str, password: str = DEMO_PASSWORD, totp_secret: str | None = None, code: str | None = None):
    """The two sign-in steps as a browser does them; returns the last response."""
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": form_token(page.get_data(as_text=True))})
    if response.status_code == 302 and "/login/mfa" in response.location:
        step = client.get(response.location)
        response = client.post(response.location, data={
            "code": code or pyotp.TOTP(totp_secret or DEMO_TOTP).now(),
            "csrf_token": form_token(step.get_data(as_text=True)),
        })
    return response


def csrf_headers(client) -> dict[str, str]:
    """What Dash's renderer sends: the `_csrf_token` cookie copied into X-CSRFToken."""
    client.get("/")
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None, "no _csrf_token cookie"
    return {"X-CSRFToken": cookie.value}


def finished_job(db, principal, result: dict, kind: str = "optimization") -> str:
    """A succeeded job row owned by `principal` holding `result`, as core.jobs.runner leaves one; returns its id.

    For tests that need a finished run (to save, report or export) without running the queue.
    """
    import uuid

    from core.models.base import utcnow
    from core.models.work import Job

    job_id = str(uuid.uuid4())
    with db.session() as s:
        s.add(Job(id=job_id, organization_id=principal.organization_id, owner_id=principal.user_id, kind=kind,
                  status="succeeded", progress=1.0, message="done", payload={}, result=result, attempts=1,
                  started_at=utcnow(), finished_at=utcnow(), heartbeat_at=utcnow()))
    return job_id
