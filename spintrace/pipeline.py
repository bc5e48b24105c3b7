"""The match stage: index new sources, link pages to the sources they copy, learn from links.

``match_pages`` is idempotent: a page checked against the current index (linked or not) is not
checked again, and a second run changes nothing. New sources make unlinked pages eligible
again; a stored link is never dropped. Steps:

1. **Index** every source not yet indexed: tokens, lemmas, content and skeleton shingles, a
   sketch in a new immutable index segment, and MinHash signatures of both shingle sets, all in
   one transaction (the signatures mark the source as indexed).
2. **Match** each stale page: de-spin it (confirmed learned substitutions undone, lemmas),
   query the containment index, align the page with each candidate, keep the best at or above
   ``match_threshold`` with its evidence.
3. **Learn**: harvest the substitutions of the new links (:mod:`spintrace.spinners`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import (
    Document,
    DocumentTokens,
    IndexSegment,
    Match,
    MatchCheck,
    utcnow,
)
from spintrace.db.models import Signature as SignatureRow
from spintrace.errors import DatabaseError
from spintrace.matcher.align import Bigrams, align, bigram_starts
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
from spintrace.matcher.minhash import minhash_many
from spintrace.matcher.signatures import SCHEME
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import Token, TokenTable, normalise_phrase, tokenize
from spintrace.records import Evidence
from spintrace.spinners import harvest, load_substitutions

__all__ = ["INDEX_NAME", "MATCHER_VERSION", "MatchReport", "index_sources", "match_pages"]

logger = logging.getLogger(__name__)

MATCHER_VERSION = "align-v3"
# One version drives every stored derivative of a source: changing the features re-indexes all.
INDEX_NAME = f"containment-f{FORMAT_VERSION}.{FEATURE_VERSION}"
SIGNATURE_KINDS = (f"content-f{FEATURE_VERSION}", f"skeleton-f{FEATURE_VERSION}")
# Segments beyond this many are merged into one: each one costs every query a lookup.
MAX_SEGMENTS = 8
# Sources indexed per transaction (and per new segment).
INDEX_BATCH = 5000
# Batches lost to a concurrent run before giving up (each loss means the other run progressed).
MAX_CONFLICTS = 100

Progress = Callable[[int, int], None]


@dataclass
class MatchReport:
    """What a match run did."""

    sources: int = 0
    indexed: int = 0
    checked: int = 0
    linked: int = 0
    unlinked: int = 0
    too_short: int = 0
    learned_from: int = 0
    index_seconds: float = 0.0
    match_seconds: float = 0.0

    @property
    def pages_per_second(self) -> float:
        """Pages checked per second of the matching step (indexing and learning excluded)."""
        return self.checked / self.match_seconds if self.match_seconds > 0 else 0.0


TOKENS_KIND = f"lemma-f{FEATURE_VERSION}"


def _features(despinner: Despinner, text: str, *, source: bool) -> tuple[list[Token], Features]:
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


def _indexed_sources() -> Any:
    return select(SignatureRow.document_id).where(SignatureRow.kind == SIGNATURE_KINDS[0])


def index_sources(engine: Engine, despinner: Despinner, settings: Settings) -> int:
    """Index every source not indexed yet, in new segments; returns how many were indexed."""
    done = conflicts = 0
    while True:
        try:
            with Session(engine) as session, session.begin():
                rows = session.execute(
                    select(Document.id, Document.text)
                    .where(Document.role == "source", Document.id.not_in(_indexed_sources()))
                    .order_by(Document.id)
                    .limit(INDEX_BATCH)
                ).all()
                if not rows:
                    break
                _index_batch(session, rows, despinner, settings)
                done += len(rows)
        except IntegrityError as exc:
            # Another process indexed some of the same sources first: take the next ones.
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise DatabaseError(
                    f"indexing keeps conflicting with another writer ({exc.orig})"
                ) from None
            logger.info("sources were indexed concurrently; continuing")
        else:
            conflicts = 0
    _compact(engine)
    return done


def _index_batch(
    session: Session, rows: Sequence[Any], despinner: Despinner, settings: Settings
) -> None:
    entries = []
    content, skeleton = [], []
    for doc_id, text in rows:
        tokens, features = _features(despinner, text, source=True)
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
        if session.get_bind().dialect.name == "postgresql":
            # Two runs merging the same segments would each insert a merged copy.
            session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": _COMPACT_LOCK})
        # Segments of older feature versions can never be queried again.
        session.execute(delete(IndexSegment).where(IndexSegment.name != INDEX_NAME))
        segments = session.scalars(
            select(IndexSegment).where(IndexSegment.name == INDEX_NAME).order_by(IndexSegment.id)
        ).all()
        if len(segments) <= MAX_SEGMENTS:
            return
        merged = ContainmentIndex([Segment.from_bytes(s.data) for s in segments]).merged()
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


def _load_index(session: Session) -> ContainmentIndex:
    blobs = session.scalars(
        select(IndexSegment.data).where(IndexSegment.name == INDEX_NAME).order_by(IndexSegment.id)
    ).all()
    return ContainmentIndex([Segment.from_bytes(blob) for blob in blobs])


def evidence_json(evidence: Evidence, despinner: Despinner) -> dict[str, Any]:
    """The evidence as JSON-ready data, each substitution with the relation that explains it."""
    data = asdict(evidence)
    thesaurus = despinner.thesaurus
    for sub in data["substitutions"]:
        spun, original = normalise_phrase(sub["spun"]), normalise_phrase(sub["original"])
        relation = None
        known = despinner.substitutions.lookup(despinner.phrase(spun).split())
        if known is not None and known == tuple(despinner.phrase(original).split()):
            relation = "learned"
        elif thesaurus is not None and spun and original:
            relation = thesaurus.related(spun, original)
        sub["relation"] = relation
    return data


class _Sources:
    """Source texts and stored tokens, loaded on first use and kept for the run."""

    def __init__(self, despinner: Despinner) -> None:
        self.despinner = despinner
        self.cache: dict[int, tuple[str, TokenTable, Bigrams]] = {}

    def get(self, session: Session, source_id: int) -> tuple[str, TokenTable, Bigrams]:
        if source_id not in self.cache:
            text, data = session.execute(
                select(Document.text, DocumentTokens.data)
                .outerjoin(
                    DocumentTokens,
                    (DocumentTokens.document_id == Document.id)
                    & (DocumentTokens.kind == TOKENS_KIND),
                )
                .where(Document.id == source_id)
            ).one()
            if data is not None:
                table = TokenTable.from_bytes(data)
            else:  # indexed by an older spintrace: tokenise it once more
                table = TokenTable.from_tokens(
                    self.despinner.tokens(tokenize(text), undo_spin=False)
                )
            self.cache[source_id] = (text, table, bigram_starts(table.norms))
        return self.cache[source_id]


def _stale_pages(sources_seen: int) -> Any:
    stale = or_(
        MatchCheck.page_id.is_(None),
        MatchCheck.matcher != MATCHER_VERSION,
        (MatchCheck.outcome != "linked") & (MatchCheck.sources_seen < sources_seen),
    )
    return (
        select(Document.id, Document.text)
        .outerjoin(MatchCheck, MatchCheck.page_id == Document.id)
        .where(Document.role == "page", stale)
    )


def _record(session: Session, page_id: int, sources_seen: int, outcome: str) -> None:
    check = session.get(MatchCheck, page_id) or MatchCheck(page_id=page_id)
    session.add(check)
    check.sources_seen = sources_seen
    check.matcher = MATCHER_VERSION
    check.outcome = outcome
    check.checked_at = utcnow()


def _store_link(
    session: Session, page_id: int, source_id: int, evidence: Evidence, despinner: Despinner
) -> None:
    match = session.scalar(
        select(Match).where(Match.page_id == page_id, Match.source_id == source_id)
    ) or Match(page_id=page_id, source_id=source_id)
    session.add(match)
    match.score = evidence.score
    match.containment = evidence.containment
    match.coverage = evidence.coverage
    match.spin_rate = evidence.spin_rate
    match.evidence = evidence_json(evidence, despinner)
    match.matcher = MATCHER_VERSION
    match.matched_at = utcnow()


def _match_one(
    session: Session,
    text: str,
    index: ContainmentIndex,
    sources: _Sources,
    settings: Settings,
) -> tuple[str, int, Evidence] | str:
    despinner = sources.despinner
    tokens, features = _features(despinner, text, source=False)
    if len(tokens) < settings.min_page_tokens:
        return "too-short"
    page = TokenTable.from_tokens(tokens)
    best: tuple[int, Evidence] | None = None
    for source_id, _estimate in index.query(features, limit=settings.max_candidates):
        source_text, source_tokens, bigrams = sources.get(session, source_id)
        evidence = align(page, source_tokens, text, source_text, despinner.linked, bigrams)
        if best is None or evidence.score > best[1].score:
            best = (source_id, evidence)
    if best is None or best[1].score < settings.match_threshold:
        return "unlinked"
    return ("linked", *best)


def match_pages(
    engine: Engine, settings: Settings | None = None, progress: Progress | None = None
) -> MatchReport:
    """Index new sources, link every page not yet matched, and learn from the new links.

    ``progress(done, total)`` is called after every page.
    """
    settings = settings or Settings()
    thesaurus = Thesaurus.load()
    despinner = Despinner(thesaurus, load_substitutions(engine))
    report = MatchReport()
    started = time.perf_counter()
    report.indexed = index_sources(engine, despinner, settings)
    report.index_seconds = time.perf_counter() - started
    with Session(engine) as session:
        report.sources = (
            session.scalar(select(func.count()).select_from(_indexed_sources().subquery())) or 0
        )
        index = _load_index(session)
        stale = _stale_pages(report.sources)
        total = session.scalar(select(func.count()).select_from(stale.subquery())) or 0
    sources = _Sources(despinner)
    conflicts = 0
    started = time.perf_counter()
    while True:
        outcomes: Counter[str] = Counter()
        try:
            with Session(engine) as session, session.begin():
                batch = stale.order_by(Document.id).limit(settings.batch_size)
                if session.get_bind().dialect.name == "postgresql":
                    # Claim the batch: a concurrent run skips these pages and takes the next.
                    batch = batch.with_for_update(skip_locked=True, of=Document)
                pages = session.execute(batch).all()
                if not pages:
                    break
                for page_id, text in pages:
                    result = _match_one(session, text, index, sources, settings)
                    if isinstance(result, str):
                        outcome = result
                    else:
                        outcome, source_id, evidence = result
                        _store_link(session, page_id, source_id, evidence, despinner)
                    _record(session, page_id, report.sources, outcome)
                    outcomes[outcome] += 1
        except IntegrityError as exc:
            # Another match run stored some of these pages first; they are no longer stale.
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise DatabaseError(
                    f"matching keeps conflicting with another writer ({exc.orig})"
                ) from None
            logger.info("pages were matched concurrently by another run; continuing")
            continue
        conflicts = 0
        report.linked += outcomes["linked"]
        report.unlinked += outcomes["unlinked"]
        report.too_short += outcomes["too-short"]
        report.checked += len(pages)
        if progress is not None:
            progress(report.checked, total)
    report.match_seconds = time.perf_counter() - started
    report.learned_from = harvest(engine, thesaurus)
    return report
