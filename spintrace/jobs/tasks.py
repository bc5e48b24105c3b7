"""The tasks workers run, registered on every app by :func:`spintrace.jobs.queue.make_app`.

Delivery is at least once (a job whose worker died is run again), so every task's effect is
idempotent: a crawl replays what it stored (:mod:`spintrace.jobs.crawl`), and the processing,
indexing and matching steps skip what is done (:mod:`spintrace.linking.steps`). Tasks are
coroutines that run their blocking work in a thread, so the worker's heartbeat keeps beating.

A queued match run is driven by :func:`match_run`, one short job per stage that queues the next
one: ``start`` waits for the crawl jobs queued before the run and for capture batches, then
queues the index batches; ``indexed`` waits for them, merges the segments and
queues the match batches; ``matched`` waits for those and runs the finish step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from procrastinate import Blueprint, JobContext, RetryStrategy
from procrastinate.jobs import Job, Status
from procrastinate.retry import RetryDecision
from procrastinate.types import JSONDict, TimeDeltaParams
from sqlalchemy import Engine

from spintrace.config import Settings
from spintrace.db.locks import HostBusy
from spintrace.db.models import utcnow
from spintrace.ingest.captures import process_captures
from spintrace.jobs.batches import (
    chunks,
    failed_jobs_of,
    intake_before,
    pending_jobs,
    unprocessed_captures,
)
from spintrace.jobs.crawl import CrawlInterrupted, crawl_in_subprocess
from spintrace.jobs.merge import merge_in_subprocess
from spintrace.linking.steps import (
    JudgeCache,
    RunSources,
    finish,
    index_batch,
    match_batch,
    run_sources,
    stale_page_ids,
    unindexed_source_ids,
)
from spintrace.linking.stored import release_freed_memory

__all__ = ["STALLED_CRON", "RunStopped", "WorkerState", "blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint()

STALLED_CRON = "* * * * * */5"  # croniter's sixth field is seconds: every 5 s
CAPTURE_BATCH = 100
# Jobs small enough that two or more workers share a run evenly (a worker keeps its loaded
# index between jobs, so a small job costs little more than its work).
SOURCE_BATCH = 1000
PAGE_BATCH = 100
# How often a waiting match run looks at its batches again: every second in its first 10 s,
# then a tenth of its age, at most every 10 s (each look is a job row: a 16-minute wait adds
# about 120 rows, not 1,000). Worked out from the run's start, which every stage carries: a
# new job argument would break workers of an older release still running elsewhere.
WAIT_MAX = 10


def wait_before_look(since: str, now: datetime) -> TimeDeltaParams:
    """How long a match run queued at ``since`` (ISO time) waits at ``now`` before it looks at
    its batches again: 1 to :data:`WAIT_MAX` seconds."""
    age = (now - datetime.fromisoformat(since)).total_seconds()
    return {"seconds": int(min(max(age / 10, 1), WAIT_MAX))}


class RunStopped(Exception):
    """A queued match run cannot go on (a step it depends on failed for good)."""


# A database hiccup, or a worker dying mid-transaction, is worth a few more tries; a crawl
# whose host is busy (a crawl of it still running somewhere) waits as long as it takes.
RETRY = RetryStrategy(max_attempts=3, exponential_wait=2)
RETRY_HOST = RetryStrategy(wait=5, retry_exceptions={HostBusy})
# No cap: attempts count the busy-host ones too (a queued crawl may wait an hour behind a
# long one), and a crawl is interrupted only by a signal someone sent.
_RETRY_INTERRUPTED = RetryStrategy(wait=5, retry_exceptions={CrawlInterrupted})


class _CrawlRetry(RetryStrategy):
    """A crawl job: tried again as long as its host is busy, and when its crawl was cut short
    (a signal, the process killed: the retry resumes it); a crawl that failed (its start page
    unreachable, a bad option) fails at once."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, HostBusy):
            return RETRY_HOST.get_retry_decision(exception=exception, job=job)
        return _RETRY_INTERRUPTED.get_retry_decision(exception=exception, job=job)


RETRY_CRAWL = _CrawlRetry()


class _RetryUnlessStopped(RetryStrategy):
    """:data:`RETRY`, except for a run that cannot go on (no use trying again)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RunStopped):
            return None
        return super().get_retry_decision(exception=exception, job=job)


RETRY_RUN = _RetryUnlessStopped(max_attempts=3, exponential_wait=2)


@dataclass
class WorkerState:
    """What a worker keeps between jobs (procrastinate's ``additional_context``)."""

    engine: Engine
    settings: Settings
    stalled_after: float  # seconds without a heartbeat before a worker's jobs are retried
    cache: JudgeCache = field(default_factory=JudgeCache)


def _json(data: dict[str, Any]) -> JSONDict:
    """``data`` (made of JSON values) as procrastinate's job arguments."""
    return data


def _state(context: JobContext) -> WorkerState:
    state = context.additional_context["spintrace"]
    assert isinstance(state, WorkerState)
    return state


@blueprint.task(name="crawl_site", queue="crawl", pass_context=True, retry=RETRY_CRAWL)
async def crawl_site(context: JobContext, /, **options: Any) -> dict[str, Any]:
    """Crawl one site in a subprocess holding the site's lock; queue the extraction of what
    it stored."""
    state = _state(context)
    report = await crawl_in_subprocess(state.engine, options)
    if options.get("extract", True):
        since = datetime.fromisoformat(options["since"])
        ids = await asyncio.to_thread(
            unprocessed_captures, state.engine, since, options["urls"], options["role"]
        )
        if ids:
            await process_batch.batch_defer_async(
                *(_json({"ids": part}) for part in chunks(ids, CAPTURE_BATCH))
            )
        report["queued_for_extraction"] = len(ids)
    return report


@blueprint.task(name="process_batch", queue="process", pass_context=True, retry=RETRY)
async def process_batch(context: JobContext, ids: list[int]) -> dict[str, int]:
    """Extract documents from the captures ``ids`` not processed yet."""
    state = _state(context)
    report = await asyncio.to_thread(process_captures, state.engine, state.settings, ids=ids)
    return {
        "new": report.documents_new,
        "unchanged": report.documents_unchanged,
        "errors": len(report.errors),
    }


@blueprint.task(name="index_batch", queue="index", pass_context=True, retry=RETRY)
async def index_sources_batch(context: JobContext, run: str, ids: list[int]) -> int:
    """Index the sources ``ids`` not indexed yet (one new index segment)."""
    state = _state(context)
    return await asyncio.to_thread(index_batch, state.engine, ids, state.settings)


@blueprint.task(name="match_batch", queue="match", pass_context=True, retry=RETRY)
async def match_pages_batch(
    context: JobContext, run: str, ids: list[int], sources: int, newest_source: int
) -> dict[str, int]:
    """Judge the pages ``ids`` still stale against the run's sources; store their links."""
    state = _state(context)
    report = await asyncio.to_thread(
        match_batch,
        state.engine,
        ids,
        RunSources(sources, newest_source),
        state.settings,
        state.cache,
    )
    return {"checked": report.checked, "linked": report.linked, "links": report.links}


async def _queue(task: Any, parts: list[JSONDict], run: str, then: str, since: str) -> None:
    """Queue the batch jobs ``parts`` of ``task``, then the run's next stage ``then``."""
    if parts:
        await task.batch_defer_async(*parts)
    await match_run.defer_async(run=run, stage=then, since=since)


async def _waiting(busy: Callable[[], object], run: str, stage: str, since: str) -> bool:
    """Whether ``busy()`` finds jobs the run's ``stage`` waits for; if so, the stage is
    queued to look again in a moment (a waiting run holds no worker)."""
    if not await asyncio.to_thread(busy):
        return False
    wait = wait_before_look(since, utcnow())
    await match_run.configure(schedule_in=wait).defer_async(run=run, stage=stage, since=since)
    return True


@blueprint.task(name="match_run", queue="match", pass_context=True, retry=RETRY_RUN)
async def match_run(context: JobContext, run: str, stage: str, since: str) -> str:
    """One stage of a queued match run (see the module docstring); returns what it did."""
    state = _state(context)
    engine = state.engine
    if stage == "start":
        # The crawls queued before the run, and the extraction of what they stored, first:
        # started now, the run would match what they bring against no source, or not at all.
        if await _waiting(partial(intake_before, engine, since), run, stage, since):
            return "waiting for the crawls queued before the run"
        ids = await asyncio.to_thread(unindexed_source_ids, engine)
        parts = [_json({"run": run, "ids": part}) for part in chunks(ids, SOURCE_BATCH)]
        await _queue(index_sources_batch, parts, run, "indexed", since)
        return f"{len(ids)} sources to index in {len(parts)} batches"
    if stage == "indexed":
        if await _waiting(partial(pending_jobs, engine, "index_batch", run), run, stage, since):
            return "waiting for the index batches"
        failed = await asyncio.to_thread(failed_jobs_of, engine, "index_batch", run)
        if failed:
            # Matching now would record pages as checked against sources that are not
            # indexed, and they would never be compared with them: stop the run instead.
            raise RunStopped(
                f"{failed} index batches of match run {run} failed (see the workers' logs); "
                "queue `spintrace match --queue` again"
            )
        state.cache.clear()  # the merge replaces the segments this worker's judge holds
        release_freed_memory()  # what indexing left: the merge child needs the room
        # In a child process: the merge's gigabyte (at 1M sources) goes back whole.
        await merge_in_subprocess(engine)
        sources = await asyncio.to_thread(run_sources, engine)
        ids = await asyncio.to_thread(stale_page_ids, engine, sources, state.settings)
        size = min(PAGE_BATCH, state.settings.batch_size)
        parts = [
            _json(
                {
                    "run": run,
                    "ids": part,
                    "sources": sources.sources,
                    "newest_source": sources.newest_source,
                }
            )
            for part in chunks(ids, size)
        ]
        await _queue(match_pages_batch, parts, run, "matched", since)
        return f"{len(ids)} pages to match in {len(parts)} batches"
    if stage == "matched":
        if await _waiting(partial(pending_jobs, engine, "match_batch", run), run, stage, since):
            return "waiting for the match batches"
        state.cache.clear()  # learning changes what the judge holds: the memory is needed now
        release_freed_memory()
        report = await asyncio.to_thread(
            finish, engine, state.settings, datetime.fromisoformat(since)
        )
        release_freed_memory()
        return (
            f"finished: {report.spin_pairs} same-spin pairs, {report.works_joined} sources "
            f"joined works, learned from {report.learned_from} links"
        )
    raise ValueError(f"unknown match run stage {stage!r}")


# One sweep waits in the queue at a time: while every worker is busy with a long job, the
# periodic deferrer must not pile sweeps up (seen: 54 waiting behind a 3-minute job).
@blueprint.periodic(cron=STALLED_CRON, periodic_id="stalled")
@blueprint.task(
    name="retry_stalled", queue="maintenance", pass_context=True, queueing_lock="retry_stalled"
)
async def retry_stalled(context: JobContext, timestamp: int) -> int:
    """Queue again the jobs of workers that stopped beating (killed, machine lost), and
    forget the queue's own finished upkeep jobs after an hour."""
    state = _state(context)
    manager = context.app.job_manager
    await manager.delete_old_jobs(nb_hours=1, queue="maintenance")
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=state.stalled_after)
    count = 0
    for job in stalled:
        if job.id == context.job.id:
            continue
        if job.task_name.endswith("retry_stalled"):
            continue  # the next sweep comes anyway; requeueing it could meet its queueing lock
        if job.queueing_lock and await manager.list_jobs_async(
            queueing_lock=job.queueing_lock, status="todo"
        ):
            # A newer job waits to do the same work (a watch round queued again while this
            # one was stalled): requeueing this one would break the queueing lock, and
            # leaving it 'doing' would hold its job lock against the newer one for good.
            try:
                await manager.finish_job(job, status=Status.ABORTED, delete_job=False)
            except Exception as exc:  # another sweep got there first
                logger.info("job %s (%s) not aborted: %s", job.id, job.task_name, exc)
                continue
            logger.warning(
                "job %s (%s) lost its worker; a newer job waits to do its work: aborted",
                job.id,
                job.task_name,
            )
            continue
        try:
            await manager.retry_job(job)
        except Exception as exc:  # one job that cannot be requeued must not stop the sweep
            logger.warning(
                "job %s (%s) lost its worker and could not be queued again: %s",
                job.id,
                job.task_name,
                exc,
            )
            continue
        logger.warning("job %s (%s) lost its worker: queued again", job.id, job.task_name)
        count += 1
    return count
