"""The first System Administrator of an installation without the demo (issue 14, item 1).

An empty database has no user, so nobody can sign in to create one. Two ways out, both ending in
`create_first_admin`:

- at a terminal: `python -m core.setup create-admin --email … --name …` (the password is asked on
  the TTY, or read from `--password-stdin` for scripts);
- without one: while no System Administrator exists and the demo is off, the app writes a one-time
  setup token to its log at start (`setup_token`: derived from SECRET_KEY and the database, so every
  gunicorn worker, every machine and the next start agree on it), and `/setup?token=…` shows a form.

Either way the account holds System Administrator at system scope and nothing else, the password
passes the system policy (core/security/passwords.py), and the person is taken through MFA
enrolment at the first sign-in (administrators must use MFA: `Accounts.authenticate`). Once one
System Administrator exists both refuse: the command with a message and exit code 1, the page with
a 404.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import sys

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import SecuritySettings, database_url_from_env, normalize_database_url
from core.db import Database
from core.models.base import utcnow
from core.models.security import PasswordHistory, Role, RoleGrant, User
from core.security.audit import Action, lock_chain, record
from core.security.grants import ensure_builtin_roles
from core.security.identity import normalize_display_name, normalize_email
from core.security.passwords import PasswordPolicy, PasswordRejected, check_password, hash_password
from core.security.permissions import SYSTEM_ADMINISTRATOR

ALREADY_DONE = ("A System Administrator already exists. Sign in as them and create further accounts on the "
                "Users page.")


class AdminExists(RuntimeError):
    """The installation already has a System Administrator: first-start setup is over."""


def _admin_exists(session: Session) -> bool:
    return session.scalar(
        select(RoleGrant.id).join(Role, Role.id == RoleGrant.role_id).join(User, User.id == RoleGrant.user_id)
        .where(Role.name == SYSTEM_ADMINISTRATOR, Role.is_builtin.is_(True), Role.organization_id.is_(None),
               RoleGrant.scope_type == "system", User.erased_at.is_(None)).limit(1)
    ) is not None


def system_admin_exists(db: Database) -> bool:
    """Whether any (not erased) user holds System Administrator; a disabled one still counts."""
    with db.session() as session:
        return _admin_exists(session)


def create_first_admin(db: Database, settings: SecuritySettings, *, email: str, name: str, password: str,
                       via: str) -> int:
    """Create the first System Administrator; returns the user id.

    Raises `AdminExists` when one exists already, `PasswordRejected` for a password against the
    policy, and ValueError (IdentityRejected) for a bad address or name; nothing is written then.
    The check and the insert run under the audit chain's lock, so two attempts at once cannot both
    pass the check. `via` ("cli" or "setup-page") goes to the audit event.
    """
    email = normalize_email(email)
    name = normalize_display_name(name)
    if not name:
        raise ValueError("Enter the administrator's name.")
    policy = PasswordPolicy(settings.password_min_length, settings.password_max_length)
    problems = check_password(password, email=email, name=name, policy=policy)
    if problems:
        raise PasswordRejected(problems, policy)
    with db.session() as session:
        lock_chain(session)
        if _admin_exists(session):
            raise AdminExists(ALREADY_DONE)
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise ValueError("A user with this e-mail address already exists.")
        role = ensure_builtin_roles(session)[SYSTEM_ADMINISTRATOR]
        user = User(email=email, name=name, organization_id=None, password_hash=hash_password(password,
                    settings.bcrypt_rounds), password_changed_at=utcnow())
        session.add(user)
        session.flush()
        session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
        grant = RoleGrant(user_id=user.id, role_id=role.id, scope_type="system", scope_id=0)
        session.add(grant)
        session.flush()
        record(session, Action.USER_CREATED, target=user, data={"first_admin": True, "via": via},
               personal={"email": email, "name": name})
        record(session, Action.GRANT_CREATED, target=("user", user.id),
               data={"grant_id": grant.id, "role": SYSTEM_ADMINISTRATOR, "scope_type": "system", "scope_id": 0,
                     "first_admin": True, "via": via})
        return user.id


# ---- the one-time setup token ----------------------------------------------------------------


def _token_for(secret_key: str, newest_user_id: int) -> str:
    digest = hmac.new(secret_key.encode("utf-8"), f"digicadence first-admin setup {newest_user_id}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def setup_token(db: Database, secret_key: str) -> str | None:
    """The setup token while no System Administrator exists, else None.

    Derived, not stored: an HMAC under SECRET_KEY (the same in every gunicorn worker, on every machine,
    and after a restart) of the newest user id. So every worker logs and accepts the same link without
    sharing a file, and the token is spent for good once any account is made: user ids only grow
    (an erased user keeps its row), so even if every administrator were later erased, an old link
    from a log stays void and the next start logs a new one.
    """
    with db.session() as session:
        if _admin_exists(session):
            return None
        newest = session.scalar(select(func.max(User.id))) or 0
    return _token_for(secret_key, newest)


def setup_token_matches(db: Database, secret_key: str, token: str | None) -> bool:
    """Whether `token` is the current setup token (compared in constant time); False once an administrator exists."""
    expected = setup_token(db, secret_key) if isinstance(token, str) and token else None
    return expected is not None and hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))


# ---- python -m core.setup create-admin --------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    """From stdin (one line) with --password-stdin, else asked twice on the terminal; None: no way to ask."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password for the first System Administrator: ")
    if first != getpass.getpass("Repeat the password: "):
        raise ValueError("The two passwords differ.")
    return first


def create_admin_command(args: argparse.Namespace) -> int:
    """Exit 0 created, 1 refused (an administrator exists, the password or address is not allowed), 2 usage."""
    try:
        password = _read_password(args)
    except ValueError as exc:
        print(f"Not created: {exc}", file=sys.stderr)
        return 1
    if password is None:
        print("No terminal to ask the password on: pipe it in with --password-stdin.", file=sys.stderr)
        return 2
    db = Database(normalize_database_url(args.database_url) if args.database_url else database_url_from_env())
    try:
        db.upgrade()  # an empty database gets its tables first, as the app would at start
        user_id = create_first_admin(db, SecuritySettings.from_env(), email=args.email, name=args.name,
                                     password=password, via="cli")
    except AdminExists as exc:
        print(f"Refused: {exc}", file=sys.stderr)
        return 1
    except PasswordRejected as exc:
        print("Not created: that password is not allowed: " + "; ".join(exc.messages) + ".", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"Not created: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"Created System Administrator #{user_id} ({normalize_email(args.email)}). Sign in at /login: "
          "two-factor sign-in is set up at the first sign-in (have an authenticator app ready).")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "create-admin", help="create the first System Administrator (refused once one exists)",
        description="Create the first System Administrator of an installation without the demo. The password is "
                    "asked on the terminal, or read from standard input with --password-stdin.")
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
    parser.set_defaults(handler=create_admin_command)
