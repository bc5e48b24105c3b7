"""stored watch lists: a watch list synced into the database for workers to run

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:11:53

``watch_lists`` holds the watch lists queued with ``spintrace watch FILE --queue`` (the checked
list as JSON); workers' periodic tick queues the rounds of their due sites. Starts empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_lists",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_watch_lists")),
    )


def downgrade() -> None:
    op.drop_table("watch_lists")
