"""data version: change the token at commit, so concurrent writers no longer queue on its row

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

Migration 0010's statement triggers changed the token row at a transaction's first write, so its lock
was held to the end: one organization's long import held up every other writer of the analytic tables
(another organization's import, a scoring job, retention) for as long as it ran. Now (PostgreSQL) the
statement triggers only note the transaction in `data_version_pending` (a row of its own, keyed by its
txid, nobody else's); a deferred constraint trigger on that row changes the token at commit, the last
lock the transaction takes, held for microseconds. The pending row also tells a writer's own reads
that its transaction has uncommitted changes (core.read_cache then bypasses the cache). SQLite, with
one writer at a time, keeps its row triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# TRUNCATE changes the token at once, as 0010 did: a TRUNCATE of several tables may empty
# data_version_pending too, after this trigger added to it, and the deferred trigger would then
# find its row gone ("could not read block"). TRUNCATE is rare (resets, tests), so its lock is fine.
_MARK = """
CREATE OR REPLACE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO data_versions (id, token, changed_at, txid)
        VALUES (1, md5(random()::text || clock_timestamp()::text), now(), txid_current())
        ON CONFLICT (id) DO UPDATE SET token = excluded.token, changed_at = excluded.changed_at,
                                       txid = excluded.txid
        WHERE data_versions.txid IS DISTINCT FROM excluded.txid;
    ELSE
        INSERT INTO data_version_pending (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$
"""
# Fires once per writing transaction (one pending row each), when it commits.
_AT_COMMIT = """
CREATE FUNCTION data_version_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_versions (id, token, changed_at, txid)
    VALUES (1, md5(random()::text || clock_timestamp()::text), now(), NEW.txid)
    ON CONFLICT (id) DO UPDATE SET token = excluded.token, changed_at = excluded.changed_at, txid = excluded.txid;
    DELETE FROM data_version_pending WHERE txid = NEW.txid;
    RETURN NULL;
END $$
"""
# 0010's function, for the downgrade.
_BUMP_0010 = """
CREATE OR REPLACE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_versions (id, token, changed_at, txid)
    VALUES (1, md5(random()::text || clock_timestamp()::text), now(), txid_current())
    ON CONFLICT (id) DO UPDATE SET token = excluded.token, changed_at = excluded.changed_at, txid = excluded.txid
    WHERE data_versions.txid IS DISTINCT FROM excluded.txid;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table('data_version_pending',
    sa.Column('txid', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('txid', name=op.f('pk_data_version_pending'))
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_AT_COMMIT)
    op.execute("CREATE CONSTRAINT TRIGGER data_version_pending_commit AFTER INSERT ON data_version_pending "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_commit()")
    op.execute(_MARK)  # the watched tables' triggers (0010) call this function by name


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_BUMP_0010)
        op.execute("DROP TRIGGER IF EXISTS data_version_pending_commit ON data_version_pending")
        op.execute("DROP FUNCTION IF EXISTS data_version_commit()")
    op.drop_table('data_version_pending')
