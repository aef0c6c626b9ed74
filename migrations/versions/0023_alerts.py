"""alerts on outcomes: findings per own brand, and each person's reads and snoozes

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

Issue 18 item 2. Rules run after every import and refit (`core.alert_rules`) and write one row per
finding, de-duplicated by its key within the organization; the bell counts a person's unread alerts in
their scope (`core.alert_inbox`). New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("period", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_alerts_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_alerts_brand_id_brands"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_alerts_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("organization_id", "dedup_key", name=op.f("uq_alerts_organization_id")),
    )
    op.create_index(op.f("ix_alerts_brand_id"), "alerts", ["brand_id"], unique=False)
    op.create_index("ix_alerts_organization_id_created_at", "alerts", ["organization_id", "created_at"], unique=False)
    op.create_table(
        "alert_reads",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_reads_alert_id_alerts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_alert_reads_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "user_id", name=op.f("pk_alert_reads")),
    )
    op.create_table(
        "alert_snoozes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_alert_snoozes_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_alert_snoozes_brand_id_brands"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "brand_id", "kind", name=op.f("pk_alert_snoozes")),
    )


def downgrade() -> None:
    op.drop_table("alert_snoozes")
    op.drop_table("alert_reads")
    op.drop_index("ix_alerts_organization_id_created_at", table_name="alerts")
    op.drop_index(op.f("ix_alerts_brand_id"), table_name="alerts")
    op.drop_table("alerts")
