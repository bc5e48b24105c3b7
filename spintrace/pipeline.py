"""Stage orchestration: signing, candidate retrieval and verified linking of pages to sources.

``match`` links every page not yet matched against the current sources. It is idempotent: a
page already checked against every source (linked or not) is not checked again, and running it
twice changes nothing. New sources make unlinked pages eligible again; links are never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, Match, MatchCheck, utcnow
from spintrace.db.models import Signature as SignatureRow
from spintrace.matcher import CandidateIndex, Signature, align, content_features, sign, tokenize
from spintrace.matcher.signatures import SCHEME
from spintrace.records import Evidence, Role

__all__ = ["MATCHER_VERSION", "SIGNATURE_KIND", "MatchReport", "ensure_signatures", "match_pages"]

logger = logging.getLogger(__name__)

# Bump when features or alignment change in a way that should re-check unlinked pages.
MATCHER_VERSION = "align-v1"
SIGNATURE_KIND = "content-v1"

Progress = Callable[[int, int], None]


@dataclass
class MatchReport:
    """What a match run did."""

    sources: int = 0
    signed: int = 0
    checked: int = 0
    linked: int = 0
    unlinked: int = 0
    too_short: int = 0


def _signature_filter(settings: Settings) -> list[Any]:
    return [
        SignatureRow.kind == SIGNATURE_KIND,
        SignatureRow.num_perm == settings.num_perm,
        SignatureRow.seed == settings.seed,
        SignatureRow.scheme == SCHEME,
    ]


def ensure_signatures(engine: Engine, role: Role, settings: Settings) -> int:
    """Sign every ``role`` document that has no signature with the current parameters.

    Returns how many were signed; documents already signed are not tokenised again.
    """
    signed = 0
    while True:
        with Session(engine) as session, session.begin():
            have = select(SignatureRow.document_id).where(*_signature_filter(settings))
            rows = session.execute(
                select(Document.id, Document.text)
                .where(Document.role == role, Document.id.not_in(have))
                .order_by(Document.id)
                .limit(settings.batch_size)
            ).all()
            if not rows:
                return signed
            for doc_id, text in rows:
                sig = sign(
                    content_features(tokenize(text), text),
                    num_perm=settings.num_perm,
                    seed=settings.seed,
                )
                session.add(
                    SignatureRow(
                        document_id=doc_id,
                        kind=SIGNATURE_KIND,
                        num_perm=sig.num_perm,
                        seed=sig.seed,
                        scheme=SCHEME,
                        set_size=sig.size,
                        hashvalues=sig.to_bytes(),
                    )
                )
            signed += len(rows)


def _load_signatures(
    session: Session, role: Role, settings: Settings, ids: list[int] | None = None
) -> Iterator[tuple[int, Signature]]:
    query = (
        select(SignatureRow.document_id, SignatureRow.set_size, SignatureRow.hashvalues)
        .join(Document, Document.id == SignatureRow.document_id)
        .where(Document.role == role, *_signature_filter(settings))
    )
    if ids is not None:
        query = query.where(SignatureRow.document_id.in_(ids))
    for doc_id, size, data in session.execute(query):
        yield (
            doc_id,
            Signature.from_bytes(data, size=size, num_perm=settings.num_perm, seed=settings.seed),
        )


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    """The evidence as plain JSON-ready data (as stored in ``matches.evidence``)."""
    return asdict(evidence)


def _stale_pages(max_source_id: int) -> Any:
    """Pages never checked, checked by another matcher, or unlinked and older than a source."""
    stale = or_(
        MatchCheck.page_id.is_(None),
        MatchCheck.matcher != MATCHER_VERSION,
        (MatchCheck.outcome != "linked") & (MatchCheck.max_source_id < max_source_id),
    )
    return (
        select(Document.id, Document.text)
        .outerjoin(MatchCheck, MatchCheck.page_id == Document.id)
        .where(Document.role == "page", stale)
    )


class _SourceTexts:
    """Source texts and tokens, loaded on first use and kept for the run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache: dict[int, tuple[str, list[Any]]] = {}

    def get(self, session: Session, source_id: int) -> tuple[str, list[Any]]:
        if source_id not in self.cache:
            text = session.scalar(select(Document.text).where(Document.id == source_id)) or ""
            self.cache[source_id] = (text, tokenize(text))
        return self.cache[source_id]


def _record(session: Session, page_id: int, max_source_id: int, outcome: str) -> None:
    check = session.get(MatchCheck, page_id)
    if check is None:
        check = MatchCheck(page_id=page_id)
        session.add(check)
    check.max_source_id = max_source_id
    check.matcher = MATCHER_VERSION
    check.outcome = outcome
    check.checked_at = utcnow()


def _store_link(session: Session, page_id: int, source_id: int, evidence: Evidence) -> None:
    match = session.scalar(
        select(Match).where(Match.page_id == page_id, Match.source_id == source_id)
    )
    if match is None:
        match = Match(page_id=page_id, source_id=source_id)
        session.add(match)
    match.score = evidence.score
    match.containment = evidence.containment
    match.coverage = evidence.coverage
    match.spin_rate = evidence.spin_rate
    match.evidence = evidence_json(evidence)
    match.matcher = MATCHER_VERSION
    match.matched_at = utcnow()


def match_pages(
    engine: Engine, settings: Settings | None = None, progress: Progress | None = None
) -> MatchReport:
    """Link every page not yet matched to the source it copies, if any.

    For each page: candidate sources from the LSH Ensemble (ranked by estimated containment),
    each verified by alignment; the best one scoring at least ``settings.match_threshold`` is
    stored with its evidence. ``progress(done, total)`` is called after every page.
    """
    settings = settings or Settings()
    report = MatchReport()
    report.signed = ensure_signatures(engine, "source", settings)
    report.signed += ensure_signatures(engine, "page", settings)
    with Session(engine) as session:
        max_source_id = session.scalar(
            select(func.max(Document.id)).where(Document.role == "source")
        )
        report.sources = session.scalar(select(func.count()).where(Document.role == "source")) or 0
        index = CandidateIndex(
            _load_signatures(session, "source", settings),
            threshold=settings.candidate_threshold,
        )
        stale = _stale_pages(max_source_id or 0)
        total = session.scalar(select(func.count()).select_from(stale.subquery())) or 0
    sources = _SourceTexts(engine)
    done = 0
    while True:
        with Session(engine) as session, session.begin():
            pages = session.execute(stale.order_by(Document.id).limit(settings.batch_size)).all()
            if not pages:
                break
            page_sigs = dict(_load_signatures(session, "page", settings, [p for p, _ in pages]))
            for page_id, text in pages:
                outcome = _match_one(session, page_id, text, page_sigs, index, sources, settings)
                setattr(
                    report,
                    outcome.replace("-", "_"),
                    getattr(report, outcome.replace("-", "_")) + 1,
                )
                _record(session, page_id, max_source_id or 0, outcome)
                report.checked += 1
                done += 1
                if progress is not None:
                    progress(done, total)
    return report


def _match_one(
    session: Session,
    page_id: int,
    text: str,
    page_sigs: dict[int, Signature],
    index: CandidateIndex,
    sources: _SourceTexts,
    settings: Settings,
) -> str:
    tokens = tokenize(text)
    if len(tokens) < settings.min_page_tokens:
        logger.info("page %d has %d tokens, under min_page_tokens", page_id, len(tokens))
        return "too-short"
    signature = page_sigs.get(page_id)
    if signature is None:  # imported while this run was matching
        signature = sign(
            content_features(tokens, text), num_perm=settings.num_perm, seed=settings.seed
        )
    best: tuple[int, Evidence] | None = None
    for source_id, _estimate in index.query(signature, limit=settings.max_candidates):
        source_text, source_tokens = sources.get(session, source_id)
        evidence = align(tokens, source_tokens, text, source_text)
        if best is None or evidence.score > best[1].score:
            best = (source_id, evidence)
    if best is None or best[1].score < settings.match_threshold:
        return "unlinked"
    _store_link(session, page_id, best[0], best[1])
    return "linked"
