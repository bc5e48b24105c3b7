"""The stored index: its rows (segments of the containment index, frequency tables), read in
slices and parsed, merged when there are too many, and the index loaded for judging.

Both kinds live in ``index_segments``, one row per indexed batch, named by the feature version
that made them (rows of another version are dropped at the next merge). Past
:data:`MAX_SEGMENTS` rows of a kind, they are merged into one, one kind at a time, so that a
merge holds only its own inputs and output (``bench/memory.py`` and ``bench/scale.py`` measure
it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from spintrace.db.blobs import read_index_data
from spintrace.db.models import IndexSegment, utcnow
from spintrace.db.writes import lock_transaction, without_statement_timeout
from spintrace.errors import DatabaseError
from spintrace.matcher.index import FEATURE_VERSION, FORMAT_VERSION, ContainmentIndex, Segment
from spintrace.matcher.rarity import DocumentFrequencies

__all__ = [
    "COMPACT_LOCK",
    "INDEX_NAME",
    "MAX_SEGMENTS",
    "MERGE_KINDS",
    "RARITY_NAME",
    "compact_index",
    "load_index",
    "parsed",
    "rarity_row",
    "release_freed_memory",
    "segment_ids",
    "stored_rarity",
]

T = TypeVar("T")

# One version drives every stored derivative of a source: changing the features re-indexes all.
INDEX_NAME = f"containment-f{FORMAT_VERSION}.{FEATURE_VERSION}"
# Document frequencies of the sources' lemmas and lemma pairs, one table per indexed batch.
RARITY_NAME = f"rarity-f{FEATURE_VERSION}"
# Segments beyond this many are merged into one: each one costs every query a lookup.
MAX_SEGMENTS = 8


# What compact_index merges, each kind by itself: the stored rows of each name.
MERGE_KINDS = ("segments", "tables")
_KIND_NAMES = {"segments": INDEX_NAME, "tables": RARITY_NAME}

# Key of the PostgreSQL advisory lock that lets one match run at a time compact the index.
COMPACT_LOCK = 0x5EED_1DE5


def compact_index(engine: Engine, kinds: Sequence[str] = MERGE_KINDS) -> dict[str, int]:
    """Merge the stored rows of each of ``kinds`` (:data:`MERGE_KINDS`: the index segments,
    the frequency tables) into one when there are more than :data:`MAX_SEGMENTS` of them;
    returns how many rows of each kind were merged (0 for a kind left as it was).

    Each kind is its own transaction. A worker merges each kind in a child process of its own
    (:mod:`spintrace.jobs.merge`): at a million sources a process that had merged the segments
    stayed at 1.4 GB and reached 1.9 GB merging the tables on top (docs/scale-out.md), while
    each merge alone stays near 1 GB (``bench/merges.py``)."""
    merged = dict.fromkeys(kinds, 0)
    for kind in kinds:
        name = _KIND_NAMES[kind]
        with Session(engine) as session, session.begin():
            # Before the lock: waiting behind another run's merge may outlast the timeout too.
            without_statement_timeout(session)  # a large merge may outlast the timeout
            # Two runs merging the same segments would each insert a merged copy.
            lock_transaction(session, COMPACT_LOCK)
            # Segments of older feature versions can never be queried again.
            session.execute(
                delete(IndexSegment).where(IndexSegment.name.not_in([INDEX_NAME, RARITY_NAME]))
            )
            # Written as bytes once the merged form is freed: a merge holds its inputs, then
            # its output, then the bytes and the driver's copy of them.
            rows = _stored_rows(session, name)
            if len(rows) > MAX_SEGMENTS:
                merge = _merged_segments if name == INDEX_NAME else _merged_tables
                _replace(session, name, rows, *merge(session, rows))
                merged[kind] = len(rows)
        release_freed_memory()
    return merged


def _merged_segments(session: Session, rows: Sequence[Any]) -> tuple[bytes, int]:
    """The stored segments of ``rows`` merged into one: its bytes and its number of sources."""
    # No other merge or recount deletes them meanwhile: the caller holds their lock.
    segments = _read_all(session, rows, _segment)
    if segments is None:
        raise DatabaseError("an index segment was deleted while the index was merged")
    (segment,) = ContainmentIndex(segments).merged().segments
    del segments  # the inputs go once merged: only the merged segment is kept while written
    return segment.to_bytes(), len(segment)


def _merged_tables(session: Session, rows: Sequence[Any]) -> tuple[bytes, int]:
    """The stored frequency tables of ``rows`` summed: bytes and number of sources counted."""
    return DocumentFrequencies.merged_bytes(stored_rarity(session, [row.id for row in rows]))


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to hand back this way
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``) after a merge
    or before a step that needs room. It does not return everything: at a million sources a
    process that had merged the segments stayed at 1.4 GB (docs/scale-out.md; what keeps it
    was not found), which is why workers merge in child processes."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _stored_rows(session: Session, name: str) -> Sequence[Any]:
    """The stored index rows of ``name`` (their ids and document ranges, not their data)."""
    return session.execute(
        select(IndexSegment.id, IndexSegment.first_document_id, IndexSegment.last_document_id)
        .where(IndexSegment.name == name)
        .order_by(IndexSegment.id)
    ).all()


def _replace(session: Session, name: str, rows: Sequence[Any], data: bytes, items: int) -> None:
    """Replace stored index ``rows`` of ``name`` by one row of ``data`` (a Core insert: an ORM
    object would keep the bytes in the session until it closes)."""
    session.execute(delete(IndexSegment).where(IndexSegment.id.in_([r.id for r in rows])))
    session.execute(
        insert(IndexSegment).values(
            name=name,
            first_document_id=min(r.first_document_id for r in rows),
            last_document_id=max(r.last_document_id for r in rows),
            items=items,
            data=data,
            created_at=utcnow(),
        )
    )


def _read_all(
    session: Session, rows: Sequence[Any], parse: Callable[[int, bytearray], T]
) -> list[T] | None:
    """Each of ``rows`` read (in slices) and parsed, in order; ``None`` when one of them was
    deleted meanwhile (a merge replaced it)."""
    out = []
    for row in rows:
        data = read_index_data(session, row.id)
        if data is None:
            return None
        out.append(parse(row.id, data))
    return out


def _rarity(row_id: int, data: bytes | bytearray) -> DocumentFrequencies:
    return parsed(
        DocumentFrequencies.from_bytes, data, f"the document frequencies are damaged (row {row_id}"
    )


def stored_rarity(
    session: Session, row_ids: Sequence[int], missing: list[int] | None = None
) -> Iterator[DocumentFrequencies]:
    """The stored frequency tables of ``row_ids``, read one at a time (a 1M-source index has
    a thousand of them: held all at once, their bytes alone were gigabytes). Rows gone since
    the ids were read are appended to ``missing``."""
    for row_id in row_ids:
        data = read_index_data(session, row_id)
        if data is None:
            if missing is not None:
                missing.append(row_id)
            continue
        yield _rarity(row_id, data)


def segment_ids(session: Session) -> tuple[tuple[int, object], ...]:
    """The ids (with their times) of the current index's segments and frequency tables: they
    change whenever sources are indexed or segments merged (a long-lived worker then reloads
    the index). With the time, also when SQLite gives a new row the id of a deleted one."""
    rows = session.execute(
        select(IndexSegment.id, IndexSegment.created_at).order_by(IndexSegment.id)
    )
    return tuple((row_id, created) for row_id, created in rows)


def rarity_row(table: DocumentFrequencies, first: int, last: int) -> IndexSegment:
    """A new stored row of frequency ``table`` counting sources ``first`` to ``last``."""
    return IndexSegment(
        name=RARITY_NAME,
        first_document_id=first,
        last_document_id=last,
        items=table.documents,
        data=table.to_bytes(),
    )


def _segment(segment_id: int, data: bytes | bytearray) -> Segment:
    return parsed(
        Segment.from_bytes, data, f"the containment index is damaged (segment {segment_id}"
    )


def parsed(parse: Callable[[Any], T], data: bytes | bytearray, subject: str, where: str = "") -> T:
    """``parse(data)``, or a :class:`DatabaseError` saying ``subject`` is damaged (``where``,
    and why) and how to recover: index, frequency tables and tokens are rebuilt from texts."""
    try:
        return parse(data)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise DatabaseError(
            f"{subject} damaged ({where}{exc}); run `spintrace index rebuild`"
        ) from None


def load_index(session: Session) -> ContainmentIndex:
    """The current containment index: every segment of this feature version, oldest first,
    each read in slices (:mod:`spintrace.db.blobs`). A merge that replaced segments while they
    were read (one was deleted) makes it read the new set."""
    for _ in range(5):
        segments = _read_all(session, _stored_rows(session, INDEX_NAME), _segment)
        if segments is not None:
            return ContainmentIndex(segments)
    raise DatabaseError("the index kept changing while it was read; try again")
