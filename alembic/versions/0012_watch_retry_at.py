"""watch retry_at: when a failing watched URL may be tried again

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:50:00

``watch_resources.retry_at`` holds the back-off of a feed, sitemap, home page or entry whose
last check failed (NULL: no failure pending). Existing rows start without one: a failing row is
tried at the next round, as before, and backs off from then on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watch_resources") as batch:
        batch.add_column(
            sa.Column("retry_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("watch_resources") as batch:
        batch.drop_column("retry_at")
