"""retention policies and the audit archive

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None

_MINIMUMS = {"metric_values_days": 730, "sessions_days": 7, "jobs_days": 30, "exports_days": 7, "audit_days": 365}
_DEFAULTS = {"metric_values_days": 3650, "sessions_days": 30, "jobs_days": 180, "exports_days": 30, "audit_days": 730}


def upgrade() -> None:
    op.create_table('retention_policies',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    *[sa.Column(column, sa.Integer(), nullable=False) for column in _DEFAULTS],
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    *[sa.CheckConstraint(f'{column} >= {minimum}', name=op.f(f'ck_retention_policies_{column}_minimum'))
      for column, minimum in _MINIMUMS.items()],
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_retention_policies_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_retention_policies'))
    )
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
    op.create_table('audit_archive',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.String(length=80), nullable=True),
    sa.Column('data', json_type, nullable=False),
    sa.Column('personal', json_type, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_archive'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_LIVE_FUNCTION.format(archived=_ARCHIVED_DELETE))
        op.execute(_ARCHIVE_FUNCTION)
        op.execute("CREATE TRIGGER audit_archive_append_only BEFORE UPDATE OR DELETE ON audit_archive "
                   "FOR EACH ROW EXECUTE FUNCTION audit_archive_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_archive_append_only ON audit_archive")
        op.execute("DROP FUNCTION IF EXISTS audit_archive_append_only()")
        op.execute(_LIVE_FUNCTION.format(archived=""))  # as migration 0002 made it
    op.drop_table('audit_archive')
    op.drop_table('retention_policies')


# The live trail's trigger (migration 0002) gains one exception: an event may be deleted once an
# identical copy (same id, links and hash) sits in the archive, which is how retention moves it.
_LIVE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'personal') = (to_jsonb(OLD) - 'personal')
       AND NEW.personal = '{{}}'::jsonb THEN
        RETURN NEW;
    END IF;{archived}
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""
_ARCHIVED_DELETE = """
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_archive a
        WHERE a.id = OLD.id AND a.hash = OLD.hash AND a.prev_hash = OLD.prev_hash) THEN
        RETURN OLD;
    END IF;"""
_ARCHIVE_FUNCTION = """
CREATE FUNCTION audit_archive_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'personal') = (to_jsonb(OLD) - 'personal')
       AND NEW.personal = '{}'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_archive is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""
