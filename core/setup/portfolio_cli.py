"""Subcommands of `python -m core.setup` for projects and brands (the bulk and scripted cases).

Each acts as a person (`--as EMAIL`): their permissions are checked and the change is audited
under their name, exactly as on the page or through the API. Exit codes: 0 done, 1 refused as
asked (a duplicate name, a conflict, a bad CSV row: nothing written), 2 bad usage (unknown person
or organization), 3 not permitted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.db import Database
from core.security.authorizer import Forbidden
from core.security.principal import Principal
from core.setup import brand_merge, brands, projects
from core.setup.cli_common import Usage, acting, database, organization_id
from core.setup.portfolio_common import PortfolioError


def _weights(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, weight = pair.rpartition("=")
        if not sep:
            raise Usage(f"--weight takes SECTION=WEIGHT, not '{pair}'")
        out[name.strip()] = weight.strip()
    return out


def _memberships(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for value in values or []:
        project, _sep, role = value.partition(":")
        out.append((project, role or "own"))
    return out


def _run(args: argparse.Namespace, work: Callable[[Database, Principal], Any]) -> int:
    db = database(args)
    try:
        result = work(db, acting(db, args.as_user))
    except Usage as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Forbidden:
        print("not permitted: this needs portfolio:manage on the organization", file=sys.stderr)
        return 3
    except brand_merge.MergeConflict as exc:
        print(f"refused: {exc}", file=sys.stderr)
        print(json.dumps(exc.conflicts, indent=2), file=sys.stderr)
        return 1
    except PortfolioError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if isinstance(result, brands.BulkReport):
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.ok else 1
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--as", dest="as_user", required=True, metavar="EMAIL", help="the person acting")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
    return parser


def _project_commands(sub: Any) -> None:
    p = _common(sub.add_parser("project-create", help="create a project"))
    p.add_argument("--org", required=True, help="organization slug or id")
    p.add_argument("--name", required=True)
    p.add_argument("--normalization", default="minmax", choices=projects.NORMALIZATIONS)
    p.add_argument("--weight", action="append", metavar="SECTION=WEIGHT")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"project_id": projects.create_project(
        db, me, organization_id(db, a.org), a.name, a.normalization, _weights(a.weight))}))
    p = _common(sub.add_parser("project-rename", help="rename a project"))
    p.add_argument("--project", required=True, type=int)
    p.add_argument("--name", required=True)
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: projects.rename_project(db, me, a.project, a.name)))
    p = _common(sub.add_parser("project-archive", help="archive a project (--undo: bring it back)"))
    p.add_argument("--project", required=True, type=int)
    p.add_argument("--undo", action="store_true")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: projects.set_project_archived(
        db, me, a.project, not a.undo)))
    p = _common(sub.add_parser("project-scoring", help="normalization and section weights (recomputes scores)"))
    p.add_argument("--project", required=True, type=int)
    p.add_argument("--normalization", choices=projects.NORMALIZATIONS)
    p.add_argument("--weight", action="append", metavar="SECTION=WEIGHT", help="replaces all weights")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"changed": projects.set_scoring(
        db, me, a.project, normalization=a.normalization, section_weights=_weights(a.weight))}))
    p = _common(sub.add_parser("project-brand", help="add a brand to a project or change its role"))
    p.add_argument("--project", required=True, type=int)
    p.add_argument("--brand", required=True, type=int)
    p.add_argument("--role", default="own")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"changed": projects.set_member(
        db, me, a.project, a.brand, a.role)}))
    p = _common(sub.add_parser("project-brand-remove", help="take a brand out of a project"))
    p.add_argument("--project", required=True, type=int)
    p.add_argument("--brand", required=True, type=int)
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"changed": projects.remove_member(
        db, me, a.project, a.brand)}))


def _brand_commands(sub: Any) -> None:
    p = _common(sub.add_parser("brand-add", help="create a brand, optionally in projects"))
    p.add_argument("--org", required=True, help="organization slug or id")
    p.add_argument("--name", required=True)
    p.add_argument("--project", action="append", metavar="ID[:ROLE]", help="own (default), competitor, benchmark")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"brand_id": brands.create_brand(
        db, me, organization_id(db, a.org), a.name, _memberships(a.project))}))
    p = _common(sub.add_parser("brand-rename", help="rename a brand"))
    p.add_argument("--brand", required=True, type=int)
    p.add_argument("--name", required=True)
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: brands.rename_brand(db, me, a.brand, a.name)))
    p = _common(sub.add_parser("brand-archive", help="archive a brand (--undo: bring it back)"))
    p.add_argument("--brand", required=True, type=int)
    p.add_argument("--undo", action="store_true")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: brands.set_brand_archived(db, me, a.brand, not a.undo)))
    p = _common(sub.add_parser("brand-delete", help="delete a brand and all its data (audited)"))
    p.add_argument("--brand", required=True, type=int)
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: {"deleted_rows": brands.delete_brand(db, me, a.brand)}))
    p = _common(sub.add_parser("brand-merge", help="move a brand's data into another and delete it"))
    p.add_argument("--source", required=True, type=int, help="the brand that goes")
    p.add_argument("--target", required=True, type=int, help="the brand that stays")
    p.add_argument("--keep", choices=brand_merge.SIDES, help="on conflicting rows keep this side's values")
    p.add_argument("--dry-run", action="store_true", help="show what would move, write nothing")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: brand_merge.preview_merge(
        db, me, a.source, a.target).to_dict() if a.dry_run else brand_merge.merge_brands(
        db, me, a.source, a.target, keep=a.keep)))
    p = _common(sub.add_parser("brands-import", help="add brands from a CSV (name, role, projects): all or none"))
    p.add_argument("csv", type=Path)
    p.add_argument("--org", required=True, help="organization slug or id")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(handler=lambda a: _run(a, lambda db, me: brands.add_brands_csv(
        db, me, organization_id(db, a.org), a.csv.read_bytes(), commit=not a.dry_run)))


def add_commands(sub: Any) -> None:
    """Register the project and brand subcommands on `python -m core.setup`."""
    _project_commands(sub)
    _brand_commands(sub)
