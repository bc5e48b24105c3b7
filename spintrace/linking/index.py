"""Indexing sources: the first step of the match stage.

Every source not yet indexed gets, in one transaction per batch: its lemmatised tokens (what
alignment compares), a sketch in a new immutable segment of the containment index, its words
and word pairs counted in the batch's document-frequency table (how rare a passage is: see
:mod:`spintrace.matcher.rarity`), and a MinHash signature of its content shingles (it marks
the source as indexed, and its band keys find the source's near-duplicate editions). Past
:data:`~spintrace.linking.stored.MAX_SEGMENTS` segments, each kind is merged into one
(:mod:`spintrace.linking.stored`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, delete, exists, func, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, DocumentTokens, IndexSegment, LshBand
from spintrace.db.models import Signature as SignatureRow
from spintrace.db.writes import (
    consistent_transaction,
    insert_rows,
    lock_transaction,
    retry_on_conflict,
    without_statement_timeout,
)
from spintrace.linking.stored import (
    COMPACT_LOCK,
    INDEX_NAME,
    RARITY_NAME,
    compact_index,
    parsed,
    rarity_row,
    stored_rarity,
)
from spintrace.matcher.despin import Despinner
from spintrace.matcher.index import (
    FEATURE_VERSION,
    Features,
    IndexParams,
    Segment,
    sketch,
    text_features,
)
from spintrace.matcher.minhash import SCHEME, minhash_many
from spintrace.matcher.rarity import DocumentFrequencies
from spintrace.matcher.tokens import Token, TokenTable, tokenize

__all__ = [
    "INDEX_NAME",
    "RARITY_NAME",
    "TOKENS_KIND",
    "drop_index",
    "index_sources",
    "indexed_sources",
    "load_rarity",
    "not_indexed",
    "stored_tokens",
    "text_tokens_and_features",
    "unindexed_sources",
]

T = TypeVar("T")

# The content signature marks a source as indexed and finds its near-duplicate editions
# (spintrace.linking.duplicates). Earlier releases also stored a skeleton signature nobody read.
SIGNATURE_KINDS = (f"content-f{FEATURE_VERSION}",)
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


def not_indexed() -> ColumnElement[bool]:
    """The condition "this source (``Document``) is not indexed yet".

    NOT EXISTS, never ``NOT IN (indexed_sources())``: PostgreSQL cannot turn NOT IN over a
    subquery into an anti-join (NULL semantics), so it hashed every indexed id for each batch,
    a cost growing with the index (346 ms a batch at 173,000 sources in the 1M scale run, and
    rising; 10 ms as an anti-join on the unique index)."""
    return ~exists().where(
        SignatureRow.document_id == Document.id, SignatureRow.kind == SIGNATURE_KINDS[0]
    )


def index_sources(
    engine: Engine,
    despinner: Despinner,
    settings: Settings,
    *,
    ids: Sequence[int] | None = None,
    compact: bool = True,
) -> int:
    """Index every source not indexed yet (of ``ids`` only, when given), in new segments;
    returns how many were indexed. Several processes may index at once: a source two of them
    index clashes on its keys, and the loser's batch is read again. ``compact``: merge the
    segments after (a queued run merges once, after its last batch: :func:`compact_index`)."""

    def batch(session: Session) -> int | None:
        query: Any = select(Document.id, Document.text).where(
            Document.role == "source", not_indexed()
        )
        if ids is not None:
            query = query.where(Document.id.in_(ids))
        # Not claimed with SKIP LOCKED: a run that skipped sources another run is indexing
        # would match its pages before they are indexed (tests/test_pipeline.py, two
        # concurrent runs). Two writers of one source clash on its keys and the loser
        # retries; queued index batches have disjoint ids anyway.
        rows = session.execute(query.order_by(Document.id).limit(INDEX_BATCH)).all()
        if not rows:
            return None
        _index_batch(session, rows, despinner, settings)
        return len(rows)

    done = sum(retry_on_conflict(engine, batch, what="indexing sources"))
    if compact:
        compact_index(engine)
    return done


def unindexed_sources() -> Any:
    """A query of the ids of every source not indexed yet, in id order."""
    return select(Document.id).where(Document.role == "source", not_indexed()).order_by(Document.id)


def _index_batch(
    session: Session, rows: Sequence[Any], despinner: Despinner, settings: Settings
) -> None:
    entries = []
    content, words, tables = [], [], []
    for doc_id, text in rows:
        tokens, features = text_tokens_and_features(despinner, text, source=True)
        words.append([t.norm for t in tokens])
        tables.append(
            {
                "document_id": doc_id,
                "kind": TOKENS_KIND,
                "data": TokenTable.from_tokens(tokens).to_bytes(),
            }
        )
        entries.append((doc_id, sketch(features)))
        content.append(features.content)
    insert_rows(session, DocumentTokens, tables, ignore_conflicts=False)
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
    session.add(rarity_row(DocumentFrequencies.build(words), rows[0][0], rows[-1][0]))
    for kind, sets in zip(SIGNATURE_KINDS, (content,), strict=True):
        values = minhash_many(sets, settings.num_perm, settings.seed)
        insert_rows(
            session,
            SignatureRow,
            [
                {
                    "document_id": doc_id,
                    "kind": kind,
                    "num_perm": settings.num_perm,
                    "seed": settings.seed,
                    "scheme": SCHEME,
                    "set_size": len(hashes),
                    "hashvalues": row.astype("<u4").tobytes(),
                }
                for (doc_id, _), hashes, row in zip(rows, sets, values, strict=True)
            ],
            ignore_conflicts=False,
        )


def stored_tokens(
    document_id: int, text: str, data: bytes | None, despinner: Despinner
) -> TokenTable:
    """A source's stored token table, or its tokens afresh when a release that kept none
    indexed it; :class:`DatabaseError` when the stored table is damaged."""
    if data is None:
        return TokenTable.from_tokens(despinner.tokens(tokenize(text), undo_spin=False))
    return parsed(
        TokenTable.from_bytes, data, f"the stored tokens of source {document_id} are damaged ("
    )


def _rarity_state(session: Session) -> tuple[list[int], DocumentFrequencies, int]:
    """The stored frequency tables' row ids, their sum for judging (without singletons: see
    :func:`load_rarity`), and how many sources are indexed."""
    for _ in range(5):
        row_ids = list(
            session.scalars(select(IndexSegment.id).where(IndexSegment.name == RARITY_NAME))
        )
        missing: list[int] = []
        tables = stored_rarity(session, row_ids, missing)
        table = DocumentFrequencies.merge(tables, singletons=False)
        if not missing:
            break
        # A compaction replaced tables between the two reads: read the new ones.
    indexed = session.scalar(select(func.count()).select_from(indexed_sources().subquery()))
    return row_ids, table, indexed or 0


def _stale_rarity(table: DocumentFrequencies, indexed: int) -> bool:
    """Whether the tables no longer describe the indexed sources: none yet (a database indexed
    by a release without them), or off by more than 1% (sources deleted since, say). Drift under
    that (a source indexed between two reads) only nudges weights and is left alone."""
    return abs(table.documents - indexed) > indexed // 100


def load_rarity(engine: Engine, despinner: Despinner) -> DocumentFrequencies:
    """The document frequencies of every indexed source, for judging: without the keys one
    source holds (:meth:`~spintrace.matcher.rarity.DocumentFrequencies.without_singletons`:
    the same weights in a quarter of the keys at 100,000 sources; bench/memory.py).

    When the stored tables no longer describe the indexed sources (:func:`_stale_rarity`), they
    are counted afresh from the stored tokens, once, by one process at a time, in a transaction
    that sees one consistent state: the tables it replaces are exactly those of the sources it
    counts, and a batch another process indexes meanwhile keeps its own table.
    """
    with Session(engine) as session:
        _, table, indexed = _rarity_state(session)
    if not _stale_rarity(table, indexed):
        return table
    with Session(engine) as session, session.begin():
        consistent_transaction(session)
        without_statement_timeout(session)
        lock_transaction(session, COMPACT_LOCK)
        row_ids, table, indexed = _rarity_state(session)
        if not _stale_rarity(table, indexed):  # another process recounted while we waited
            return table
        stored = session.execute(
            select(Document.id, Document.text, DocumentTokens.data)
            .outerjoin(
                DocumentTokens,
                (DocumentTokens.document_id == Document.id) & (DocumentTokens.kind == TOKENS_KIND),
            )
            .where(Document.id.in_(indexed_sources()))
            .order_by(Document.id)
            .execution_options(yield_per=500)
        )
        ids: list[int] = []

        def words() -> Iterator[list[str]]:
            for doc_id, text, data in stored:
                ids.append(doc_id)
                yield stored_tokens(doc_id, text, data, despinner).norms

        counted = DocumentFrequencies.build(words())
        session.execute(delete(IndexSegment).where(IndexSegment.id.in_(row_ids)))
        if ids:
            session.add(rarity_row(counted, ids[0], ids[-1]))
        return counted.without_singletons()


def drop_index(engine: Engine) -> int:
    """Forget every source's index entries (segments, token tables, signatures), so that the
    next :func:`index_sources` indexes every source afresh; returns how many sources it was."""
    with Session(engine) as session, session.begin():
        sources = select(Document.id).where(Document.role == "source")
        dropped = session.scalar(select(func.count()).select_from(indexed_sources().subquery()))
        session.execute(delete(IndexSegment))
        session.execute(delete(LshBand).where(LshBand.document_id.in_(sources)))
        session.execute(delete(SignatureRow).where(SignatureRow.document_id.in_(sources)))
        session.execute(delete(DocumentTokens).where(DocumentTokens.document_id.in_(sources)))
    return dropped or 0
