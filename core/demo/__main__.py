"""`python -m core.demo`: migrate the database and seed the demo (or benchmark) portfolio."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from core.config import database_url_from_env
from core.db import Database
from core.demo.load import DemoDataExists, seed_demo


def _month(value: str) -> date:
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {value!r}") from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42); same seed, same data")
    parser.add_argument("--database-url", help="default: DATABASE_URL, else the embedded SQLite under instance/")
    parser.add_argument("--reset", action="store_true", help="delete all data first")
    parser.add_argument("--brands", type=int, metavar="N",
                        help="seed the N-brand benchmark portfolio (one organization, projects of ~50) instead")
    parser.add_argument("--end-month", type=_month, metavar="YYYY-MM", help="last monthly period (default 2026-10)")
    parser.add_argument("--months", type=int, default=36, help="number of monthly periods (default 36)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON, anomalies included")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url or database_url_from_env()
    db = Database(url)
    try:
        db.upgrade()
        summary = seed_demo(db, seed=args.seed, brands=args.brands, end_month=args.end_month,
                            reset=args.reset, months=args.months)
    except DemoDataExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(vars(summary), default=str, indent=2))
    else:
        print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
