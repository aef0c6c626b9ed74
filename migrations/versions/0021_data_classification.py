"""data classification levels

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Issue 17 item 3: four levels (public, internal, confidential, restricted; `core.classification`) on
sections, metrics, scenarios and import batches, and the organization's default level for new
metrics, scenarios and imported data sets. Existing rows become "internal", the level everyone with
read access already saw, so nobody loses or gains anything by the upgrade. Plain ADD / DROP COLUMN
with a server default (as 0016): the data-version triggers on `organizations`, `sections` and
`metrics` stay, so a changed level moves the data token and no cached read outlives it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COLUMNS = (
    ("sections", "classification"),
    ("metrics", "classification"),
    ("scenarios", "classification"),
    ("import_batches", "classification"),
    ("organizations", "default_metric_classification"),
    ("organizations", "default_scenario_classification"),
    ("organizations", "default_import_classification"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(column, sa.String(length=20), nullable=False, server_default="internal"))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column)  # not batch mode: a rebuilt table would lose its data-version triggers
