"""an organization's currency and outcome unit

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Issue 16: spend, budgets and outcomes carried no currency. Each organization chooses an ISO 4217
currency and what its outcome counts (revenue in that currency, or a count such as conversions);
`core.settings` validates and saves them, `core.formatting.Units` writes every figure with them.
NULL means not chosen (plain figures; revenue). Plain ADD / DROP COLUMN, as 0013: the data-version
triggers on `organizations` stay, so a changed currency reaches every cached page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organizations", sa.Column("currency", sa.String(length=3), nullable=True))
    op.add_column("organizations", sa.Column("outcome_unit", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("organizations", "outcome_unit")
    op.drop_column("organizations", "currency")
