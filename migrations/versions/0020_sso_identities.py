"""company sign-in accounts: (issuer, subject) → user, linked once and matched from then on

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

Issue 17 item 1. Until now a company sign-in found its person by the e-mail claim alone, so an address
changed or reused at the provider could move a sign-in to someone else. `sso_identities` keeps the
provider's own identifier of the person, linked at their first company sign-in. New table only: people
who signed in before are linked at their next sign-in, by e-mail as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_identities",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sso_identities_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_sso_identities")),
    )
    op.create_index(op.f("ix_sso_identities_user_id"), "sso_identities", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sso_identities_user_id"), table_name="sso_identities")
    op.drop_table("sso_identities")
