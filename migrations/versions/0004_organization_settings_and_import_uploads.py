"""organization settings (password, MFA, lockout, alert defaults) and staged import uploads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_uploads',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('preview_ok', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_import_uploads_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_uploads_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_uploads'))
    )
    with op.batch_alter_table('import_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_uploads_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('organization_security', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_min_length', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mfa_policy', sa.String(length=20), server_default='administrators',
                                      nullable=False))
        batch_op.add_column(sa.Column('lockout_threshold', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lockout_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('alert_drop_threshold', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('alert_anomaly_z', sa.Float(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_organization_security_mfa_policy'),
                                         "mfa_policy in ('administrators', 'everyone')")


def downgrade() -> None:
    with op.batch_alter_table('organization_security', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_organization_security_mfa_policy'), type_='check')
        batch_op.drop_column('alert_anomaly_z')
        batch_op.drop_column('alert_drop_threshold')
        batch_op.drop_column('lockout_minutes')
        batch_op.drop_column('lockout_threshold')
        batch_op.drop_column('mfa_policy')
        batch_op.drop_column('password_min_length')

    with op.batch_alter_table('import_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_uploads_user_id'))

    op.drop_table('import_uploads')
