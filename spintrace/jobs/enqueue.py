"""Queueing work instead of running it: ``crawl``, ``captures process`` and ``match --queue``."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONDict, JSONValue
from sqlalchemy import Engine

from spintrace.db.locks import MATCH_RUN_KEY, release_lock, take_lock
from spintrace.db.models import utcnow
from spintrace.db.urls import site_domain
from spintrace.errors import ConfigError
from spintrace.jobs.batches import (
    Intake,
    chunks,
    intake_before,
    pending_jobs,
    unprocessed_captures,
    waiting_crawl,
)
from spintrace.jobs.queue import open_app, require_postgresql
from spintrace.jobs.tasks import CAPTURE_BATCH, crawl_site, match_run, process_batch
from spintrace.jobs.watching import due_sites, watch_sellers, watch_site
from spintrace.linking.match import forget_checks
from spintrace.watch import WatchList
from spintrace.watch.store import save_watch_list

__all__ = [
    "QueuedCrawl",
    "enqueue_crawl",
    "enqueue_match",
    "enqueue_processing",
    "enqueue_watch",
    "unfinished_intake",
]


@dataclass(frozen=True)
class QueuedCrawl:
    """One site's crawl job: its id, or ``None`` when a crawl of the site was already queued."""

    site: str
    urls: tuple[str, ...]
    job_id: int | None


def enqueue_crawl(engine: Engine, urls: Sequence[str], **options: Any) -> list[QueuedCrawl]:
    """Queue one crawl job per site of ``urls`` (``options``: role, mode, max_pages, depth,
    follow, settings, extract). A site whose crawl is still waiting to start is not queued
    twice; a site is crawled by one job at a time (the job's lock, and the site's crawl
    lock)."""
    require_postgresql(engine)
    sites: dict[str, list[str]] = {}
    for url in urls:
        sites.setdefault(site_domain(url), []).append(url)
    since = utcnow().isoformat()
    queued = []
    with open_app(engine):
        for site, site_urls in sites.items():
            # A job lock, not a queueing lock: a stalled job's retry must never meet a newer
            # job of its site holding the lock's one 'todo' place (the sweep would fail).
            lock = f"crawl:{site}"
            job_id: int | None = None
            if not waiting_crawl(engine, lock):
                job_id = crawl_site.configure(lock=lock).defer(
                    urls=list[JSONValue](site_urls), since=since, **options
                )
            queued.append(QueuedCrawl(site, tuple(site_urls), job_id))
    return queued


def _ids(ids: list[int]) -> JSONDict:
    return {"ids": list[JSONValue](ids)}


def enqueue_processing(engine: Engine) -> tuple[int, int]:
    """Queue the extraction of every unprocessed capture; returns (captures, jobs)."""
    require_postgresql(engine)
    ids = unprocessed_captures(engine)
    parts = chunks(ids, CAPTURE_BATCH)
    with open_app(engine):
        if parts:
            process_batch.batch_defer(*(_ids(part) for part in parts))
    return len(ids), len(parts)


def enqueue_match(engine: Engine, *, recheck: bool = False) -> str:
    """Queue a match run; returns its id. One run at a time: :class:`ConfigError` while
    another is queued or running, or a match runs in a process (checked under the match-run
    lock, :func:`spintrace.db.locks.match_run_lock`, so two commands at once cannot both queue
    one). ``recheck`` forgets every page's check first, once the run may start."""
    require_postgresql(engine)
    with engine.connect() as guard:
        if not take_lock(guard, MATCH_RUN_KEY, wait=10.0):
            raise ConfigError(
                "a match is running in a process (`spintrace match` or a watch round), here "
                "or on another machine; queue the run when it ends"
            )
        try:
            with open_app(engine):
                busy = sum(pending_jobs(engine, task) for task in ("match_run", "match_batch"))
                if busy:
                    raise ConfigError(
                        "a match run is already queued or running; `spintrace jobs` shows "
                        "its progress"
                    )
                if recheck:
                    forget_checks(engine)
                run = uuid.uuid4().hex
                match_run.defer(run=run, stage="start", since=utcnow().isoformat())
        finally:
            release_lock(guard, MATCH_RUN_KEY)
    return run


def unfinished_intake(engine: Engine) -> Intake:
    """What a match run queued now waits for before it starts: every crawl job and capture
    batch still queued or running (:func:`spintrace.jobs.batches.intake_before`)."""
    return intake_before(engine, utcnow().isoformat())


def enqueue_watch(
    engine: Engine, name: str, watch: WatchList, crawl_settings: dict[str, Any]
) -> list[str]:
    """Store the watch list ``name`` and queue its due sites now; returns the sites queued
    (a site already waiting is not queued twice)."""
    require_postgresql(engine, "spintrace watch --queue")
    save_watch_list(engine, name, watch, crawl_settings)
    queued = []
    with open_app(engine):
        for list_name, site, has_sellers in due_sites(engine):
            if list_name != name:
                continue
            lock = f"watch:{name}:{site}"
            try:
                watch_site.configure(queueing_lock=lock, lock=lock).defer(name=name, site=site)
                queued.append(site)
            except AlreadyEnqueued:
                pass
            if has_sellers:
                with contextlib.suppress(AlreadyEnqueued):
                    watch_sellers.configure(queueing_lock=f"sellers:{name}").defer(name=name)
    return queued
