"""lift tests and kept fit versions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Response curves a planner can trust (issue 15): users record lift tests (a channel's measured
incremental outcome over a period, with its standard error) that the fitter uses as likelihood
terms, and every fit of a brand is kept with the data it saw, so the model review page can show
how each ROAS moved against the previous fit. Two new tables; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('lift_tests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('incremental_outcome', sa.Float(), nullable=False),
    sa.Column('standard_error', sa.Float(), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('standard_error > 0', name=op.f('ck_lift_tests_positive_se')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_lift_tests_period_order')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_lift_tests_brand_id_brands'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_lift_tests_channel_id_channels'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_lift_tests_created_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lift_tests'))
    )
    op.create_index('ix_lift_tests_brand', 'lift_tests', ['brand_id'], unique=False)
    op.create_table('fit_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.String(length=40), nullable=False),
    sa.Column('data_digest', sa.String(length=64), nullable=False),
    sa.Column('inputs', JSON, nullable=False),
    sa.Column('result', JSON, nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_fit_versions_brand_id_brands'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_fit_versions_created_by_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fit_versions')),
    sa.UniqueConstraint('brand_id', 'version', name=op.f('uq_fit_versions_brand_id'))
    )


def downgrade() -> None:
    op.drop_table('fit_versions')
    op.drop_index('ix_lift_tests_brand', table_name='lift_tests')
    op.drop_table('lift_tests')
