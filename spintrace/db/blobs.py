"""Large stored values read in slices.

A merged index segment or frequency table of a million sources is a few hundred megabytes in
one row. Read whole from PostgreSQL, the driver holds it two to three times over at once
(``bytea`` comes as hex text, decoded into a new object) before the parser's own copy; read in
slices into one buffer, a reader holds the value once plus one slice (``bench/memory.py``), and
the server fetches only each slice's chunks (the column is stored uncompressed, migration 0014).
SQLite must hold a whole value to return any part of it (each ``substr`` would read it all
again), so there a value is read in one statement.

Index rows are never updated, only deleted; a row deleted while it is read gives ``None`` (and
a slice of a different length, a row that took its id meanwhile, too), and the caller reads
the index again.
"""

from __future__ import annotations

from sqlalchemy import LargeBinary, func, select
from sqlalchemy.orm import Session

from spintrace.db.models import IndexSegment
from spintrace.db.writes import is_postgresql

__all__ = ["SLICE", "read_index_data"]

SLICE = 1 << 24  # bytes read per statement from PostgreSQL (16 MB)


def read_index_data(
    session: Session, row_id: int, slice_bytes: int | None = None
) -> bytearray | None:
    """The ``data`` of index row ``row_id`` in one buffer, read ``slice_bytes`` (:data:`SLICE`)
    at a time on PostgreSQL; ``None`` when the row does not exist or changed while read."""
    where = IndexSegment.id == row_id
    if not is_postgresql(session):
        whole = session.scalar(select(IndexSegment.data).where(where))
        return None if whole is None else bytearray(whole)
    slice_bytes = slice_bytes or SLICE
    size = session.scalar(select(func.length(IndexSegment.data)).where(where))
    if size is None:
        return None
    out = bytearray(size)
    for start in range(0, size, slice_bytes):
        part = session.scalar(
            select(func.substr(IndexSegment.data, start + 1, slice_bytes, type_=LargeBinary)).where(
                where
            )
        )
        if part is None or len(part) != min(slice_bytes, size - start):
            return None
        out[start : start + len(part)] = part
    return out
