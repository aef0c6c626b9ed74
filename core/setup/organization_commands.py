"""`python -m core.setup org-list|org-create|org-rename|org-archive|org-unarchive|org-invite-admin`.

The command line acts as a named System Administrator (`--as EMAIL`): the same authorization and
audit trail as the admin page and the API, with that person as the actor. Exit codes: 0 done,
1 refused or invalid (the reason on stderr; nothing changed), 2 usage (an unknown organization or
person). The database comes from DATABASE_URL, as for the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from core.config import SecuritySettings
from core.db import Database
from core.ops.config import OpsConfig
from core.security import Accounts, Forbidden, normalize_email
from core.security.crypto import SecretBox, load_keys
from core.security.principal import Principal
from core.setup import organizations as orgs
from core.setup.cli_common import Usage, acting, database, organization_id


def _accounts(db: Database) -> Accounts:
    ops = OpsConfig.from_env()
    return Accounts(db, SecuritySettings.from_env(), SecretBox(load_keys(ops.keys.fernet, ops.instance_dir)))


def _show(row: dict) -> str:
    state = f"archived {row['archived_at'][:10]}" if row["archived_at"] else "live"
    return (f"#{row['id']} {row['name']} (slug {row['slug']}, {state}; {row['members']} members, "
            f"{row['projects']} projects, {row['brands']} brands)")


def _invite(db: Database, principal: Principal, ident: int, args: argparse.Namespace) -> None:
    new = orgs.invite_administrator(db, _accounts(db), principal, ident, email=args.admin_email,
                                    name=args.admin_name or "", invite=not args.temporary_password)
    who = normalize_email(args.admin_email)
    if new.invite_token:
        link = f"{(args.base_url or '').rstrip('/')}/login/invite/{new.invite_token}"
        print(f"Invited {who} as Organization Administrator. Send them this link (shown only now; valid until "
              f"{new.invite_expires_at:%Y-%m-%d %H:%M} UTC): {link}")
        if not args.base_url:
            print("  (put the site's address in front of it, or pass --base-url https://your.site)")
    else:
        print(f"Created {who} as Organization Administrator. Temporary password (shown only now; changed at the "
              f"first sign-in): {new.temporary_password}")


def _list(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    rows = orgs.list_organizations(db, principal)
    print(json.dumps(rows, indent=2) if args.json else "\n".join(_show(r) for r in rows) or "No organizations.")


def _create(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    row = orgs.create_organization(db, principal, args.name)
    print("Created " + _show(row))
    if args.admin_email:
        _invite(db, principal, row["id"], args)


def _rename(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    print("Renamed: " + _show(orgs.rename_organization(db, principal, organization_id(db, args.org), args.name)))


def _archive(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    row = orgs.set_archived(db, principal, organization_id(db, args.org), not args.undo)
    print(("Unarchived: " if args.undo else "Archived (data kept): ") + _show(row))


def _unarchive(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    print("Unarchived: " + _show(orgs.unarchive_organization(db, principal, organization_id(db, args.org))))


def _invite_admin(db: Database, principal: Principal, args: argparse.Namespace) -> None:
    _invite(db, principal, organization_id(db, args.org), args)


def _run(action: Callable[[Database, Principal, argparse.Namespace], None]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        db = database(args)
        try:
            action(db, acting(db, args.as_email), args)
        except Usage as exc:
            print(str(exc), file=sys.stderr)
            return 2
        except Forbidden:
            print(f"Refused: {args.as_email} may not manage organizations (only System Administrators may).",
                  file=sys.stderr)
            return 1
        except (ValueError, LookupError) as exc:  # OrganizationInvalid, a duplicate address, …
            print(f"Nothing changed: {exc}", file=sys.stderr)
            return 1
        finally:
            db.dispose()
        return 0
    return handler


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_email", required=True, metavar="EMAIL",
                        help="the System Administrator doing this (audited as the actor)")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")


def _admin_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--admin-email", required=required, help="invite this person as Organization Administrator")
    parser.add_argument("--admin-name", default="", help="their name")
    parser.add_argument("--temporary-password", action="store_true",
                        help="give them a temporary password instead of an invitation link")
    parser.add_argument("--base-url", default="", help="the site's address, to print a whole invitation link")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("org-list", help="every organization, live and archived")
    parser.add_argument("--json", action="store_true")
    _common(parser)
    parser.set_defaults(handler=_run(_list))

    parser = subparsers.add_parser("org-create", help="create an organization (and invite its administrator)")
    parser.add_argument("--name", required=True)
    _admin_options(parser, required=False)
    _common(parser)
    parser.set_defaults(handler=_run(_create))

    parser = subparsers.add_parser("org-rename", help="rename an organization (its slug stays)")
    parser.add_argument("--org", required=True, help="id or slug")
    parser.add_argument("--name", required=True)
    _common(parser)
    parser.set_defaults(handler=_run(_rename))

    parser = subparsers.add_parser("org-archive", help="archive an organization (data kept; --undo brings it back)")
    parser.add_argument("--org", required=True, help="id or slug")
    parser.add_argument("--undo", action="store_true", help="unarchive instead")
    _common(parser)
    parser.set_defaults(handler=_run(_archive))

    parser = subparsers.add_parser("org-unarchive", help="bring an archived organization back")
    parser.add_argument("--org", required=True, help="id or slug")
    _common(parser)
    parser.set_defaults(handler=_run(_unarchive))

    parser = subparsers.add_parser("org-invite-admin", help="invite an Organization Administrator")
    parser.add_argument("--org", required=True, help="id or slug")
    _admin_options(parser, required=True)
    _common(parser)
    parser.set_defaults(handler=_run(_invite_admin))
