"""Watch rounds as jobs (PostgreSQL): any number of workers on any machines share the sites.

``spintrace watch FILE --queue`` stores the watch list in the database
(:mod:`spintrace.watch.store`) and queues a ``watch_site`` job for each site that is due; every
worker runs :func:`watch_tick` once a minute, which queues the sites that have come due since
and the list's sellers.json files. A queueing lock per (list, site) keeps one job of a site
waiting at a time, and a job lock one running, so a site is never checked twice at once; a
round's steps skip what is done (:mod:`spintrace.watch.rounds`), so a job run again after its
worker died repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from procrastinate import Blueprint, JobContext
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import Engine

from spintrace.db.models import utcnow
from spintrace.jobs.tasks import RETRY, WorkerState
from spintrace.watch import WatchList, due_targets, run_round
from spintrace.watch.rounds import RoundReport, load_sellers
from spintrace.watch.store import stored_watch_lists

__all__ = ["TICK_CRON", "due_sites", "watch_blueprint", "watch_sellers", "watch_site"]

logger = logging.getLogger(__name__)

watch_blueprint = Blueprint()
TICK_CRON = "* * * * *"  # every minute


def _state(context: JobContext) -> WorkerState:
    state = context.additional_context["spintrace"]
    assert isinstance(state, WorkerState)
    return state


def _report(report: RoundReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "failed": report.failed,
        "pages_new": report.pages_new,
        "alerts": report.alerts,
        "matching_left_to_queued_run": report.matching_left_to_queued_run,
        "delivered": report.delivered,
    }


@watch_blueprint.task(name="watch_site", queue="watch", pass_context=True, retry=RETRY)
async def watch_site(context: JobContext, name: str, site: str) -> dict[str, Any]:
    """One round for one site of the stored watch list ``name`` (if it is still due)."""
    state = _state(context)
    lists = await asyncio.to_thread(stored_watch_lists, state.engine)
    if name not in lists:
        return {"skipped": f"no watch list {name!r}"}
    watch, crawl_settings = lists[name]
    targets = tuple(t for t in watch.targets if t.site == site)
    if not targets:
        return {"skipped": f"{site} is no longer on the watch list {name!r}"}
    one = WatchList(targets, watch.alerts, ())
    report = await asyncio.to_thread(
        run_round, state.engine, one, settings=state.settings, crawl_settings=crawl_settings
    )
    return _report(report)


@watch_blueprint.task(name="watch_sellers", queue="watch", pass_context=True, retry=RETRY)
async def watch_sellers(context: JobContext, name: str) -> int:
    """Load the sellers.json files of the stored watch list ``name`` that changed."""
    state = _state(context)
    lists = await asyncio.to_thread(stored_watch_lists, state.engine)
    if name not in lists:
        return 0
    report = RoundReport()
    await asyncio.to_thread(load_sellers, state.engine, lists[name][0], report)
    return report.sellers


def due_sites(engine: Engine) -> list[tuple[str, str, bool]]:
    """(list name, site, list has sellers) of every site that is due."""
    now = utcnow()
    return [
        (name, target.site, bool(watch.sellers))
        for name, (watch, _) in stored_watch_lists(engine).items()
        for target in due_targets(engine, watch, now)
    ]


async def _queue_due(engine: Engine) -> list[str]:
    queued = []
    sellers_done: set[str] = set()
    for name, site, has_sellers in await asyncio.to_thread(due_sites, engine):
        lock = f"watch:{name}:{site}"
        try:
            await watch_site.configure(queueing_lock=lock, lock=lock).defer_async(
                name=name, site=site
            )
            queued.append(site)
        except AlreadyEnqueued:
            pass
        if has_sellers and name not in sellers_done:
            sellers_done.add(name)
            with contextlib.suppress(AlreadyEnqueued):
                await watch_sellers.configure(queueing_lock=f"sellers:{name}").defer_async(
                    name=name
                )
    return queued


@watch_blueprint.periodic(cron=TICK_CRON, periodic_id="watch")
@watch_blueprint.task(
    name="watch_tick", queue="maintenance", pass_context=True, queueing_lock="watch_tick"
)
async def watch_tick(context: JobContext, timestamp: int) -> int:
    """Queue a round for every site of every stored watch list that has come due."""
    return len(await _queue_due(_state(context).engine))
