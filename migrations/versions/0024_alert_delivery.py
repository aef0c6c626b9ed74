"""alert delivery by e-mail and webhook, the marginal-ROAS floor, compliance report subscriptions

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

Issue 18 items 2 and 4. `organization_security.alert_roas_floor`: the organization's floor T of the
marginal-ROAS rule (NULL: the default 1.0). `report_subscriptions` may now send the compliance report and
the alert digest (format "html": the alerts are the mail's body). `alert_sent`: which alert went to whom in
which delivery, so no alert reaches a person twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_OLD = ("('portfolio', 'brand', 'scenario')", "('pdf', 'xlsx')")
_NEW = ("('portfolio', 'brand', 'scenario', 'compliance', 'alerts')", "('pdf', 'xlsx', 'html')")


def _checks(report: str, fmt: str) -> None:
    with op.batch_alter_table("report_subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_report_subscriptions_report"), type_="check")
        batch_op.drop_constraint(op.f("ck_report_subscriptions_format"), type_="check")
        batch_op.create_check_constraint(op.f("ck_report_subscriptions_report"), f"report in {report}")
        batch_op.create_check_constraint(op.f("ck_report_subscriptions_format"), f"format in {fmt}")


def upgrade() -> None:
    with op.batch_alter_table("organization_security", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_roas_floor", sa.Float(), nullable=True))
    _checks(*_NEW)
    op.create_table(
        "alert_sent",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_sent_alert_id_alerts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_alert_sent_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["subscription_deliveries.id"],
                                name=op.f("fk_alert_sent_delivery_id_subscription_deliveries"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "user_id", name=op.f("pk_alert_sent")),
    )
    op.create_index(op.f("ix_alert_sent_delivery_id"), "alert_sent", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_sent_delivery_id"), table_name="alert_sent")
    op.drop_table("alert_sent")
    op.execute("DELETE FROM report_subscriptions WHERE report IN ('compliance', 'alerts') OR format = 'html'")
    _checks(*_OLD)
    with op.batch_alter_table("organization_security", schema=None) as batch_op:
        batch_op.drop_column("alert_roas_floor")
