"""What every `python -m core.setup` subcommand shares: the database, the person it acts as, the
organization it names, and the usage error (exit code 2), written once for all of them."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from core.config import database_url_from_env, normalize_database_url
from core.db import Database
from core.models.security import User
from core.security.identity import IdentityRejected, normalize_email
from core.security.principal import Principal, load_principal
from core.setup.organizations import find_organization_id


class Usage(Exception):
    """Bad usage (an unknown person or organization, a malformed option): exit code 2."""


def database(args: argparse.Namespace) -> Database:
    """`--database-url`, else DATABASE_URL or the embedded default, as the app reads it."""
    return Database(normalize_database_url(args.database_url) if args.database_url else database_url_from_env())


def acting(db: Database, email: str) -> Principal:
    """The person named by `--as`: an active, not erased user, with their grants as on the page."""
    try:
        address = normalize_email(email)
    except IdentityRejected as exc:
        raise Usage(f"--as: {exc}") from None
    with db.session() as session:
        user_id = session.scalar(select(User.id).where(User.email == address, User.is_active.is_(True),
                                                       User.erased_at.is_(None)))
    if user_id is None:
        raise Usage(f"--as: no active user with the address {address}.")
    return load_principal(db, user_id)


def organization_id(db: Database, reference: str) -> int:
    """The organization named by `--org` (its id or slug)."""
    ident = find_organization_id(db, reference)
    if ident is None:
        raise Usage(f"--org: no organization with the id or slug {reference!r}.")
    return ident
