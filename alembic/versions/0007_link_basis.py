"""both directions, several links per page: each link says what made it a link

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:30:00

``matches.basis`` is ``alignment``, ``passage`` or ``paraphrase`` (docs/matching.md). Links
stored by an older matcher keep NULL here until the next ``spintrace match``, which re-checks
every page an older matcher version checked and replaces its links with the new verdict (so
old and new links are never mixed silently: ``matcher`` names the version of each link).
``match_checks.last_source_id`` is the newest source a page was judged with: a page is judged
again only when a newer source is among its candidates (NULL: judged by an older release).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("basis", sa.String(length=10), nullable=True))
    with op.batch_alter_table("match_checks") as batch:
        batch.add_column(sa.Column("last_source_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_checks") as batch:
        batch.drop_column("last_source_id")
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("basis")
