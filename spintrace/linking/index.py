"""Indexing sources: the first step of the match stage.

Every source not yet indexed gets, in one transaction per batch: its lemmatised tokens (what
alignment compares), a sketch in a new immutable segment of the containment index, and MinHash
signatures of its content and skeleton shingles (they mark the source as indexed). Past
:data:`MAX_SEGMENTS` segments, they are merged into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, DocumentTokens, IndexSegment
from spintrace.db.models import Signature as SignatureRow
from spintrace.db.writes import (
    lock_transaction,
    retry_on_conflict,
    without_statement_timeout,
)
from spintrace.errors import DatabaseError
from spintrace.matcher.despin import Despinner
from spintrace.matcher.index import (
    FEATURE_VERSION,
    FORMAT_VERSION,
    ContainmentIndex,
    Features,
    IndexParams,
    Segment,
    sketch,
    text_features,
)
from spintrace.matcher.minhash import SCHEME, minhash_many
from spintrace.matcher.tokens import Token, TokenTable, tokenize

__all__ = [
    "INDEX_NAME",
    "TOKENS_KIND",
    "drop_index",
    "index_sources",
    "indexed_sources",
    "load_index",
    "text_tokens_and_features",
]

# One version drives every stored derivative of a source: changing the features re-indexes all.
INDEX_NAME = f"containment-f{FORMAT_VERSION}.{FEATURE_VERSION}"
SIGNATURE_KINDS = (f"content-f{FEATURE_VERSION}", f"skeleton-f{FEATURE_VERSION}")
# Segments beyond this many are merged into one: each one costs every query a lookup.
MAX_SEGMENTS = 8
# Sources indexed per transaction (and per new segment).
INDEX_BATCH = 5000

TOKENS_KIND = f"lemma-f{FEATURE_VERSION}"


def text_tokens_and_features(
    despinner: Despinner, text: str, *, source: bool
) -> tuple[list[Token], Features]:
    """Lemmatised tokens (what alignment compares) and the features the index compares.

    A page's features are taken after undoing known spins, so a spun copy finds its source;
    its alignment uses the lemmas only, so every spun word still shows as a substitution in
    the evidence (never as a verbatim copy) and is harvested again for the site's fingerprint.
    """
    tokens = tokenize(text)
    lemmas = despinner.tokens(tokens, undo_spin=False)
    despun = lemmas if source else despinner.tokens(tokens, undo_spin=True)
    lead = IndexParams().lead_tokens if source else 0
    return lemmas, text_features(despun, text, lead_tokens=lead)


def indexed_sources() -> Any:
    """A query of the ids of every indexed source."""
    return select(SignatureRow.document_id).where(SignatureRow.kind == SIGNATURE_KINDS[0])


def index_sources(engine: Engine, despinner: Despinner, settings: Settings) -> int:
    """Index every source not indexed yet, in new segments; returns how many were indexed."""

    def batch(session: Session) -> int | None:
        rows = session.execute(
            select(Document.id, Document.text)
            .where(Document.role == "source", Document.id.not_in(indexed_sources()))
            .order_by(Document.id)
            .limit(INDEX_BATCH)
        ).all()
        if not rows:
            return None
        _index_batch(session, rows, despinner, settings)
        return len(rows)

    done = sum(retry_on_conflict(engine, batch, what="indexing sources"))
    _compact(engine)
    return done


def _index_batch(
    session: Session, rows: Sequence[Any], despinner: Despinner, settings: Settings
) -> None:
    entries = []
    content, skeleton = [], []
    for doc_id, text in rows:
        tokens, features = text_tokens_and_features(despinner, text, source=True)
        session.add(
            DocumentTokens(
                document_id=doc_id,
                kind=TOKENS_KIND,
                data=TokenTable.from_tokens(tokens).to_bytes(),
            )
        )
        entries.append((doc_id, sketch(features)))
        content.append(features.content)
        skeleton.append(features.skeleton)
    segment = Segment.build(entries)
    session.add(
        IndexSegment(
            name=INDEX_NAME,
            first_document_id=rows[0][0],
            last_document_id=rows[-1][0],
            items=len(segment),
            data=segment.to_bytes(),
        )
    )
    for kind, sets in zip(SIGNATURE_KINDS, (content, skeleton), strict=True):
        values = minhash_many(sets, settings.num_perm, settings.seed)
        session.add_all(
            SignatureRow(
                document_id=doc_id,
                kind=kind,
                num_perm=settings.num_perm,
                seed=settings.seed,
                scheme=SCHEME,
                set_size=len(hashes),
                hashvalues=row.astype("<u4").tobytes(),
            )
            for (doc_id, _), hashes, row in zip(rows, sets, values, strict=True)
        )


# Key of the PostgreSQL advisory lock that lets one match run at a time compact the index.
_COMPACT_LOCK = 0x5EED_1DE5


def _compact(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        # Before the lock: waiting behind another run's merge may outlast the timeout too.
        without_statement_timeout(session)  # a large merge may outlast db_statement_timeout
        # Two runs merging the same segments would each insert a merged copy.
        lock_transaction(session, _COMPACT_LOCK)
        # Segments of older feature versions can never be queried again.
        session.execute(delete(IndexSegment).where(IndexSegment.name != INDEX_NAME))
        segments = session.scalars(
            select(IndexSegment).where(IndexSegment.name == INDEX_NAME).order_by(IndexSegment.id)
        ).all()
        if len(segments) <= MAX_SEGMENTS:
            return
        merged = ContainmentIndex([_segment(s.id, s.data) for s in segments]).merged()
        (segment,) = merged.segments
        session.execute(delete(IndexSegment).where(IndexSegment.id.in_([s.id for s in segments])))
        session.add(
            IndexSegment(
                name=INDEX_NAME,
                first_document_id=min(s.first_document_id for s in segments),
                last_document_id=max(s.last_document_id for s in segments),
                items=len(segment),
                data=segment.to_bytes(),
            )
        )


def _segment(segment_id: int, data: bytes) -> Segment:
    """A stored segment, or a :class:`DatabaseError` that says how to recover."""
    try:
        return Segment.from_bytes(data)
    except ValueError as exc:
        raise DatabaseError(
            f"the containment index is damaged (segment {segment_id}: {exc}); "
            "run `spintrace index rebuild`"
        ) from None


def load_index(session: Session) -> ContainmentIndex:
    """The current containment index: every segment of this feature version, oldest first."""
    rows = session.execute(
        select(IndexSegment.id, IndexSegment.data)
        .where(IndexSegment.name == INDEX_NAME)
        .order_by(IndexSegment.id)
    ).all()
    return ContainmentIndex([_segment(segment_id, data) for segment_id, data in rows])


def drop_index(engine: Engine) -> int:
    """Forget every source's index entries (segments, token tables, signatures), so that the
    next :func:`index_sources` indexes every source afresh; returns how many sources it was."""
    with Session(engine) as session, session.begin():
        sources = select(Document.id).where(Document.role == "source")
        dropped = session.scalar(select(func.count()).select_from(indexed_sources().subquery()))
        session.execute(delete(IndexSegment))
        session.execute(delete(SignatureRow).where(SignatureRow.document_id.in_(sources)))
        session.execute(delete(DocumentTokens).where(DocumentTokens.document_id.in_(sources)))
    return dropped or 0
