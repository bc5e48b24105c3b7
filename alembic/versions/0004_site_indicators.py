"""site indicators

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 20:53:24.766808
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("first_capture_id", sa.Integer(), nullable=True),
        sa.Column("captures", sa.Integer(), nullable=False),
        sa.Column("first_seen", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_capture_id"],
            ["captures.id"],
            name=op.f("fk_indicators_first_capture_id_captures"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_indicators_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
        sa.UniqueConstraint(
            "site_id", "kind", "value", name=op.f("uq_indicators_site_id_kind_value")
        ),
    )
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.create_index("ix_indicators_kind_value", ["kind", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("indicators", schema=None) as batch_op:
        batch_op.drop_index("ix_indicators_kind_value")

    op.drop_table("indicators")
