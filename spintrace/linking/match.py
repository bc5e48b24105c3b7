"""The match stage: index new sources, link pages to the sources they copy, learn from links.

``match_pages`` is idempotent: a page checked against the current index (linked or not) is not
checked again, and a second run changes nothing. New sources make unlinked pages eligible
again; a stored link is never dropped. Steps:

1. **Index** every source not yet indexed (:mod:`spintrace.linking.index`): tokens, lemmas,
   content and skeleton shingles, a sketch in a new immutable index segment, and MinHash
   signatures of both shingle sets, all in one transaction (the signatures mark it indexed).
2. **Match** each stale page: de-spin it (confirmed learned substitutions undone, lemmas),
   query the containment index, align the page with each candidate, keep the best at or above
   ``match_threshold`` with its evidence.
3. **Order**: store who came first on every link that lacks it (:mod:`spintrace.linking.order`).
4. **Learn**: harvest the substitutions of the new links (:mod:`spintrace.linking.substitutions`).
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, DocumentTokens, Match, MatchCheck, utcnow
from spintrace.db.writes import claim, driver_message, retry_on_conflict
from spintrace.errors import DatabaseError
from spintrace.linking.index import (
    TOKENS_KIND,
    drop_index,
    index_sources,
    indexed_sources,
    load_index,
    text_tokens_and_features,
)
from spintrace.linking.order import order_links
from spintrace.linking.substitutions import harvest, load_substitutions
from spintrace.matcher.align import Bigrams, align, bigram_starts
from spintrace.matcher.despin import Despinner
from spintrace.matcher.index import ContainmentIndex
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import TokenTable, normalise_phrase, tokenize
from spintrace.records import Evidence

__all__ = ["MATCHER_VERSION", "MatchReport", "evidence_json", "match_pages", "rebuild_index"]

logger = logging.getLogger(__name__)

MATCHER_VERSION = "align-v3"

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
                try:
                    table = TokenTable.from_bytes(data)
                except (ValueError, struct.error, UnicodeDecodeError) as exc:
                    raise DatabaseError(
                        f"the stored tokens of source {source_id} are damaged ({exc}); "
                        "run `spintrace index rebuild`"
                    ) from None
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
    tokens, features = text_tokens_and_features(despinner, text, source=False)
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


def _despinner(engine: Engine) -> Despinner:
    return Despinner(Thesaurus.load(), load_substitutions(engine))


def rebuild_index(engine: Engine, settings: Settings | None = None) -> int:
    """Index every source afresh (after damage, or to apply new index settings); returns how
    many sources were indexed. Links and match checks are kept."""
    settings = settings or Settings()
    drop_index(engine)
    return index_sources(engine, _despinner(engine), settings)


def match_pages(
    engine: Engine, settings: Settings | None = None, progress: Progress | None = None
) -> MatchReport:
    """Index new sources, link every page not yet matched, and learn from the new links.

    ``progress(done, total)`` is called after every page.
    """
    settings = settings or Settings()
    despinner = _despinner(engine)
    thesaurus = despinner.thesaurus
    assert thesaurus is not None
    report = MatchReport()
    started = time.perf_counter()
    report.indexed = index_sources(engine, despinner, settings)
    report.index_seconds = time.perf_counter() - started
    with Session(engine) as session:
        report.sources = (
            session.scalar(select(func.count()).select_from(indexed_sources().subquery())) or 0
        )
        index = load_index(session)
        stale = _stale_pages(report.sources)
        total = session.scalar(select(func.count()).select_from(stale.subquery())) or 0
    sources = _Sources(despinner)

    def batch(session: Session) -> tuple[int, Counter[str]] | None:
        query = claim(session, stale.order_by(Document.id).limit(settings.batch_size), Document)
        pages = session.execute(query).all()
        if not pages:
            return None
        outcomes: Counter[str] = Counter()
        for page_id, text in pages:
            result = _match_one(session, text, index, sources, settings)
            if isinstance(result, str):
                outcome = result
            else:
                outcome, source_id, evidence = result
                _store_link(session, page_id, source_id, evidence, despinner)
            _record(session, page_id, report.sources, outcome)
            outcomes[outcome] += 1
        return len(pages), outcomes

    started = time.perf_counter()
    # A batch lost to a concurrent run is read again: those pages are no longer stale.
    for checked, outcomes in retry_on_conflict(engine, batch, what="matching pages"):
        report.linked += outcomes["linked"]
        report.unlinked += outcomes["unlinked"]
        report.too_short += outcomes["too-short"]
        report.checked += checked
        if progress is not None:
            progress(report.checked, total)
    report.match_seconds = time.perf_counter() - started
    order_links(engine)
    try:
        report.learned_from = harvest(engine, thesaurus)
    except Exception as exc:
        # Learning only helps later runs: the links are stored, and the matches stay unharvested
        # for the next run to try again. Failing here would stop every later match run too.
        reason = driver_message(exc) if isinstance(exc, DBAPIError) else repr(exc)
        logger.warning("substitutions not learned from the new links this run: %s", reason)
    return report
