"""`python -m core.migrate`: bring the database in DATABASE_URL to the newest schema, then exit.

The app also migrates when it starts; deployments with several web processes run this once first
(the Kubernetes migration Job, the compose `migrate` service) so the processes never race to do it.
"""

from __future__ import annotations

import sys

from alembic.runtime.migration import MigrationContext

from core.config import database_url_from_env
from core.db import Database


def main() -> int:
    db = Database(database_url_from_env())
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()
    print(f"database at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
