"""grants move the data token: a signed-in user's principal is cached like a read model

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

The web layer resolved every request's principal (a user's grants, the brands of granted projects,
their competitors) from the database: a fifth of the server's time. It is now kept per process under
the data token (core.read_cache, dashboard.auth.principal.load_user), which already moves with every
committed write to organizations, projects, brands and project_brands (migrations 0010–0011). This adds
the two tables a principal reads besides those and the user's own row (read on every request): role
grants and roles. A removed grant, or a custom role's edited permissions, thus take effect on the next
request of every web process. The triggers call 0010/0011's functions; nothing else changes.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("role_grants", "roles")
# As 0010 (SQLite has only row triggers); 0011 changed only the PostgreSQL function they call.
_SQLITE_BUMP = (
    "UPDATE data_versions SET token = lower(hex(randomblob(16))), changed_at = CURRENT_TIMESTAMP "
    "WHERE id = 1; "
    "INSERT INTO data_versions (id, token, changed_at) SELECT 1, lower(hex(randomblob(16))), "
    "CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM data_versions WHERE id = 1)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_data_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION data_version_bump()"
            )
        return
    for table in TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_data_version_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {_SQLITE_BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
        return
    for table in TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version_{event}")
