"""The first System Administrator without the demo: `python -m core.setup create-admin` and the
one-time `/setup?token=…` page, on a real empty database (SQLite and PostgreSQL), through the real
Flask app; the new administrator is taken through MFA enrolment at the first sign-in."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent, Role, RoleGrant, User
from core.security import Action, verify_chain
from core.setup.__main__ import main
from core.setup.first_admin import SETUP_TOKEN_FILE, system_admin_exists
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


def _token(tmp_path: Path) -> str:
    return (tmp_path / SETUP_TOKEN_FILE).read_text().strip()


def _setup_form(client, token: str, **fields):
    page = client.get(f"/setup?token={token}")
    data = {"email": EMAIL, "name": "Ada Lovelace", "password": PASSWORD, "confirm": PASSWORD, **fields,
            "csrf_token": form_token(page.get_data(as_text=True))}
    return client.post(f"/setup?token={token}", data=data)


def test_setup_page_creates_the_first_admin_once(db, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="digicadence"):
        app = make_app(db, tmp_path)
    token = _token(tmp_path)
    assert f"/setup?token={token}" in caplog.text  # the operator finds it in the log
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
    assert not (tmp_path / SETUP_TOKEN_FILE).exists()

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


def test_every_worker_and_a_restart_accept_the_same_token(db, tmp_path):
    first = make_app(db, tmp_path)
    token = _token(tmp_path)
    second = make_app(db, tmp_path)  # another gunicorn worker, or the next start
    assert _token(tmp_path) == token
    assert first.server.test_client().get(f"/setup?token={token}").status_code == 200
    assert second.server.test_client().get(f"/setup?token={token}").status_code == 200
    assert oct((tmp_path / SETUP_TOKEN_FILE).stat().st_mode & 0o777) == "0o600"
    # A second worker's page is void once the first worker created the administrator.
    assert _setup_form(first.server.test_client(), token).status_code == 302
    assert second.server.test_client().get(f"/setup?token={token}").status_code == 404


def test_no_setup_token_with_the_demo_or_once_an_admin_exists(db, tmp_path, monkeypatch):
    demo = make_app(db, tmp_path / "demo", demo_mode=True)
    assert not (tmp_path / "demo" / SETUP_TOKEN_FILE).exists()
    assert demo.server.test_client().get("/setup?token=anything").status_code == 404

    assert _cli(db, monkeypatch, "--email", EMAIL, "--name", "Ada Lovelace") == 0
    stale = tmp_path / "live"
    stale.mkdir()
    (stale / SETUP_TOKEN_FILE).write_text("left-over-token")
    make_app(db, stale)
    assert not (stale / SETUP_TOKEN_FILE).exists()  # removed at start once an administrator exists
