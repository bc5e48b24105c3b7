"""The match stage cut into steps that queued jobs run on any number of workers.

A queued match run (:mod:`spintrace.jobs`) is: index batches of new sources (any workers) ->
merge the segments -> judge batches of stale pages (any workers) -> finish (order, near-
duplicates, learning: one job, after the last batch). Every step is idempotent, so a job
delivered twice, or retried after its worker died, changes nothing the second time:

- an index batch claims its sources and skips those already indexed;
- a match batch claims its pages and skips those no longer stale (judged against the same
  sources by this matcher version);
- the finish step searches and learns from what is new since the run started.

The links are those of one ``spintrace match`` process: each page's verdict depends only on
the page, the index and the learned substitutions, and these are frozen for the run (learning
happens in the finish step, after the last batch; runs are queued one at a time).

A worker is long-lived: :class:`JudgeCache` keeps its :class:`~spintrace.linking.judge.Judge`
(index, rarity tables, de-spinner) loaded and builds it again only when the index segments or
the confirmed learned substitutions changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, Match, MatchCheck
from spintrace.db.writes import claim, retry_on_conflict
from spintrace.linking.index import (
    index_sources,
    indexed_sources,
    load_rarity,
    unindexed_sources,
)
from spintrace.linking.judge import Judge
from spintrace.linking.match import (
    MatchReport,
    finish_run,
    judge_batch,
    load_despinner,
    stale_pages,
)
from spintrace.linking.stored import load_index, segment_ids
from spintrace.linking.substitutions import learned_version

__all__ = [
    "JudgeCache",
    "RunSources",
    "finish",
    "index_batch",
    "judged_since",
    "match_batch",
    "run_sources",
    "stale_page_ids",
    "unindexed_source_ids",
]


@dataclass(frozen=True)
class RunSources:
    """The sources a run judges pages against: how many are indexed, and the newest's id."""

    sources: int
    newest_source: int


class JudgeCache:
    """One process's :class:`Judge`, kept between jobs and rebuilt only when what it holds
    changed (new or merged index segments, newly confirmed learned substitutions, other
    settings or database)."""

    def __init__(self) -> None:
        self._key: object = None
        self._judge: Judge | None = None
        self.loads = 0  # how many times the index was loaded (a worker's log says it)

    @staticmethod
    def _state(engine: Engine, settings: Settings) -> object:
        with Session(engine) as session:
            return (str(engine.url), segment_ids(session), learned_version(session), settings)

    def clear(self) -> None:
        """Forget the judge: before a step that changes what it holds (an index merge, the
        learning of a run's finish step) and needs the memory meanwhile."""
        self._judge = self._key = None

    def get(self, engine: Engine, settings: Settings) -> Judge:
        """The judge for the database's current index and substitutions."""
        state = self._state(engine, settings)  # before loading: a change meanwhile reloads
        if self._judge is None or state != self._key:
            # The old judge goes first: held while the new one loads, a worker would need
            # room for two indexes and two frequency tables.
            self._judge = self._key = None
            despinner = load_despinner(engine)
            rarity = load_rarity(engine, despinner)  # a recount stored here reloads once more
            with Session(engine) as session:
                index = load_index(session)
            self._judge = Judge(engine, index, despinner, rarity, settings)
            self._key = state
            self.loads += 1
        return self._judge


def unindexed_source_ids(engine: Engine) -> list[int]:
    """The ids of the sources not indexed yet, in id order."""
    with Session(engine) as session:
        return list(session.scalars(unindexed_sources()))


def index_batch(engine: Engine, ids: Sequence[int], settings: Settings) -> int:
    """Index those of ``ids`` not indexed yet (without merging segments); returns how many."""
    return index_sources(engine, load_despinner(engine), settings, ids=ids, compact=False)


def run_sources(engine: Engine) -> RunSources:
    """The indexed sources a run starting now judges pages against."""
    with Session(engine) as session:
        indexed = indexed_sources().subquery()
        count = session.scalar(select(func.count()).select_from(indexed)) or 0
        newest = session.scalar(select(func.max(indexed.c.document_id))) or 0
    return RunSources(count, newest)


def stale_page_ids(engine: Engine, sources: RunSources, settings: Settings) -> list[int]:
    """The ids of the pages not judged yet against ``sources`` by this matcher with these
    verdict settings, in id order."""
    stale = stale_pages(sources.newest_source, settings).subquery()
    with Session(engine) as session:
        return list(session.scalars(select(stale.c.id).order_by(stale.c.id)))


def match_batch(
    engine: Engine,
    ids: Sequence[int],
    sources: RunSources,
    settings: Settings,
    cache: JudgeCache,
) -> MatchReport:
    """Judge those of ``ids`` still stale against ``sources`` and store their links."""
    judge = cache.get(engine, settings)
    report = MatchReport(sources=sources.sources, newest_source=sources.newest_source)
    query = (
        stale_pages(sources.newest_source, settings)
        .where(Document.id.in_(ids))
        .order_by(Document.id)
    )

    def batch(session: Session) -> int | None:
        pages = session.execute(claim(session, query, Document)).all()
        if not pages:
            return None
        report.add(judge_batch(session, pages, judge, None, report).counts)
        return len(pages)

    started = time.perf_counter()
    report.checked = sum(retry_on_conflict(engine, batch, what="matching pages"))
    report.match_seconds = time.perf_counter() - started
    return report


def judged_since(engine: Engine, since: datetime) -> set[int]:
    """The pages whose verdict a run that started at ``since`` made anew, as one process
    counts them: those with links stored since then, and those checked since then that have
    no link (one that lost its every link drops its old same-spin pairs). A page checked again
    whose links stood is not among them."""
    unlinked = ~select(Match.id).where(Match.page_id == MatchCheck.page_id).exists()
    with Session(engine) as session:
        linked = session.scalars(select(Match.page_id).where(Match.matched_at >= since))
        lost = session.scalars(
            select(MatchCheck.page_id).where(MatchCheck.checked_at >= since, unlinked)
        )
        return set(linked) | set(lost)


def finish(engine: Engine, settings: Settings, since: datetime) -> MatchReport:
    """The end of a queued run that started at ``since``: who came first, near-duplicates and
    learning, for the links stored since then."""
    report = MatchReport()
    judged = judged_since(engine, since)
    thesaurus = load_despinner(engine).thesaurus
    assert thesaurus is not None
    finish_run(engine, settings, thesaurus, judged, report)
    return report
