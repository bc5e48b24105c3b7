"""partial indexes on the links a finish step has still to order and to learn from

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00

Each finish step orders the links that lack a verdict (``"order" IS NULL``, a thousand per
transaction) and harvests the substitutions of those not learned from yet (``learned_at IS
NULL``). Without an index, each of those statements read every link stored before: with
millions of links, ordering a run's new ones read the whole table once per thousand. A partial
index holds only the pending rows, so it stays as small as the run's own links.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_matches_unordered": '"order" IS NULL',
    "ix_matches_unlearned": "learned_at IS NULL",
}


def upgrade() -> None:
    for name, where in _INDEXES.items():
        op.create_index(
            name,
            "matches",
            ["id"],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="matches")
