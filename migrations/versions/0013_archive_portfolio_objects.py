"""archive organizations, projects and brands

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Portfolio setup (issue 14) lets administrators archive an organization, a project or a brand: it
leaves the pages and lists but keeps its data (deleting is a separate, audited step under the
retention rules). `archived_at` is NULL for a live object. Plain ADD / DROP COLUMN both ways
(SQLite has DROP COLUMN since 3.35): no table copy, so the triggers on these tables (data version,
score clean-up) stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TABLES = ('organizations', 'projects', 'brands')


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, 'archived_at')
