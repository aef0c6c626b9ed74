"""durable job queue: attempts, heartbeat, claimant and idempotency key on jobs; the saving job on scenarios

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_jobs_status_heartbeat', ['status', 'heartbeat_at'], unique=False)
        batch_op.create_unique_constraint('uq_jobs_owner_idempotency_key', ['owner_id', 'idempotency_key'])

    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saved_by_job_id', sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_scenarios_saved_by_job_id'), ['saved_by_job_id'])
        batch_op.create_foreign_key(batch_op.f('fk_scenarios_saved_by_job_id_jobs'), 'jobs', ['saved_by_job_id'],
                                    ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scenarios_saved_by_job_id_jobs'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_scenarios_saved_by_job_id'), type_='unique')
        batch_op.drop_column('saved_by_job_id')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_jobs_owner_idempotency_key', type_='unique')
        batch_op.drop_index('ix_jobs_status_heartbeat')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('attempts')

