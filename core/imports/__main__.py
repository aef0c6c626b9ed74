"""Command line: `python -m core.imports preview|commit --org SLUG --kind KIND --mapping FILE PATH`.

Exit code 0 when the file is clean (and, for commit, written), 1 when it has errors, 2 for bad
usage (unknown organization, unreadable mapping), 3 when the file is over the import limits
(DIGICADENCE_IMPORT_MAX_ROWS, DIGICADENCE_IMPORT_MAX_EXPANDED_MB, …: refused before it is read past
the limit; nothing written). The database comes from DATABASE_URL, as for the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlalchemy import select

from core.config import ConfigError, ImportLimits, database_url_from_env, normalize_database_url
from core.db import Database
from core.imports.mapping import KINDS, MappingError, load_spec
from core.imports.readers import FileRefused
from core.imports.service import commit, preview
from core.models import Organization


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.imports", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("preview", "commit"))
    parser.add_argument("path", help="CSV or XLSX file")
    parser.add_argument("--org", required=True, help="organization slug")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--mapping", required=True, help="mapping JSON file (see docs/import-mappings/)")
    parser.add_argument("--brand", help="fixed brand for the whole file (overrides the mapping's brand)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = load_spec(args.mapping, kind=args.kind)
    except MappingError as exc:
        print("mapping error:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    if args.brand:
        spec = spec.with_brand(args.brand)
    try:
        limits = ImportLimits.from_env()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    db = Database(normalize_database_url(args.database_url) if args.database_url else database_url_from_env())
    try:
        with db.engine.connect() as conn:
            org_id = conn.execute(select(Organization.id).where(Organization.slug == args.org)).scalar()
        if org_id is None:
            print(f"unknown organization slug '{args.org}'", file=sys.stderr)
            return 2
        run = commit if args.action == "commit" else preview
        try:
            report = run(db, org_id, args.path, spec, limits=limits)
        except FileRefused as exc:
            print(f"refused: {exc.reason} Nothing was written.", file=sys.stderr)
            return 3
    finally:
        db.dispose()
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.format_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
