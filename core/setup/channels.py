"""An organization's paid media channels: list, create, rename, merge (`portfolio:manage`).

Channels belong to one organization (migration 0012); every function here takes the organization
and only ever touches that organization's rows, whatever ids it is given.

Merging channel A into channel B moves A's spend and response curves to B and removes A. Rule for
overlaps (docs/SCORING.md, "Channels"): when a brand has spend on both A and B in the same period,
the merge is refused with the list of those (brand, period) pairs. Summing them is not the rule: two
names for one channel usually come from two imports of the same spend, and summing would count it
twice; the person fixes the overlap (re-import one side) and merges again. Response curves: a
brand's curve of A moves to B unless the brand already has a curve of that kind on B, in which case
A's is dropped (a curve fitted on A's spend alone does not describe B's; refit after a merge).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session, aliased

from core.db import Database
from core.models import Brand, Channel, ResponseCurve, Spend
from core.security.audit import record
from core.security.authorizer import authorize
from core.security.permissions import Permission
from core.security.principal import Principal

PORTFOLIO_MANAGE = Permission.PORTFOLIO_MANAGE.value
MAX_NAME = 100
MAX_LISTED = 20


class ChannelError(ValueError):
    """A channel change that cannot be made; the message says why, in a marketer's words."""


class NoSuchChannel(ChannelError):
    """A channel id that is not of this organization (another's, or none at all): a 404 in the API."""


def clean_channel_name(value: Any) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ChannelError("Give the channel a name.")
    if len(name) > MAX_NAME:
        raise ChannelError(f"A channel name can be at most {MAX_NAME} characters.")
    return name


def _mine(s: Session, organization_id: int, channel_id: Any) -> Channel:
    try:
        ident = int(channel_id)
    except (TypeError, ValueError):
        ident = 0
    row = s.get(Channel, ident) if 0 < ident < 2**31 else None
    if row is None or row.organization_id != organization_id:
        raise NoSuchChannel("There is no such channel in this organization.")
    return row


def _unique(s: Session, organization_id: int, name: str, keep: int = 0) -> None:
    clash = s.scalar(select(Channel.id).where(Channel.organization_id == organization_id,
                                              func.lower(Channel.name) == name.lower(), Channel.id != keep))
    if clash:
        raise ChannelError(f"This organization already has a channel called '{name}'.")


def list_channels(db: Database, principal: Principal, organization_id: int) -> list[dict]:
    """The organization's channels with how many spend rows and response curves each holds."""
    organization_id = int(organization_id)
    authorize(principal, PORTFOLIO_MANAGE, ("organization", organization_id))
    with db.session() as s:
        spend = dict(s.execute(select(Spend.channel_id, func.count()).join(Channel, Channel.id == Spend.channel_id)
                               .where(Channel.organization_id == organization_id).group_by(Spend.channel_id)).all())
        curves = dict(s.execute(select(ResponseCurve.channel_id, func.count())
                                .join(Channel, Channel.id == ResponseCurve.channel_id)
                                .where(Channel.organization_id == organization_id)
                                .group_by(ResponseCurve.channel_id)).all())
        rows = s.execute(select(Channel.id, Channel.name).where(Channel.organization_id == organization_id)
                         .order_by(Channel.name)).all()
    return [{"id": cid, "name": name, "spend_rows": int(spend.get(cid, 0)), "curves": int(curves.get(cid, 0))}
            for cid, name in rows]


def create_channel(db: Database, principal: Principal, organization_id: int, name: Any) -> int:
    organization_id = int(organization_id)
    name = clean_channel_name(name)
    authorize(principal, PORTFOLIO_MANAGE, ("organization", organization_id))
    with db.session() as s:
        _unique(s, organization_id, name)
        channel = Channel(organization_id=organization_id, name=name)
        s.add(channel)
        s.flush()
        record(s, "channel.created", actor=principal.user_id, organization_id=organization_id,
               target=("channel", channel.id), data={"name": name})
        return channel.id


def rename_channel(db: Database, principal: Principal, organization_id: int, channel_id: Any, name: Any) -> None:
    organization_id = int(organization_id)
    name = clean_channel_name(name)
    authorize(principal, PORTFOLIO_MANAGE, ("organization", organization_id))
    with db.session() as s:
        channel = _mine(s, organization_id, channel_id)
        if channel.name == name:
            return
        _unique(s, organization_id, name, channel.id)
        old, channel.name = channel.name, name
        record(s, "channel.renamed", actor=principal.user_id, organization_id=organization_id,
               target=("channel", channel.id), data={"from": old, "to": name})


def _overlaps(s: Session, source: int, target: int) -> list[tuple[str, str]]:
    other = aliased(Spend)
    rows = s.execute(
        select(Brand.name, Spend.period).join(Brand, Brand.id == Spend.brand_id)
        .join(other, and_(other.brand_id == Spend.brand_id, other.period == Spend.period,
                          other.channel_id == target))
        .where(Spend.channel_id == source).order_by(Brand.name, Spend.period)).all()
    return [(brand, str(period)[:10]) for brand, period in rows]


def merge_channels(db: Database, principal: Principal, organization_id: int, source_id: Any,
                   target_id: Any) -> dict[str, int]:
    """Merge channel `source_id` into `target_id` (see the module docstring); returns what moved."""
    organization_id = int(organization_id)
    authorize(principal, PORTFOLIO_MANAGE, ("organization", organization_id))
    with db.session() as s:
        source, target = _mine(s, organization_id, source_id), _mine(s, organization_id, target_id)
        if source.id == target.id:
            raise ChannelError("Choose two different channels to merge.")
        clashes = _overlaps(s, source.id, target.id)
        if clashes:
            listed = "; ".join(f"{brand} {period}" for brand, period in clashes[:MAX_LISTED])
            more = f" and {len(clashes) - MAX_LISTED} more" if len(clashes) > MAX_LISTED else ""
            raise ChannelError(f"'{source.name}' and '{target.name}' both have spend for the same brand and period "
                               f"({len(clashes)}): {listed}{more}. Remove or re-import one side first; nothing was "
                               "merged.")
        kept = aliased(ResponseCurve)
        duplicate = select(kept.id).where(kept.brand_id == ResponseCurve.brand_id, kept.kind == ResponseCurve.kind,
                                          kept.channel_id == target.id).exists()
        dropped = s.execute(delete(ResponseCurve).where(ResponseCurve.channel_id == source.id, duplicate)
                            .execution_options(synchronize_session=False)).rowcount
        curves = s.execute(update(ResponseCurve).where(ResponseCurve.channel_id == source.id)
                           .values(channel_id=target.id).execution_options(synchronize_session=False)).rowcount
        spend = s.execute(update(Spend).where(Spend.channel_id == source.id).values(channel_id=target.id)
                          .execution_options(synchronize_session=False)).rowcount
        name = source.name
        s.delete(source)
        moved = {"spend_rows": int(spend), "curves_moved": int(curves), "curves_dropped": int(dropped)}
        record(s, "channel.merged", actor=principal.user_id, organization_id=organization_id,
               target=("channel", target.id), data={"from": name, "from_id": int(source_id), "into": target.name,
                                                    **moved})
        return moved


# ---- command line -----------------------------------------------------------------------------


def _run(args: Any) -> int:
    import sys

    from core.setup.cli_common import Usage, database, organization_id

    db = database(args)
    who = Principal(user_id=None, organization_id=None, db=db, system=frozenset({PORTFOLIO_MANAGE}))
    try:
        org = organization_id(db, args.org)
        if args.command == "channel-list":
            for row in list_channels(db, who, org):
                print(f"{row['id']}\t{row['name']}\t{row['spend_rows']} spend rows\t{row['curves']} curves")
        elif args.command == "channel-create":
            print(create_channel(db, who, org, args.name))
        elif args.command == "channel-rename":
            rename_channel(db, who, org, args.channel_id, args.name)
        else:
            moved = merge_channels(db, who, org, args.source_id, args.target_id)
            print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in moved.items()))
    except ChannelError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except Usage as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    return 0


def add_commands(subparsers: Any) -> None:
    """`channel-list`, `channel-create NAME`, `channel-rename ID NAME`, `channel-merge SOURCE TARGET`."""
    parsers = {
        "channel-list": subparsers.add_parser("channel-list", help="an organization's channels"),
        "channel-create": subparsers.add_parser("channel-create", help="add a channel"),
        "channel-rename": subparsers.add_parser("channel-rename", help="rename a channel"),
        "channel-merge": subparsers.add_parser("channel-merge", help="merge a channel into another (spend, curves)"),
    }
    parsers["channel-create"].add_argument("name")
    parsers["channel-rename"].add_argument("channel_id", type=int)
    parsers["channel-rename"].add_argument("name")
    parsers["channel-merge"].add_argument("source_id", type=int)
    parsers["channel-merge"].add_argument("target_id", type=int)
    for parser in parsers.values():
        parser.add_argument("--org", required=True, help="organization slug or id")
        parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
        parser.set_defaults(handler=_run)
