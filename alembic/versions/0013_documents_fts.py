"""documents full-text search on SQLite: an FTS5 index kept in step by triggers

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 23:44:53

On SQLite, ``documents_fts`` is an FTS5 index of ``documents.title`` and ``documents.text``
with ``documents`` as its external content (the text is not stored twice), and three triggers
keep it in step with every insert, update and delete, whichever code writes the row. The
names and the layout are the ones ``sqlite-utils enable-fts --create-triggers`` makes, so
datasette finds the index (a search box on the documents table) and ``sqlite-utils
rebuild-fts`` can rebuild it. Existing documents are indexed here.

PostgreSQL is untouched: this migration does nothing there.

A later migration that rebuilds ``documents`` in batch mode on SQLite (copy, drop, rename)
drops these triggers with the old table, and must create them again:
``tests/test_datasette.py`` checks they exist at head.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = (
    "CREATE VIRTUAL TABLE [documents_fts] USING FTS5 ([title], [text], content=[documents])",
    """CREATE TRIGGER [documents_ai] AFTER INSERT ON [documents] BEGIN
  INSERT INTO [documents_fts] (rowid, [title], [text]) VALUES (new.rowid, new.[title], new.[text]);
END""",
    """CREATE TRIGGER [documents_ad] AFTER DELETE ON [documents] BEGIN
  INSERT INTO [documents_fts] ([documents_fts], rowid, [title], [text])
    VALUES('delete', old.rowid, old.[title], old.[text]);
END""",
    """CREATE TRIGGER [documents_au] AFTER UPDATE ON [documents] BEGIN
  INSERT INTO [documents_fts] ([documents_fts], rowid, [title], [text])
    VALUES('delete', old.rowid, old.[title], old.[text]);
  INSERT INTO [documents_fts] (rowid, [title], [text]) VALUES (new.rowid, new.[title], new.[text]);
END""",
    "INSERT INTO [documents_fts] ([documents_fts]) VALUES ('rebuild')",
)

_DROP = (
    "DROP TRIGGER IF EXISTS [documents_au]",
    "DROP TRIGGER IF EXISTS [documents_ad]",
    "DROP TRIGGER IF EXISTS [documents_ai]",
    "DROP TABLE IF EXISTS [documents_fts]",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _CREATE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in _DROP:
        op.execute(statement)
