"""The match stage: index new sources, link pages to the sources they copy, learn from links.

``match_pages`` is idempotent: a page checked against the current index (linked or not) is not
checked again, and a second run changes nothing. A new matcher version, or other settings a
verdict depends on (``match_threshold``, ...: :func:`check_version`), makes every page judged
again, and so does ``recheck``. New sources make every page a candidate again, but a page is
judged again only when one of the new sources is among its candidates (a page linked to one
source may copy a newly held one too); otherwise its verdict stands, so links do not drift as
rarity weights move. Steps:

1. **Index** every source not yet indexed (:mod:`spintrace.linking.index`): tokens, lemmas,
   content and skeleton shingles, a sketch in a new immutable index segment, and MinHash
   signatures of both shingle sets, all in one transaction (the signatures mark it indexed).
2. **Match** each stale page: de-spin it (confirmed learned substitutions undone, lemmas),
   take candidates from the containment index in both directions, align the page with each,
   and store one link per source that passes the rule of :mod:`spintrace.matcher.verdict`
   (page words credited to the source that explains them best); a page with no such link is
   tried for a paraphrase (:mod:`spintrace.matcher.paraphrase`). A re-checked page's links
   are replaced by the new verdict, so links of an older matcher are never mixed in.
3. **Order**: store who came first on every link that lacks it (:mod:`spintrace.linking.order`).
4. **Near-duplicates** (:mod:`spintrace.linking.duplicates`): sign new pages on their published
   text and find same-spin pairs on two sites for the pages signed or judged this run; band new
   sources' signatures and join near-duplicate sources into works.
5. **Learn**: harvest the substitutions of the new links (:mod:`spintrace.linking.substitutions`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from spintrace.config import Settings, setting_flag, verdict_settings
from spintrace.db.alerts import record_alerts
from spintrace.db.locks import match_run_lock
from spintrace.db.models import Document, Match, MatchCheck, utcnow
from spintrace.db.writes import claim, driver_message, retry_on_conflict
from spintrace.linking.duplicates import find_spin_pairs, group_works, sign_pages
from spintrace.linking.index import (
    SIGNATURE_KINDS,
    drop_index,
    index_sources,
    indexed_sources,
    load_rarity,
)
from spintrace.linking.judge import Judge
from spintrace.linking.order import order_links
from spintrace.linking.stored import load_index
from spintrace.linking.substitutions import harvest, load_substitutions
from spintrace.linking.workers import Job, judge_all, judge_pool
from spintrace.matcher.despin import Despinner
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import normalise_phrase
from spintrace.records import Evidence

__all__ = [
    "MATCHER_VERSION",
    "BatchOutcome",
    "MatchReport",
    "check_version",
    "evidence_json",
    "finish_run",
    "forget_checks",
    "judge_batch",
    "load_despinner",
    "match_pages",
    "rebuild_index",
    "stale_pages",
]

logger = logging.getLogger(__name__)

MATCHER_VERSION = "align-v4"

Progress = Callable[[int, int], None]


@dataclass
class MatchReport:
    """What a match run did."""

    sources: int = 0
    indexed: int = 0
    checked: int = 0
    linked: int = 0  # pages with at least one link
    links: int = 0  # (page, source) links stored: a page may copy several sources
    alerts: int = 0  # (page, source) pairs linked for the first time ever (the alert outbox)
    unchanged: int = 0  # pages checked again whose candidates hold no newer source
    newest_source: int = 0  # the highest id of an indexed source
    unlinked: int = 0
    too_short: int = 0
    learned_from: int = 0
    spin_pairs: int = 0  # same-spin page pairs found for the pages signed or judged this run
    works_joined: int = 0  # sources that joined a work of near-duplicate editions
    index_seconds: float = 0.0
    match_seconds: float = 0.0
    duplicates_seconds: float = 0.0

    def add(self, counts: Counter[str]) -> None:
        """Count a batch's outcomes (:attr:`BatchOutcome.counts`)."""
        self.linked += counts["linked"]
        self.links += counts["links"]
        self.alerts += counts["alerts"]
        self.unchanged += counts["unchanged"]
        self.unlinked += counts["unlinked"]
        self.too_short += counts["too-short"]

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


def check_version(settings: Settings) -> str:
    """What a page's check records as the matcher that judged it: :data:`MATCHER_VERSION`,
    followed by the verdict settings that are not the default (``align-v4 threshold=0.6``), so
    that a changed setting makes every page stale. At most 32 characters (the column's size):
    a longer list becomes a hash of it."""
    changed = verdict_settings(settings)
    if not changed:
        return MATCHER_VERSION
    parts = " ".join(
        f"{(setting_flag(name) or name).lstrip('-')}={value!r}" for name, value in changed.items()
    )
    version = f"{MATCHER_VERSION} {parts}"
    if len(version) > 32:
        version = f"{MATCHER_VERSION} #{hashlib.sha256(parts.encode()).hexdigest()[:16]}"
    return version


def stale_pages(newest_source: int, settings: Settings) -> Any:
    """A query of (id, text) of every page not judged against sources up to ``newest_source``
    by this matcher version with these verdict settings (:func:`check_version`)."""
    stale = or_(
        MatchCheck.page_id.is_(None),
        MatchCheck.matcher != check_version(settings),
        MatchCheck.last_source_id.is_(None),
        MatchCheck.last_source_id < newest_source,
    )
    return (
        select(Document.id, Document.text)
        .outerjoin(MatchCheck, MatchCheck.page_id == Document.id)
        .where(Document.role == "page", stale)
    )


def _record(
    session: Session,
    page_id: int,
    report: MatchReport,
    outcome: str,
    check: MatchCheck | None,
    version: str,
) -> None:
    check = check or MatchCheck(page_id=page_id)
    session.add(check)
    check.sources_seen = report.sources
    check.last_source_id = report.newest_source
    check.matcher = version
    check.outcome = outcome
    check.checked_at = utcnow()


def _store_links(
    session: Session,
    page_id: int,
    links: Sequence[tuple[int, Evidence]],
    despinner: Despinner,
    stored: dict[int, Match],
) -> list[tuple[int, int, dict[str, Any]]]:
    """Make the page's stored links (``stored``, by source) exactly ``links``; rows kept keep
    their harvest mark. Returns the new links, for the alert outbox."""
    wanted = {source_id for source_id, _ in links}
    gone = [m.id for source_id, m in stored.items() if source_id not in wanted]
    if gone:
        session.execute(delete(Match).where(Match.id.in_(gone)))
    for source_id, found in links:
        match = stored.get(source_id) or Match(page_id=page_id, source_id=source_id)
        session.add(match)
        match.score = found.score
        match.containment = found.containment
        match.coverage = found.coverage
        match.spin_rate = found.spin_rate
        match.basis = found.basis
        match.evidence = evidence_json(found, despinner)
        match.matcher = MATCHER_VERSION
        match.matched_at = utcnow()
    return [
        (page_id, source_id, _alert_fields(found))
        for source_id, found in links
        if source_id not in stored
    ]


def _alert_fields(found: Evidence) -> dict[str, Any]:
    return {
        "score": round(found.score, 4),
        "containment": round(found.containment, 4),
        "coverage": round(found.coverage, 4),
        "spin_rate": round(found.spin_rate, 4),
        "basis": found.basis,
        "matcher": MATCHER_VERSION,
    }


def load_despinner(engine: Engine) -> Despinner:
    """The de-spinner with the thesaurus and the confirmed learned substitutions."""
    return Despinner(Thesaurus.load(), load_substitutions(engine))


def forget_checks(engine: Engine) -> int:
    """Forget that any page was checked, so that the next match run judges every page again
    (``spintrace match --recheck``); returns how many checks were forgotten. Links stay until
    their page's new verdict replaces them, and a pair linked again raises no new alert."""
    with Session(engine) as session, session.begin():
        forgotten = session.scalar(select(func.count()).select_from(MatchCheck)) or 0
        session.execute(delete(MatchCheck))
    return forgotten


def rebuild_index(engine: Engine, settings: Settings | None = None) -> int:
    """Index every source afresh (after damage, or to apply new index settings); returns how
    many sources were indexed. Links and match checks are kept."""
    settings = settings or Settings()
    drop_index(engine)
    return index_sources(engine, load_despinner(engine), settings)


def match_pages(
    engine: Engine,
    settings: Settings | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    recheck: bool = False,
) -> MatchReport:
    """Index new sources, link every page not yet matched, and learn from the new links.

    One match run at a time (:func:`spintrace.db.locks.match_run_lock`): on PostgreSQL a
    second one waits for the first, and :class:`~spintrace.db.locks.MatchBusy` is raised
    while a queued run (``match --queue``) is waiting or going.

    ``progress(done, total)`` is called after every batch. With ``workers`` > 1, pages are
    judged in that many local processes and written by this one
    (:mod:`spintrace.linking.workers`); the links are the same. ``recheck`` judges every page
    again, checked or not (:func:`forget_checks`).
    """
    settings = settings or Settings()
    with match_run_lock(engine):
        return _match_pages(engine, settings, progress, workers, recheck)


def _match_pages(
    engine: Engine, settings: Settings, progress: Progress | None, workers: int, recheck: bool
) -> MatchReport:
    if recheck:
        forget_checks(engine)
    despinner = load_despinner(engine)
    thesaurus = despinner.thesaurus
    assert thesaurus is not None
    report = MatchReport()
    started = time.perf_counter()
    report.indexed = index_sources(engine, despinner, settings)
    report.index_seconds = time.perf_counter() - started
    with Session(engine) as session:
        indexed = indexed_sources().subquery()
        report.sources = session.scalar(select(func.count()).select_from(indexed)) or 0
        report.newest_source = session.scalar(select(func.max(indexed.c.document_id))) or 0
        index = load_index(session)
        stale = stale_pages(report.newest_source, settings)
        total = session.scalar(select(func.count()).select_from(stale.subquery())) or 0
    judge = Judge(engine, index, despinner, load_rarity(engine, despinner), settings)
    judged: set[int] = set()

    def batch(session: Session) -> tuple[int, Counter[str]] | None:
        query = claim(session, stale.order_by(Document.id).limit(settings.batch_size), Document)
        pages = session.execute(query).all()
        if not pages:
            return None
        outcomes = judge_batch(session, pages, judge, pool, report)
        judged.update(page_id for page_id, _ in pages if page_id in outcomes.judged)
        return len(pages), outcomes.counts

    started = time.perf_counter()
    with judge_pool(judge, workers if total else 1) as pool:
        # A batch lost to a concurrent run is read again: those pages are no longer stale.
        for checked, outcomes in retry_on_conflict(engine, batch, what="matching pages"):
            report.add(outcomes)
            report.checked += checked
            if progress is not None:
                progress(report.checked, total)
    report.match_seconds = time.perf_counter() - started
    finish_run(engine, settings, thesaurus, judged, report)
    return report


@dataclass
class BatchOutcome:
    """What :func:`judge_batch` did: counts by outcome (and ``links``, ``unchanged``), and the
    pages judged afresh (not left standing)."""

    counts: Counter[str]
    judged: set[int]


def judge_batch(
    session: Session,
    pages: Sequence[Any],
    judge: Judge,
    pool: Executor | None,
    report: MatchReport,
) -> BatchOutcome:
    """Judge ``pages`` (rows of id and text, claimed in ``session``'s transaction) and store
    their links and checks, recorded as checked against ``report``'s sources."""
    despinner = judge.despinner
    version = check_version(judge.settings)
    outcome = BatchOutcome(Counter(), set())
    ids = [page_id for page_id, _ in pages]
    stored: dict[int, dict[int, Match]] = {}
    for match in session.scalars(select(Match).where(Match.page_id.in_(ids))):
        stored.setdefault(match.page_id, {})[match.source_id] = match
    checks = {
        check.page_id: check
        for check in session.scalars(select(MatchCheck).where(MatchCheck.page_id.in_(ids)))
    }
    jobs: list[Job] = []
    for page_id, text in pages:
        check = checks.get(page_id)
        current = check is not None and check.matcher == version
        jobs.append((page_id, text, check.last_source_id if current and check else None))
    verdicts = judge_all(judge, pool, jobs)
    new_links: list[tuple[int, int, dict[str, Any]]] = []
    with session.no_autoflush:
        for (page_id, _, _), result in zip(jobs, verdicts, strict=True):
            check = checks.get(page_id)
            if result is None:  # no newer source among its candidates: the verdict stands
                assert check is not None
                verdict = check.outcome
                outcome.counts["unchanged"] += 1
            else:
                verdict, links = result
                outcome.judged.add(page_id)
                new_links += _store_links(
                    session, page_id, links, despinner, stored.get(page_id, {})
                )
                outcome.counts["links"] += len(links)
            _record(session, page_id, report, verdict, check, version)
            outcome.counts[verdict] += 1
    # In the links' transaction: an alert is raised exactly when its link is stored.
    outcome.counts["alerts"] += record_alerts(session, new_links)
    return outcome


def finish_run(
    engine: Engine,
    settings: Settings,
    thesaurus: Thesaurus,
    judged: set[int],
    report: MatchReport,
) -> None:
    """After a run's last batch: who came first, near-duplicates and learning (steps 3-5);
    ``judged``: the pages judged afresh this run."""
    order_links(engine)
    started = time.perf_counter()
    try:
        # Works first: pages that copy two editions of one story are compared as one work.
        report.works_joined = group_works(engine, SIGNATURE_KINDS[0])
        signed, report.spin_pairs = sign_pages(engine, settings, thesaurus)
        report.spin_pairs += find_spin_pairs(engine, judged.difference(signed), thesaurus)
    except Exception as exc:
        # The links are stored; pages not signed yet are searched by the next run.
        reason = driver_message(exc) if isinstance(exc, DBAPIError) else repr(exc)
        logger.warning("the near-duplicate search did not finish this run: %s", reason)
    report.duplicates_seconds = time.perf_counter() - started
    try:
        report.learned_from = harvest(engine, thesaurus)
    except Exception as exc:
        # Learning only helps later runs: the links are stored, and the matches stay unharvested
        # for the next run to try again. Failing here would stop every later match run too.
        reason = driver_message(exc) if isinstance(exc, DBAPIError) else repr(exc)
        logger.warning("substitutions not learned from the new links this run: %s", reason)
