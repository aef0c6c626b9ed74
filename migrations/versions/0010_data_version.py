"""data version: a token that changes with every committed write to the analytic tables

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

Triggers keep it true for every writer (the app, imports by COPY, psql, retention), so the read-model
cache (core.read_cache) never serves a result computed from data that has since changed. PostgreSQL:
one BEFORE … FOR EACH STATEMENT trigger per table, changing the token once per transaction (`txid`);
BEFORE, so a writer takes the token row's lock before any row of its own and two writers queue
instead of deadlocking. SQLite has only row triggers: one per row and operation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The tables read models are computed from (core.portfolio, core.brand_explorer, core.scoring, the budget).
WATCHED = ("organizations", "projects", "brands", "project_brands", "sections", "platforms", "metrics",
           "metric_values", "dc_scores", "channels", "spend", "outcomes", "control_values", "response_curves")

_PG_FUNCTION = """
CREATE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_versions (id, token, changed_at, txid)
    VALUES (1, md5(random()::text || clock_timestamp()::text), now(), txid_current())
    ON CONFLICT (id) DO UPDATE SET token = excluded.token, changed_at = excluded.changed_at, txid = excluded.txid
    WHERE data_versions.txid IS DISTINCT FROM excluded.txid;
    RETURN NULL;
END $$
"""
# No INSERT OR REPLACE: an outer statement's conflict clause (an upsert's) overrides a trigger's.
_SQLITE_BUMP = ("UPDATE data_versions SET token = lower(hex(randomblob(16))), changed_at = CURRENT_TIMESTAMP "
                "WHERE id = 1; "
                "INSERT INTO data_versions (id, token, changed_at) SELECT 1, lower(hex(randomblob(16))), "
                "CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM data_versions WHERE id = 1)")


def upgrade() -> None:
    op.create_table('data_versions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_versions'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("INSERT INTO data_versions (id, token, changed_at) "
                   "VALUES (1, md5(random()::text || clock_timestamp()::text), now())")
        op.execute(_PG_FUNCTION)
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER {table}_data_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION data_version_bump()")
        return
    for statement in _SQLITE_BUMP.split("; "):
        op.execute(statement)
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_data_version_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN {_SQLITE_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS data_version_bump()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version_{event}")
    op.drop_table('data_versions')
