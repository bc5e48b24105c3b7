"""indexes on the links a finish step has still to order and to learn from

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00

Each finish step orders the links that lack a verdict (``"order" IS NULL``, a thousand per
transaction, in id order) and harvests the substitutions of those not learned from yet (it
claims them, ``learned_at IS NULL``, then reads back ``learned_at = <the claim's time>``).
Without an index each of those statements walked the links stored before: with millions of
links, ordering a run's new ones walked past every ordered link once per thousand. A partial
index holds only the links still to order; a plain index on ``learned_at`` serves both the
claim and the read-back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNORDERED = '"order" IS NULL'


def upgrade() -> None:
    op.create_index(
        "ix_matches_unordered",
        "matches",
        ["id"],
        sqlite_where=sa.text(_UNORDERED),
        postgresql_where=sa.text(_UNORDERED),
    )
    op.create_index("ix_matches_learned_at", "matches", ["learned_at"])


def downgrade() -> None:
    op.drop_index("ix_matches_learned_at", table_name="matches")
    op.drop_index("ix_matches_unordered", table_name="matches")
