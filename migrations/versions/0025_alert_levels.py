"""alerts carry the classification level of what they tell

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

Issue 17 item 3 meets issue 18 item 2: an anomaly of a confidential or restricted metric is an alert of
that level, which the scope filter hides from whoever may not read it (core.security.authorizer). Existing
alerts were raised by rules that read internal data only, so "internal" is right for every one of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("classification", sa.String(length=20), nullable=False,
                                      server_default="internal"))


def downgrade() -> None:
    op.drop_column("alerts", "classification")  # as 0021: not batch mode, which rebuilds the table
