"""The first System Administrator without the demo: `python -m core.setup create-admin` and the
one-time `/setup?token=…` page, on a real empty database (SQLite and PostgreSQL), through the real
Flask app; the new administrator is taken through MFA enrolment at the first sign-in."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from core.config import Config, SecuritySettings
from core.models import AuditEvent, Role, RoleGrant, User
from core.models.base import utcnow
from core.security import Action, verify_chain
from core.setup.__main__ import main
from core.setup.first_admin import setup_token, system_admin_exists
from tests.support import form_token, make_app

ROOT = Path(__file__).resolve().parents[3]
EMAIL = "ada@customer.example"
PASSWORD = "violet-harbour-lantern-93"


def _cli(db, monkeypatch, *args: str, stdin: str | None = PASSWORD + "\n") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    extra = ["--password-stdin"] if stdin is not None else []
    return main(["create-admin", *args, *extra, "--database-url", db.url])


def _admins(db) -> list[tuple[str, str, int]]:
    with db.session() as s:
        return s.execute(select(User.email, RoleGrant.scope_type, RoleGrant.scope_id)
                         .join(RoleGrant, RoleGrant.user_id == User.id).join(Role, Role.id == RoleGrant.role_id)
                         .where(Role.name == "System Administrator")).all()


def _count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_cli_creates_the_first_admin_once(db, monkeypatch, capsys):
    assert _cli(db, monkeypatch, "--email", "Ada@Customer.example", "--name", "Ada Lovelace") == 0
    assert "Created System Administrator" in capsys.readouterr().out
    assert _admins(db) == [(EMAIL, "system", 0)]
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == EMAIL))
        assert user.organization_id is None and not user.must_change_password and not user.mfa_enabled
        events = s.execute(select(AuditEvent.action, AuditEvent.data).order_by(AuditEvent.id)).all()
    assert [(a, d.get("via")) for a, d in events] == [(Action.USER_CREATED, "cli"), (Action.GRANT_CREATED, "cli")]
    assert verify_chain(db).ok

    users = _count(db, User)
    assert _cli(db, monkeypatch, "--email", "second@customer.example", "--name", "Second") == 1
    assert "A System Administrator already exists" in capsys.readouterr().err
    assert _count(db, User) == users and len(_admins(db)) == 1


@pytest.mark.parametrize(("password", "reason"), [
    ("short-1", "at least 12 characters"),
    ("password1234", "most common passwords"),
    ("ada-lovelace-rocks-42", "contains your"),
])
def test_cli_applies_the_password_policy_and_writes_nothing(db, monkeypatch, capsys, password, reason):
    assert _cli(db, monkeypatch, "--email", EMAIL, "--name", "Ada Lovelace", stdin=password + "\n") == 1
    assert reason in capsys.readouterr().err
    assert _count(db, User) == 0 and _count(db, AuditEvent) == 0


def test_cli_without_a_terminal_or_stdin_flag_asks_for_it(db, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a TTY
    assert main(["create-admin", "--email", EMAIL, "--name", "Ada", "--database-url", db.url]) == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert _count(db, User) == 0


def test_cli_refuses_a_look_alike_address(db, monkeypatch, capsys):
    assert _cli(db, monkeypatch, "--email", "аda@customer.example", "--name", "Ada") == 1  # Cyrillic а
    assert "Not created" in capsys.readouterr().err and _count(db, User) == 0


def test_the_command_migrates_a_brand_new_sqlite_file(tmp_path):
    """The real process on a file that does not exist yet: tables first, then the administrator."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    run = subprocess.run([sys.executable, "-m", "core.setup", "create-admin", "--email", EMAIL, "--name", "Ada",
                          "--password-stdin", "--database-url", url], input=PASSWORD + "\n", text=True,
                         capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    again = subprocess.run([sys.executable, "-m", "core.setup", "create-admin", "--email", "b@customer.example",
                            "--name", "B", "--password-stdin", "--database-url", url], input=PASSWORD + "\n",
                           text=True, capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert again.returncode == 1 and "already exists" in again.stderr


def _sign_in_password_step(client, email: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": form_token(page.get_data(as_text=True))})


def test_first_sign_in_goes_through_mfa_enrolment(db, monkeypatch, tmp_path):
    assert _cli(db, monkeypatch, "--email", EMAIL, "--name", "Ada Lovelace") == 0
    client = make_app(db, tmp_path).server.test_client()
    response = _sign_in_password_step(client, EMAIL, PASSWORD)
    assert response.status_code == 302 and "/login/enrol" in response.location
    enrol = client.get(response.location)
    assert enrol.status_code == 200 and "Set up two-factor sign-in" in enrol.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 302  # not signed in before the enrolment is confirmed


# ---- the setup page ----------------------------------------------------------------------------


def _logged_token(caplog) -> str:
    """The setup link as the operator finds it in the log at start."""
    found = re.findall(r"/setup\?token=([A-Za-z0-9_-]+)", caplog.text)
    assert found, "no setup link in the log"
    return found[-1]


def _start(db, path: Path, caplog, **overrides):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="digicadence"):
        app = make_app(db, path, **overrides)
    return app


def _setup_form(client, token: str, **fields):
    page = client.get(f"/setup?token={token}")
    data = {"email": EMAIL, "name": "Ada Lovelace", "password": PASSWORD, "confirm": PASSWORD, **fields,
            "csrf_token": form_token(page.get_data(as_text=True))}
    return client.post(f"/setup?token={token}", data=data)


def test_setup_page_creates_the_first_admin_once(db, tmp_path, caplog):
    app = _start(db, tmp_path, caplog)
    token = _logged_token(caplog)
    client = app.server.test_client()
    seen = []

    def get(path):
        response = client.get(path)
        seen.append(response.get_data(as_text=True))
        return response

    assert get("/setup").status_code == 403
    assert get("/setup?token=" + "x" * len(token)).status_code == 403
    page = get(f"/setup?token={token}")
    assert page.status_code == 200 and 'id="create-admin"' in page.get_data(as_text=True)
    assert all(token not in body for body in seen), "the token must never be in a response"

    mismatch = _setup_form(client, token, confirm=PASSWORD + "x")
    assert mismatch.status_code == 400 and "differ" in mismatch.get_data(as_text=True)
    weak = _setup_form(client, token, password="password1234", confirm="password1234")
    assert weak.status_code == 400 and "most common" in weak.get_data(as_text=True)
    assert not system_admin_exists(db)

    done = _setup_form(client, token)
    assert done.status_code == 302 and done.location.endswith("/login")
    assert token not in done.get_data(as_text=True)
    assert _admins(db) == [(EMAIL, "system", 0)]
    with db.session() as s:
        via = s.scalars(select(AuditEvent.data).where(AuditEvent.action == Action.USER_CREATED)).one()["via"]
    assert via == "setup-page"
    assert setup_token(db, "k" * 32) is None

    # The token is void: the page and a second administrator are refused.
    assert client.get(f"/setup?token={token}").status_code == 404
    other = app.server.test_client()
    assert other.get(f"/setup?token={token}").status_code == 404
    csrf = form_token(other.get("/login").get_data(as_text=True))
    assert other.post(f"/setup?token={token}", data={"email": "two@customer.example", "name": "Two",
                                                       "password": PASSWORD, "confirm": PASSWORD,
                                                       "csrf_token": csrf}).status_code == 404
    assert len(_admins(db)) == 1

    # The new administrator signs in and must enrol a second factor first.
    response = _sign_in_password_step(app.server.test_client(), EMAIL, PASSWORD)
    assert response.status_code == 302 and "/login/enrol" in response.location


def test_every_worker_machine_and_restart_accept_the_same_token(db, tmp_path, caplog):
    """Workers and machines share nothing but SECRET_KEY and the database: the same link works on each."""
    first = _start(db, tmp_path / "machine-1", caplog)
    token = _logged_token(caplog)
    second = _start(db, tmp_path / "machine-2", caplog)  # another worker or machine, or the next start
    assert _logged_token(caplog) == token
    assert first.server.test_client().get(f"/setup?token={token}").status_code == 200
    assert second.server.test_client().get(f"/setup?token={token}").status_code == 200
    other_secret = create_app(Config(database_url=db.url, secret_key="z" * 32, instance_dir=tmp_path / "m3",
                                     security=SecuritySettings.from_env()), seed_demo=False)
    assert other_secret.server.test_client().get(f"/setup?token={token}").status_code == 403
    # Once the first machine created the administrator, the second one's page is gone too.
    assert _setup_form(first.server.test_client(), token).status_code == 302
    assert second.server.test_client().get(f"/setup?token={token}").status_code == 404
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="digicadence"):
        make_app(db, tmp_path / "machine-1")
    assert "/setup?token=" not in caplog.text


def test_a_spent_token_stays_void_even_without_administrators(db, tmp_path, caplog):
    """If every System Administrator were erased later, an old link from a log opens nothing; a new one is logged."""
    app = _start(db, tmp_path, caplog)
    old = _logged_token(caplog)
    assert _setup_form(app.server.test_client(), old).status_code == 302
    with db.session() as s:
        s.scalar(select(User).where(User.email == EMAIL)).erased_at = utcnow()
    assert not system_admin_exists(db)
    restarted = _start(db, tmp_path, caplog)
    new = _logged_token(caplog)
    assert new != old
    client = restarted.server.test_client()
    assert client.get(f"/setup?token={old}").status_code == 403
    assert client.get(f"/setup?token={new}").status_code == 200


def test_no_setup_page_with_the_demo(db, tmp_path, caplog):
    demo = _start(db, tmp_path, caplog, demo_mode=True)
    assert "/setup?token=" not in caplog.text
    token = setup_token(db, "k" * 32)
    assert demo.server.test_client().get(f"/setup?token={token}").status_code == 404
