"""Command line for operators: `python -m core.security verify-audit`.

Walks the audit trail and names the first broken link (exit 1), or reports how many events
verified (exit 0). The database comes from DATABASE_URL, as for the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from core.config import database_url_from_env, normalize_database_url
from core.db import Database
from core.security.audit import verify_chain


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.security", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["verify-audit"])
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or the embedded SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    db = Database(normalize_database_url(args.database_url) if args.database_url else database_url_from_env())
    result = verify_chain(db)
    if args.json:
        print(json.dumps({"ok": result.ok, "checked": result.checked, "broken_id": result.broken_id,
                          "reason": result.reason}))
    elif result.ok:
        print(f"audit trail intact: {result.checked} events verified")
    else:
        print(f"audit trail BROKEN at event {result.broken_id}: {result.reason} "
              f"({result.checked} events before it verified)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
