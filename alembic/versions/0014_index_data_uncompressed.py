"""index rows stored uncompressed on PostgreSQL, so a slice of one is read without the rest

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:40:00

A merged index segment or frequency table is a few hundred megabytes in one
``index_segments.data`` value, read in slices (``spintrace.db.blobs``). PostgreSQL reads a slice
of an uncompressed out-of-line value by fetching only its chunks, but must decompress a
compressed one from its start for every slice (the PostgreSQL manual, "TOAST": ``EXTERNAL``
"will make substring operations on wide text and bytea columns faster"). The values seen so
far were not compressed (``pg_column_compression`` empty for a 100,000-source index: pglz gives
up on hash arrays early), but nothing guaranteed it (lz4, or a more compressible segment).
``STORAGE EXTERNAL``: out of line, never compressed; rows already stored keep their form until
a merge replaces them.

SQLite has no such setting: this migration does nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE index_segments ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE index_segments ALTER COLUMN data SET STORAGE EXTENDED")
