"""learned substitutions and index segments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 20:08:49.647236
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_tokens",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_tokens_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "kind", name=op.f("pk_document_tokens")),
    )
    op.create_table(
        "index_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("first_document_id", sa.Integer(), nullable=False),
        sa.Column("last_document_id", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_segments")),
    )
    op.create_table(
        "substitutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spun", sa.Text(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=True),
        sa.Column("first_seen", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substitutions")),
        sa.UniqueConstraint("spun", "original", name=op.f("uq_substitutions_spun_original")),
    )
    op.create_table(
        "substitution_sites",
        sa.Column("substitution_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_substitution_sites_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["substitution_id"],
            ["substitutions.id"],
            name=op.f("fk_substitution_sites_substitution_id_substitutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("substitution_id", "site_id", name=op.f("pk_substitution_sites")),
    )
    with op.batch_alter_table("substitution_sites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_substitution_sites_site_id"), ["site_id"], unique=False
        )

    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("learned_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=True)
        )
    # Pages are now re-checked when the number of indexed sources grows, not the highest id
    # (ids of concurrent imports can commit out of order).
    with op.batch_alter_table("match_checks", schema=None) as batch_op:
        batch_op.alter_column("max_source_id", new_column_name="sources_seen")


def downgrade() -> None:
    with op.batch_alter_table("match_checks", schema=None) as batch_op:
        batch_op.alter_column("sources_seen", new_column_name="max_source_id")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("learned_at")

    with op.batch_alter_table("substitution_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substitution_sites_site_id"))

    op.drop_table("substitution_sites")
    op.drop_table("substitutions")
    op.drop_table("index_segments")
    op.drop_table("document_tokens")
