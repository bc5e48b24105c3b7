"""crawler captures: role, content type, depth, processing state

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("content_type", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("depth", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("processed_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_captures_processed_at"), ["processed_at"], unique=False
        )
    # Captures made before this schema came from imports, whose documents already exist.
    op.execute(
        "UPDATE captures SET processed_at = fetched_at, outcome = 'document', "
        "content_type = 'text/html' WHERE processed_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_captures_processed_at"))
        batch_op.drop_column("outcome")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("depth")
        batch_op.drop_column("content_type")
        batch_op.drop_column("role")
