"""report subscriptions and their delivery log

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

Issue 18 items 1 and 5. `report_subscriptions`: who gets which report, when and how;
`subscription_deliveries`: one row per scheduled send (unique per subscription and period), with its
status, attempts and last error. New tables only; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("report", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("cadence", sa.String(length=10), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("unsubscribe_nonce", sa.String(length=32), nullable=False),
        sa.Column("stopped_reason", sa.String(length=300), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("report in ('portfolio', 'brand', 'scenario')", name=op.f("ck_report_subscriptions_report")),
        sa.CheckConstraint("format in ('pdf', 'xlsx')", name=op.f("ck_report_subscriptions_format")),
        sa.CheckConstraint("cadence in ('daily', 'weekly', 'monthly')", name=op.f("ck_report_subscriptions_cadence")),
        sa.CheckConstraint("hour >= 0 and hour <= 23", name=op.f("ck_report_subscriptions_hour")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_report_subscriptions_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_report_subscriptions_owner_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recipient_id"], ["users.id"],
                                name=op.f("fk_report_subscriptions_recipient_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_subscriptions")),
    )
    op.create_index("ix_report_subscriptions_due", "report_subscriptions", ["active", "next_run_at"], unique=False)
    for column in ("organization_id", "owner_id", "recipient_id"):
        op.create_index(op.f(f"ix_report_subscriptions_{column}"), "report_subscriptions", [column], unique=False)
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('queued', 'sending', 'retrying', 'sent', 'failed', 'skipped')",
                           name=op.f("ck_subscription_deliveries_status")),
        sa.ForeignKeyConstraint(["subscription_id"], ["report_subscriptions.id"],
                                name=op.f("fk_subscription_deliveries_subscription_id_report_subscriptions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_subscription_deliveries_organization_id_organizations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_deliveries")),
        sa.UniqueConstraint("subscription_id", "period", name="uq_subscription_deliveries_period"),
    )
    op.create_index("ix_subscription_deliveries_org_created", "subscription_deliveries",
                    ["organization_id", "created_at"], unique=False)
    op.create_index("ix_subscription_deliveries_status_retry", "subscription_deliveries", ["status", "retry_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_subscription_deliveries_status_retry", table_name="subscription_deliveries")
    op.drop_index("ix_subscription_deliveries_org_created", table_name="subscription_deliveries")
    op.drop_table("subscription_deliveries")
    for column in ("organization_id", "owner_id", "recipient_id"):
        op.drop_index(op.f(f"ix_report_subscriptions_{column}"), table_name="report_subscriptions")
    op.drop_index("ix_report_subscriptions_due", table_name="report_subscriptions")
    op.drop_table("report_subscriptions")
