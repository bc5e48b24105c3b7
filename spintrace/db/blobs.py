"""Large stored values read in slices.

A merged index segment or frequency table of a million sources is a few hundred megabytes in
one row. Read whole, the driver holds it two to three times over at once (PostgreSQL sends
``bytea`` as hex text, decoded into a new object) before the parser's own copy; read in slices
into one buffer, a reader holds the value once plus one slice (``bench/memory.py`` measures
it). Stored index rows are immutable (replaced only by deleting them), so slices read by
several statements belong to one value, unless the row was deleted meanwhile (then ``None``).
"""

from __future__ import annotations

from sqlalchemy import LargeBinary, func, select
from sqlalchemy.orm import Session

from spintrace.db.models import IndexSegment

__all__ = ["SLICE", "read_index_data"]

SLICE = 1 << 24  # bytes read per statement (16 MB)


def read_index_data(
    session: Session, row_id: int, slice_bytes: int | None = None
) -> bytearray | None:
    """The ``data`` of index row ``row_id``, read ``slice_bytes`` (:data:`SLICE`) at a time
    into one buffer; ``None`` when the row does not exist (or was deleted while it was read)."""
    slice_bytes = slice_bytes or SLICE
    where = IndexSegment.id == row_id
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
        if part is None:
            return None
        if len(part) != min(slice_bytes, size - start):
            raise ValueError(f"index row {row_id} changed while it was read")
        out[start : start + len(part)] = part
    return out
