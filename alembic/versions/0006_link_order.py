"""who came first: each link's page and source times, their basis, and the verdict

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:30:00

The new columns start empty; the next ``spintrace match`` fills them for every link
(spintrace.linking.order), old links included.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = spintrace.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("page_time", _TIME, nullable=True))
        batch.add_column(sa.Column("page_time_basis", sa.String(length=9), nullable=True))
        batch.add_column(sa.Column("source_time", _TIME, nullable=True))
        batch.add_column(sa.Column("source_time_basis", sa.String(length=9), nullable=True))
        batch.add_column(sa.Column("order", sa.String(length=14), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("order")
        batch.drop_column("source_time_basis")
        batch.drop_column("source_time")
        batch.drop_column("page_time_basis")
        batch.drop_column("page_time")
