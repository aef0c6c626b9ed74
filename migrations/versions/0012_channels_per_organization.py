"""channels per organization: each tenant's own channel catalogue

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

`channels` had no organization, so a channel one organization's import created (and its name, whatever
it was) was shared by every tenant. Now a channel belongs to one organization, unique by
(organization, name). Existing data is kept: a channel used (spend, response curves) by brands of
several organizations is split into one row per organization and each brand's rows point at its own
organization's row (the organization with the lowest id keeps the old row and id). A channel nobody
uses goes to the only organization when there is just one; with several it cannot be attributed to
any of them without showing its name to the others, and is dropped (no row refers to it).
The downgrade merges same-named channels back into the lowest id and re-points the rows.

SQLite: batch mode copies the table; migrations/env.py turns foreign keys off meanwhile, or dropping
the old copy would cascade into spend. The copy loses the table's data-version triggers (0010),
which are made again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Which organizations use each channel: through the brands of its spend rows and response curves.
_USAGE = """
    SELECT s.channel_id AS channel_id, b.organization_id AS organization_id
    FROM spend s JOIN brands b ON b.id = s.brand_id
    UNION
    SELECT r.channel_id, b.organization_id
    FROM response_curves r JOIN brands b ON b.id = r.brand_id
"""
# The rows of spend / response_curves whose brand's organization has its own row of the same name.
_REPOINT = """
    UPDATE {table} SET channel_id = (
        SELECT mine.id FROM channels mine
        JOIN channels used ON used.name = mine.name
        JOIN brands b ON b.organization_id = mine.organization_id
        WHERE used.id = {table}.channel_id AND b.id = {table}.brand_id)
    WHERE (SELECT organization_id FROM channels WHERE id = {table}.channel_id)
       <> (SELECT organization_id FROM brands WHERE id = {table}.brand_id)
"""
# Downgrade: every row to the lowest id of its channel's name.
_MERGE = """
    UPDATE {table} SET channel_id = (
        SELECT min(keep.id) FROM channels keep
        JOIN channels used ON used.name = keep.name
        WHERE used.id = {table}.channel_id)
    WHERE channel_id NOT IN (SELECT min(id) FROM channels GROUP BY name)
"""
# As migration 0010 makes them (SQLite has no statement triggers: one per row and operation).
_SQLITE_BUMP = ("UPDATE data_versions SET token = lower(hex(randomblob(16))), changed_at = CURRENT_TIMESTAMP "
                "WHERE id = 1; "
                "INSERT INTO data_versions (id, token, changed_at) SELECT 1, lower(hex(randomblob(16))), "
                "CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM data_versions WHERE id = 1)")


def _settle() -> None:
    """PostgreSQL: run the data-version commit trigger (0011) for this migration's writes now. Left
    deferred, its pending event would stop a later step of the same run (0011's downgrade) from
    dropping its table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS data_version_pending_commit IMMEDIATE")


def _sqlite_triggers() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER IF NOT EXISTS channels_data_version_{event.lower()} AFTER {event} ON channels "
                   f"BEGIN {_SQLITE_BUMP}; END")


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_channels_name', type_='unique')
        batch_op.create_foreign_key(op.f('fk_channels_organization_id_organizations'), 'organizations',
                                    ['organization_id'], ['id'], ondelete='CASCADE')
    _sqlite_triggers()
    op.execute(f"UPDATE channels SET organization_id = (SELECT min(u.organization_id) FROM ({_USAGE}) u "
               "WHERE u.channel_id = channels.id)")
    op.execute(f"INSERT INTO channels (organization_id, name) SELECT u.organization_id, c.name "
               f"FROM channels c JOIN ({_USAGE}) u ON u.channel_id = c.id WHERE u.organization_id <> c.organization_id")
    for table in ("spend", "response_curves"):
        op.execute(_REPOINT.format(table=table))
    op.execute("UPDATE channels SET organization_id = (SELECT min(id) FROM organizations) "
               "WHERE organization_id IS NULL AND (SELECT count(*) FROM organizations) = 1")
    op.execute("DELETE FROM channels WHERE organization_id IS NULL")
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(op.f('uq_channels_organization_id'), ['organization_id', 'name'])
    _sqlite_triggers()
    _settle()


def downgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_channels_organization_id'), type_='unique')
    _sqlite_triggers()
    for table in ("spend", "response_curves"):
        op.execute(_MERGE.format(table=table))
    op.execute("DELETE FROM channels WHERE id NOT IN (SELECT min(id) FROM channels GROUP BY name)")
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_channels_organization_id_organizations'), type_='foreignkey')
        batch_op.drop_column('organization_id')
        batch_op.create_unique_constraint(op.f('uq_channels_name'), ['name'])
    _sqlite_triggers()
    _settle()
