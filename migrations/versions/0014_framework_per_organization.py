"""metric framework per organization: each tenant's own sections, platforms and metrics

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

`sections` (and through them platforms and metrics) had no organization: one catalogue, its names
and codes unique across all tenants, shared by every organization. Now a section belongs to one
organization (unique by organization and name) and so do its platforms and metrics; `metrics` carries
the organization too, so codes are unique per organization (see core/models/metrics.py). Sections get
a default weight (1) and metrics a description (empty). `framework_versions` records each
organization's framework version (v1 here).

Existing data is kept: every organization that has data (a brand or a project), or the only
organization when there is just one, gets the whole old catalogue. The lowest of them keeps the old
rows and ids; the others get copies, and their metric values (by the brand's organization) and
section / platform scores (by the project's organization) are re-pointed at their own copies, so
every stored score and value means what it meant before. Without such an organization the catalogue
cannot belong to anyone and is dropped (no value or score refers to it).
The downgrade merges same-named sections (same section and platform names for platforms, same code
for metrics) back into the lowest id and re-points values and scores.

SQLite: batch mode copies `sections` and `metrics`; migrations/env.py turns foreign keys off meanwhile
(dropping the old copy would cascade into platforms and values). The copies lose the tables'
data-version triggers (0010), which are made again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_HAS_DATA = ("(EXISTS (SELECT 1 FROM brands b WHERE b.organization_id = o.id) "
             "OR EXISTS (SELECT 1 FROM projects p WHERE p.organization_id = o.id) "
             "OR (SELECT count(*) FROM organizations) = 1)")
# The organizations that get the catalogue, the lowest (the keeper) excluded.
_OTHERS = f"SELECT o.id AS id FROM organizations o WHERE {_HAS_DATA} AND o.id > {{keep}}"

_COPY_SECTIONS = ("INSERT INTO sections (organization_id, name, position, weight) "
                  "SELECT o.id, s.name, s.position, s.weight FROM sections s CROSS JOIN ({others}) o "
                  "WHERE s.organization_id = {keep}")
_COPY_PLATFORMS = ("INSERT INTO platforms (section_id, name, weight) "
                   "SELECT mine.id, p.name, p.weight FROM platforms p "
                   "JOIN sections theirs ON theirs.id = p.section_id AND theirs.organization_id = {keep} "
                   "JOIN sections mine ON mine.name = theirs.name AND mine.organization_id <> {keep}")
_COPY_METRICS = ("INSERT INTO metrics (organization_id, platform_id, code, name, direction, weight, unit, "
                 "min_value, max_value, description) "
                 "SELECT mine_s.organization_id, mine_p.id, m.code, m.name, m.direction, m.weight, m.unit, "
                 "m.min_value, m.max_value, m.description FROM metrics m "
                 "JOIN platforms p ON p.id = m.platform_id "
                 "JOIN sections s ON s.id = p.section_id AND s.organization_id = {keep} "
                 "JOIN sections mine_s ON mine_s.name = s.name AND mine_s.organization_id <> {keep} "
                 "JOIN platforms mine_p ON mine_p.section_id = mine_s.id AND mine_p.name = p.name")
# A brand's values point at its own organization's metric of the same code.
_REPOINT_VALUES = """
    UPDATE metric_values SET metric_id = (
        SELECT mine.id FROM metrics mine
        JOIN metrics used ON used.code = mine.code
        JOIN brands b ON b.organization_id = mine.organization_id
        WHERE used.id = metric_values.metric_id AND b.id = metric_values.brand_id)
    WHERE (SELECT organization_id FROM metrics WHERE id = metric_values.metric_id)
       <> (SELECT organization_id FROM brands WHERE id = metric_values.brand_id)
"""
# A project's section and platform scores point at its own organization's nodes of the same names.
_REPOINT_SECTION_SCORES = """
    UPDATE dc_scores SET node_id = (
        SELECT mine.id FROM sections mine
        JOIN sections used ON used.name = mine.name
        JOIN projects p ON p.organization_id = mine.organization_id
        WHERE used.id = dc_scores.node_id AND p.id = dc_scores.project_id)
    WHERE level = 'section'
      AND (SELECT organization_id FROM sections WHERE id = dc_scores.node_id)
       <> (SELECT organization_id FROM projects WHERE id = dc_scores.project_id)
"""
_REPOINT_PLATFORM_SCORES = """
    UPDATE dc_scores SET node_id = (
        SELECT mine_p.id FROM platforms mine_p
        JOIN sections mine_s ON mine_s.id = mine_p.section_id
        JOIN projects pr ON pr.organization_id = mine_s.organization_id
        JOIN platforms used_p ON used_p.name = mine_p.name
        JOIN sections used_s ON used_s.id = used_p.section_id AND used_s.name = mine_s.name
        WHERE used_p.id = dc_scores.node_id AND pr.id = dc_scores.project_id)
    WHERE level = 'platform'
      AND (SELECT s.organization_id FROM platforms p JOIN sections s ON s.id = p.section_id
           WHERE p.id = dc_scores.node_id)
       <> (SELECT organization_id FROM projects WHERE id = dc_scores.project_id)
"""
# Downgrade: everything to the lowest id of its name (code).
_MERGE_SECTION_SCORES = """
    UPDATE dc_scores SET node_id = (
        SELECT min(keep.id) FROM sections keep JOIN sections used ON used.name = keep.name
        WHERE used.id = dc_scores.node_id)
    WHERE level = 'section' AND node_id IN (SELECT id FROM sections)
"""
_MERGE_PLATFORM_SCORES = """
    UPDATE dc_scores SET node_id = (
        SELECT min(keep_p.id) FROM platforms keep_p
        JOIN sections keep_s ON keep_s.id = keep_p.section_id
        JOIN platforms used_p ON used_p.name = keep_p.name
        JOIN sections used_s ON used_s.id = used_p.section_id AND used_s.name = keep_s.name
        WHERE used_p.id = dc_scores.node_id)
    WHERE level = 'platform' AND node_id IN (SELECT id FROM platforms)
"""
_MERGE_PLATFORM_SECTIONS = """
    UPDATE platforms SET section_id = (
        SELECT min(keep.id) FROM sections keep JOIN sections used ON used.name = keep.name
        WHERE used.id = platforms.section_id)
"""
_MERGE_METRIC_PLATFORMS = """
    UPDATE metrics SET platform_id = (
        SELECT min(keep_p.id) FROM platforms keep_p
        JOIN sections keep_s ON keep_s.id = keep_p.section_id
        JOIN platforms used_p ON used_p.name = keep_p.name
        JOIN sections used_s ON used_s.id = used_p.section_id AND used_s.name = keep_s.name
        WHERE used_p.id = metrics.platform_id)
"""
_MERGE_VALUES = """
    UPDATE metric_values SET metric_id = (
        SELECT min(keep.id) FROM metrics keep JOIN metrics used ON used.code = keep.code
        WHERE used.id = metric_values.metric_id)
    WHERE metric_id NOT IN (SELECT min(id) FROM metrics GROUP BY code)
"""
# As migration 0010 makes them (SQLite has no statement triggers: one per row and operation).
_SQLITE_BUMP = ("UPDATE data_versions SET token = lower(hex(randomblob(16))), changed_at = CURRENT_TIMESTAMP "
                "WHERE id = 1; "
                "INSERT INTO data_versions (id, token, changed_at) SELECT 1, lower(hex(randomblob(16))), "
                "CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM data_versions WHERE id = 1)")
_COPIED = ("sections", "metrics")


def _settle() -> None:
    """PostgreSQL: run the data-version commit trigger (0011) for this migration's writes now (as 0012)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS data_version_pending_commit IMMEDIATE")


def _sqlite_triggers() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _COPIED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_data_version_{event.lower()} AFTER {event} ON {table} "
                       f"BEGIN {_SQLITE_BUMP}; END")


def _keeper() -> int | None:
    """The lowest organization that gets the catalogue (it keeps the old rows), or None."""
    return op.get_bind().execute(sa.text(f"SELECT min(o.id) FROM organizations o WHERE {_HAS_DATA}")).scalar()


def _give_out_catalogue(keep: int | None) -> None:
    if keep is not None:
        keep = int(keep)
        op.execute(f"UPDATE sections SET organization_id = {keep}")
        op.execute(f"UPDATE metrics SET organization_id = {keep}")
        op.execute(_COPY_SECTIONS.format(others=_OTHERS.format(keep=keep), keep=keep))
        op.execute(_COPY_PLATFORMS.format(keep=keep))
        op.execute(_COPY_METRICS.format(keep=keep))
        op.execute(_REPOINT_VALUES)
        op.execute(_REPOINT_SECTION_SCORES)
        op.execute(_REPOINT_PLATFORM_SCORES)
    # Nobody to give it to (foreign keys are off on SQLite: delete children first, by hand).
    op.execute("DELETE FROM metrics WHERE organization_id IS NULL")
    op.execute("DELETE FROM platforms WHERE section_id IN (SELECT id FROM sections WHERE organization_id IS NULL)")
    op.execute("DELETE FROM sections WHERE organization_id IS NULL")


def upgrade() -> None:
    op.create_table('framework_versions',
    sa.Column('organization_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('saved_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_framework_versions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['saved_by'], ['users.id'], name=op.f('fk_framework_versions_saved_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_framework_versions'))
    )
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('weight', sa.Float(), nullable=False, server_default='1'))
        batch_op.drop_constraint('uq_sections_name', type_='unique')
        batch_op.create_foreign_key(op.f('fk_sections_organization_id_organizations'), 'organizations',
                                    ['organization_id'], ['id'], ondelete='CASCADE')
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('description', sa.String(length=1000), nullable=False, server_default=''))
        batch_op.drop_constraint('uq_metrics_code', type_='unique')
        batch_op.create_foreign_key(op.f('fk_metrics_organization_id_organizations'), 'organizations',
                                    ['organization_id'], ['id'], ondelete='CASCADE')
    _sqlite_triggers()
    _give_out_catalogue(_keeper())
    op.execute("INSERT INTO framework_versions (organization_id, version, saved_at, note) "
               "SELECT DISTINCT organization_id, 1, CURRENT_TIMESTAMP, 'the catalogue before frameworks per "
               "organization (migration 0014)' FROM sections")
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('weight', existing_type=sa.Float(), server_default=None)
        batch_op.create_unique_constraint(op.f('uq_sections_organization_id'), ['organization_id', 'name'])
        batch_op.create_check_constraint(op.f('ck_sections_weight_positive'), 'weight > 0')
        batch_op.create_index(batch_op.f('ix_sections_organization_id'), ['organization_id'], unique=False)
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.alter_column('organization_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('description', existing_type=sa.String(length=1000), server_default=None)
        batch_op.create_unique_constraint(op.f('uq_metrics_organization_id'), ['organization_id', 'code'])
        batch_op.create_index(batch_op.f('ix_metrics_organization_id'), ['organization_id'], unique=False)
    _sqlite_triggers()
    _settle()


def downgrade() -> None:
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sections_organization_id'))
        batch_op.drop_constraint(op.f('uq_sections_organization_id'), type_='unique')
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_organization_id'))
        batch_op.drop_constraint(op.f('uq_metrics_organization_id'), type_='unique')
    _sqlite_triggers()
    op.execute(_MERGE_SECTION_SCORES)
    op.execute(_MERGE_PLATFORM_SCORES)
    op.execute(_MERGE_METRIC_PLATFORMS)
    op.execute("DELETE FROM platforms WHERE id NOT IN (SELECT min(p.id) FROM platforms p "
               "JOIN sections s ON s.id = p.section_id GROUP BY s.name, p.name)")
    op.execute(_MERGE_PLATFORM_SECTIONS)
    op.execute(_MERGE_VALUES)
    op.execute("DELETE FROM metrics WHERE id NOT IN (SELECT min(id) FROM metrics GROUP BY code)")
    op.execute("DELETE FROM sections WHERE id NOT IN (SELECT min(id) FROM sections GROUP BY name)")
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_metrics_organization_id_organizations'), type_='foreignkey')
        batch_op.drop_column('description')
        batch_op.drop_column('organization_id')
        batch_op.create_unique_constraint(op.f('uq_metrics_code'), ['code'])
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sections_weight_positive'), type_='check')
        batch_op.drop_constraint(op.f('fk_sections_organization_id_organizations'), type_='foreignkey')
        batch_op.drop_column('weight')
        batch_op.drop_column('organization_id')
        batch_op.create_unique_constraint(op.f('uq_sections_name'), ['name'])
    op.drop_table('framework_versions')
    _sqlite_triggers()
    _settle()
