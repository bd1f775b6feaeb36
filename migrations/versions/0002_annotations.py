"""Annotating workers: why an asset's annotation failed, and the claim of the attempt under way.

Garments and model photos uploaded without their annotations are annotated by a worker; these columns
hold the failure reason and message, and the attempts, queueing time and lease of the annotation.
Plain ADD/DROP COLUMN on both databases (SQLite >= 3.35 drops columns in place): no table is copied, so
SQLite's foreign-key cascades never see a table dropped and recreated.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("garments", "model_photos")


def _columns() -> list[sa.Column]:
    return [
        sa.Column("status_reason", sa.String(length=64), nullable=True),
        sa.Column("status_message", sa.Text(), nullable=True),
        # A string default: an SQL expression would make SQLite copy the table (see above).
        sa.Column("annotation_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("annotation_enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("annotation_lease_expires_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for table in TABLES:
        for column in _columns():
            op.add_column(table, column)
        op.create_index(op.f(f"ix_{table}_status"), table, ["status"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_status"), table_name=table)
        for column in reversed(_columns()):
            op.drop_column(table, column.name)
