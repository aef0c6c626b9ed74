"""security alerts: findings, their deliveries, known sign-in networks, the detector's cursor; thresholds
and contacts per organization

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08

Issue 18 item 3. A detector pass reads the audit trail after its cursor (`security_alert_state`) and writes
one `security_alerts` row per finding (unique key), each sent to the organization's security contacts as
`security_alert_deliveries` rows retried with backoff (`core.security_alerts`). `security_known_networks`
keeps the networks each person signed in from. `organization_security` gains the burst and spike
thresholds and the contacts (NULL: the defaults, nobody). New tables and nullable columns only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KINDS = "('lockout_burst', 'denial_spike', 'admin_grant', 'mfa_reset', 'new_network', 'audit_chain')"
STATUSES = "('queued', 'sending', 'retrying', 'sent', 'failed')"


def upgrade() -> None:
    op.create_table(
        "security_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("personal", JSON, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind in {KINDS}", name=op.f("ck_security_alerts_kind")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_security_alerts_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_security_alerts_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alerts")),
        sa.UniqueConstraint("dedup_key", name="uq_security_alerts_dedup_key"),
    )
    op.create_index("ix_security_alerts_org_created", "security_alerts", ["organization_id", "created_at"])
    op.create_index("ix_security_alerts_kind_subject", "security_alerts", ["kind", "subject", "occurred_at"])
    op.create_index(op.f("ix_security_alerts_user_id"), "security_alerts", ["user_id"])
    op.create_table(
        "security_alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel in ('email', 'webhook')", name=op.f("ck_security_alert_deliveries_channel")),
        sa.CheckConstraint(f"status in {STATUSES}", name=op.f("ck_security_alert_deliveries_status")),
        sa.ForeignKeyConstraint(["alert_id"], ["security_alerts.id"],
                                name=op.f("fk_security_alert_deliveries_alert_id_security_alerts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alert_deliveries")),
        sa.UniqueConstraint("alert_id", "channel", "target", name="uq_security_alert_deliveries_target"),
    )
    op.create_index("ix_security_alert_deliveries_status_retry", "security_alert_deliveries", ["status", "retry_at"])
    op.create_table(
        "security_known_networks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_security_known_networks_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "network", name=op.f("pk_security_known_networks")),
    )
    op.create_table(
        "security_alert_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_id", sa.Integer(), nullable=False),
        sa.Column("verified_hash", sa.String(length=64), nullable=False),
        sa.Column("full_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("learn_until", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alert_state")),
    )
    with op.batch_alter_table("organization_security") as batch:
        batch.add_column(sa.Column("lockout_burst_accounts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lockout_burst_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("denial_spike_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("denial_spike_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("security_contacts", JSON, nullable=True))
        batch.add_column(sa.Column("security_webhook_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization_security") as batch:
        for column in ("security_webhook_url", "security_contacts", "denial_spike_minutes", "denial_spike_count",
                       "lockout_burst_minutes", "lockout_burst_accounts"):
            batch.drop_column(column)
    op.drop_table("security_alert_state")
    op.drop_table("security_known_networks")
    op.drop_index("ix_security_alert_deliveries_status_retry", table_name="security_alert_deliveries")
    op.drop_table("security_alert_deliveries")
    op.drop_index(op.f("ix_security_alerts_user_id"), table_name="security_alerts")
    op.drop_index("ix_security_alerts_kind_subject", table_name="security_alerts")
    op.drop_index("ix_security_alerts_org_created", table_name="security_alerts")
    op.drop_table("security_alerts")
