"""watch state and sellers: what monitoring rounds remember, and who owns a seller account

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:59:59

``watch_resources`` keeps, per URL a watch round checks (feeds, sitemaps, home pages, ads.txt,
the article URLs they list), the validators of its last answer and an entry's lastmod, so the
next round asks conditionally and re-fetches only what changed; ``sellers`` holds the entries
of sellers.json files (spintrace.db.watch). Both start empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sellers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_system", sa.Text(), nullable=False),
        sa.Column("seller_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("seller_type", sa.String(length=16), nullable=False),
        sa.Column("is_confidential", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sellers")),
        sa.UniqueConstraint("ad_system", "seller_id", name=op.f("uq_sellers_ad_system_seller_id")),
    )
    op.create_table(
        "watch_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=6), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("lastmod", spintrace.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("checked_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_resources")),
        sa.UniqueConstraint("kind", "url", name=op.f("uq_watch_resources_kind_url")),
    )
    with op.batch_alter_table("watch_resources", schema=None) as batch_op:
        batch_op.create_index("ix_watch_resources_site", ["site"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("watch_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_resources_site")

    op.drop_table("watch_resources")
    op.drop_table("sellers")
