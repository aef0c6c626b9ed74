"""security keys: WebAuthn credentials (hardware keys, passkeys) and the administrators' key policy

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07

Issue 17, item 2: several keys per user, each with its public key and the authenticator's sign
counter (a counter that does not move forward means a cloned key: core.security.webauthn_keys), and
an organization option that administrators must hold and use a key. Plain CREATE TABLE / ADD COLUMN.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("user_handle", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("is_passkey", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_security_keys_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_keys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_security_keys_credential_id")),
    )
    op.create_index(op.f("ix_security_keys_user_id"), "security_keys", ["user_id"], unique=False)
    with op.batch_alter_table("organization_security") as batch:
        batch.add_column(sa.Column("security_key_for_admins", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("organization_security") as batch:
        batch.drop_column("security_key_for_admins")
    op.drop_index(op.f("ix_security_keys_user_id"), table_name="security_keys")
    op.drop_table("security_keys")
