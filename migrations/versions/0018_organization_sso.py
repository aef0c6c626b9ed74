"""single sign-on with OpenID Connect: an organization's provider, and the used nonces

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Issue 17 item 1. `organization_sso` holds one organization's identity provider (issuer, client id,
the client secret encrypted with the app's Fernet keys, allowed e-mail domains, the claim → role
mapping, just-in-time provisioning and whether members may still use passwords); `sso_used_nonces`
the hashes of nonces already spent, so a replayed id_token is refused. New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "organization_sso",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("allowed_domains", _JSON, nullable=False),
        sa.Column("role_mapping", _JSON, nullable=False),
        sa.Column("mfa_acr_values", _JSON, nullable=False),
        sa.Column("jit_provisioning", sa.Boolean(), nullable=False),
        sa.Column("local_passwords_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_organization_sso_organization_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_organization_sso")),
    )
    op.create_table(
        "sso_used_nonces",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash", name=op.f("pk_sso_used_nonces")),
    )


def downgrade() -> None:
    op.drop_table("sso_used_nonces")
    op.drop_table("organization_sso")
