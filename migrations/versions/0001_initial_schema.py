"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.String(length=80), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('personal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    sa.UniqueConstraint('name', name=op.f('uq_channels_name'))
    )
    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_organizations_slug'))
    )
    op.create_table('sections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sections')),
    sa.UniqueConstraint('name', name=op.f('uq_sections_name'))
    )
    op.create_table('brands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_brands_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brands')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_brands_organization_id'))
    )
    with op.batch_alter_table('brands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_brands_organization_id'), ['organization_id'], unique=False)

    op.create_table('platforms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.CheckConstraint('weight > 0', name=op.f('ck_platforms_weight_positive')),
    sa.ForeignKeyConstraint(['section_id'], ['sections.id'], name=op.f('fk_platforms_section_id_sections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platforms')),
    sa.UniqueConstraint('section_id', 'name', name=op.f('uq_platforms_section_id'))
    )
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platforms_section_id'), ['section_id'], unique=False)

    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('normalization', sa.Enum('minmax', 'percentile', name='normalization', native_enum=False, length=20), nullable=False),
    sa.Column('section_weights', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('scores_computed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_projects_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_projects_organization_id'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_projects_organization_id'), ['organization_id'], unique=False)

    op.create_table('roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('permissions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_builtin', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_roles_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roles')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_roles_organization_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_users_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_organization_id'), ['organization_id'], unique=False)

    op.create_table('control_values',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_control_values_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', 'name', 'period', name=op.f('pk_control_values'))
    )
    op.create_table('dc_scores',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.CheckConstraint("level in ('total', 'section', 'platform')", name=op.f('ck_dc_scores_level')),
    sa.PrimaryKeyConstraint('project_id', 'period', 'brand_id', 'level', 'node_id', name=op.f('pk_dc_scores')),
    postgresql_with={'fillfactor': 80},
    )

    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_import_batches_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_batches_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batches_organization_id'), ['organization_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_jobs_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_jobs_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_owner_created', ['owner_id', 'created_at'], unique=False)

    op.create_table('metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.CheckConstraint("direction in ('higher', 'lower')", name=op.f('ck_metrics_direction')),
    sa.CheckConstraint('weight > 0', name=op.f('ck_metrics_weight_positive')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_metrics_platform_id_platforms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics')),
    sa.UniqueConstraint('code', name=op.f('uq_metrics_code'))
    )
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_platform_id'), ['platform_id'], unique=False)

    op.create_table('outcomes',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('granularity', sa.String(length=5), nullable=False),
    sa.Column('revenue', sa.Float(), nullable=False),
    sa.Column('units', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.CheckConstraint("granularity in ('week', 'month')", name=op.f('ck_outcomes_granularity')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_outcomes_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', 'period', name=op.f('pk_outcomes'))
    )
    op.create_table('project_brands',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.CheckConstraint("role in ('own', 'competitor', 'benchmark')", name=op.f('ck_project_brands_role')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_project_brands_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_brands_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'brand_id', name=op.f('pk_project_brands'))
    )
    with op.batch_alter_table('project_brands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_brands_brand_id'), ['brand_id'], unique=False)

    op.create_table('response_curves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('diagnostics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind in ('fitted', 'truth')", name=op.f('ck_response_curves_kind')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_response_curves_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_response_curves_channel_id_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_response_curves'))
    )
    with op.batch_alter_table('response_curves', schema=None) as batch_op:
        batch_op.create_index('ix_response_curves_brand_channel', ['brand_id', 'channel_id', 'kind'], unique=False)

    op.create_table('role_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role_id', sa.Integer(), nullable=False),
    sa.Column('scope_type', sa.String(length=20), nullable=False),
    sa.Column('scope_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope_type in ('organization', 'project', 'brand', 'system')", name=op.f('ck_role_grants_scope_type')),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], name=op.f('fk_role_grants_role_id_roles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_role_grants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_grants')),
    sa.UniqueConstraint('user_id', 'role_id', 'scope_type', 'scope_id', name=op.f('uq_role_grants_user_id'))
    )
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_grants_user_id'), ['user_id'], unique=False)

    op.create_table('scenarios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('inputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('constraints', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('draft', 'saved', 'approved', 'archived')", name=op.f('ck_scenarios_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_scenarios_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_scenarios_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_scenarios_project_id_projects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios'))
    )
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.create_index('ix_scenarios_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('spend',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('granularity', sa.String(length=5), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.CheckConstraint("granularity in ('week', 'month')", name=op.f('ck_spend_granularity')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_spend_amount_nonnegative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_spend_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_spend_channel_id_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', 'channel_id', 'period', name=op.f('pk_spend'))
    )
    with op.batch_alter_table('spend', schema=None) as batch_op:
        batch_op.create_index('ix_spend_brand_period', ['brand_id', 'period'], unique=False)

    op.create_table('metric_values',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('raw_value', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_metric_values_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['metric_id'], ['metrics.id'], name=op.f('fk_metric_values_metric_id_metrics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('brand_id', 'metric_id', 'period', name=op.f('pk_metric_values'))
    )
    with op.batch_alter_table('metric_values', schema=None) as batch_op:
        batch_op.create_index('ix_metric_values_period_brand', ['period', 'brand_id'], unique=False)

    _create_score_cleanup_triggers()


def downgrade() -> None:
    _drop_score_cleanup_triggers()
    with op.batch_alter_table('metric_values', schema=None) as batch_op:
        batch_op.drop_index('ix_metric_values_period_brand')

    op.drop_table('metric_values')
    with op.batch_alter_table('spend', schema=None) as batch_op:
        batch_op.drop_index('ix_spend_brand_period')

    op.drop_table('spend')
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_index('ix_scenarios_org_created')

    op.drop_table('scenarios')
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_grants_user_id'))

    op.drop_table('role_grants')
    with op.batch_alter_table('response_curves', schema=None) as batch_op:
        batch_op.drop_index('ix_response_curves_brand_channel')

    op.drop_table('response_curves')
    with op.batch_alter_table('project_brands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_brands_brand_id'))

    op.drop_table('project_brands')
    op.drop_table('outcomes')
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_platform_id'))

    op.drop_table('metrics')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_owner_created')

    op.drop_table('jobs')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batches_organization_id'))

    op.drop_table('import_batches')
    op.drop_table('dc_scores')
    op.drop_table('control_values')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_organization_id'))

    op.drop_table('users')
    op.drop_table('roles')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_organization_id'))

    op.drop_table('projects')
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platforms_section_id'))

    op.drop_table('platforms')
    with op.batch_alter_table('brands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_brands_organization_id'))

    op.drop_table('brands')
    op.drop_table('sections')
    op.drop_table('organizations')
    op.drop_table('channels')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_org_created')

    op.drop_table('audit_events')


# dc_scores is a cache derived from metric_values and carries no foreign keys: checking two keys
# on each of ~10^5–10^6 rows written per recompute cost ten times the write itself. Deleting a
# project, a brand or a brand's membership of a project removes its scores through these triggers.
_SCORE_CLEANUP = {
    "projects": "project_id = OLD.id",
    "brands": "brand_id = OLD.id",
    "project_brands": "project_id = OLD.project_id AND brand_id = OLD.brand_id",
}


def _create_score_cleanup_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, condition in _SCORE_CLEANUP.items():
        if postgres:
            op.execute(
                f"CREATE FUNCTION dc_scores_forget_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN DELETE FROM dc_scores WHERE {condition}; RETURN OLD; END $$"
            )
            op.execute(
                f"CREATE TRIGGER trg_{table}_forget_scores AFTER DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION dc_scores_forget_{table}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER trg_{table}_forget_scores AFTER DELETE ON {table} "
                f"FOR EACH ROW BEGIN DELETE FROM dc_scores WHERE {condition}; END"
            )


def _drop_score_cleanup_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _SCORE_CLEANUP:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_forget_scores" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS dc_scores_forget_{table}()")
