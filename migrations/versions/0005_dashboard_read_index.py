"""dashboard read index on dc_scores by brand

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dc_scores', schema=None) as batch_op:
        batch_op.create_index('ix_dc_scores_project_level_brand', ['project_id', 'level', 'brand_id', 'period'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dc_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_dc_scores_project_level_brand')
