"""near duplicates: LSH band keys, same-spin page pairs, works of sources

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:33:29

``lsh_bands`` holds the band keys of MinHash signatures (pages signed on their published text,
sources from their stored content signatures), ``spin_pairs`` the pages of two sites that
publish the same spin of one source, and ``documents.work_id`` the work (the near-duplicate
editions of one story) a source belongs to. All start empty; the next ``spintrace match`` fills
them for every page and source (spintrace.linking.duplicates). The sources' skeleton
signatures, which nothing ever read, are deleted and no longer computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import spintrace.db.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lsh_bands",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_lsh_bands_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "kind", "band", name=op.f("pk_lsh_bands")),
    )
    with op.batch_alter_table("lsh_bands", schema=None) as batch_op:
        batch_op.create_index("ix_lsh_bands_kind_band_key", ["kind", "band", "key"], unique=False)

    op.create_table(
        "spin_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("page_a_id", sa.Integer(), nullable=False),
        sa.Column("page_b_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("estimated_jaccard", sa.Float(), nullable=False),
        sa.Column("jaccard", sa.Float(), nullable=False),
        sa.Column("shared", sa.Integer(), nullable=False),
        sa.Column("unexplained", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("found_at", spintrace.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["page_a_id"],
            ["documents.id"],
            name=op.f("fk_spin_pairs_page_a_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["page_b_id"],
            ["documents.id"],
            name=op.f("fk_spin_pairs_page_b_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["documents.id"],
            name=op.f("fk_spin_pairs_source_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spin_pairs")),
        sa.UniqueConstraint(
            "page_a_id",
            "page_b_id",
            "source_id",
            name=op.f("uq_spin_pairs_page_a_id_page_b_id_source_id"),
        ),
    )
    with op.batch_alter_table("spin_pairs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spin_pairs_page_b_id"), ["page_b_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_spin_pairs_source_id"), ["source_id"], unique=False)

    op.execute("DELETE FROM signatures WHERE kind LIKE 'skeleton-%'")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_documents_work_id"), ["work_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_work_id"))
        batch_op.drop_column("work_id")

    with op.batch_alter_table("spin_pairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spin_pairs_source_id"))
        batch_op.drop_index(batch_op.f("ix_spin_pairs_page_b_id"))

    op.drop_table("spin_pairs")
    with op.batch_alter_table("lsh_bands", schema=None) as batch_op:
        batch_op.drop_index("ix_lsh_bands_kind_band_key")

    op.drop_table("lsh_bands")
