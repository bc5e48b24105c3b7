"""Crawl jobs: one site per job, crawled in a subprocess that holds the site's lock.

Twisted's reactor cannot restart in one process, so a worker runs each crawl as a child
process (as scrapyd does; :mod:`spintrace.jobs.child`): :func:`main` in a new Python reads the
job's options as JSON on stdin and prints its report as one JSON line on stdout. The child

- takes the crawl lock of the site (:func:`spintrace.db.locks.host_lock`, a PostgreSQL session
  advisory lock): when another process is crawling the site, it exits with
  :data:`EX_HOST_BUSY` and the job is tried again later. The server drops the lock when the
  child dies, however it dies, so a dead worker's crawl never blocks the site and a site is
  never crawled by two processes at once, even while a dead worker's job waits to be retried;
- dies with its worker: on Linux it asks the kernel for SIGKILL when its parent dies
  (``PR_SET_PDEATHSIG``), so a worker killed with SIGKILL leaves no orphan crawl behind; it
  runs in a session of its own, so a Ctrl-C meant for the worker (which then stops after the
  running job) does not cut the crawl short;
- says when it was cut short (a signal, Scrapy's "shutdown" finish): it exits with
  :data:`EX_INTERRUPTED` or dies by the signal, and the job raises :class:`CrawlInterrupted`,
  which is retried (a partial crawl is never recorded as a finished one);
- resumes: the crawl replays from the database every page of the site stored since the job
  was queued (:class:`spintrace.crawler.resume.ReplayMiddleware`), so a retried job fetches no
  stored page again and, walking the site from its start again, loses none.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from spintrace.db.locks import EX_HOST_BUSY, HostBusy, host_lock
from spintrace.jobs.child import exit_reason, run_child

__all__ = [
    "EX_HOST_BUSY",
    "EX_INTERRUPTED",
    "CrawlInterrupted",
    "CrawlJobError",
    "crawl_in_subprocess",
    "main",
]

# Signals that stop a process on purpose (the child then dies by it): the crawl was cut short,
# not broken. Any other death (a crash, the out-of-memory killer) fails the job.
_STOPPED = frozenset(-s for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
EX_INTERRUPTED = 86  # the crawl was stopped before its end (not EX_HOST_BUSY's 75): try again


class CrawlJobError(Exception):
    """A crawl job failed for a reason a retry would not remove (its message says which)."""


class CrawlInterrupted(Exception):
    """The crawl was stopped before its end (a signal, its process killed): a retry resumes it."""


async def crawl_in_subprocess(engine: Engine, options: dict[str, Any]) -> dict[str, Any]:
    """Run the crawl job ``options`` in a child process and return its report.

    :class:`HostBusy` when another process is crawling the site; :class:`CrawlInterrupted`
    when the crawl was stopped before its end; :class:`CrawlJobError` when it failed.
    Cancelling the coroutine kills the child.
    """
    payload = {"db_url": engine.url.render_as_string(hide_password=False), **options}
    code, result = await run_child("spintrace.jobs.crawl", payload)
    if code == EX_HOST_BUSY:
        raise HostBusy(str(result.get("host", options["urls"][0])))
    if code == EX_INTERRUPTED or code in _STOPPED:
        raise CrawlInterrupted(f"the crawl of {options['urls'][0]} was stopped before its end")
    if code != 0 or "error" in result:
        reason = result.get("error") or f"the crawl process {exit_reason(code)}"
        raise CrawlJobError(str(reason))
    return result


def _run(options: dict[str, Any]) -> dict[str, Any]:
    from spintrace.crawler import CrawlError, CrawlOptions, run_crawl
    from spintrace.db.engine import open_engine
    from spintrace.db.urls import site_domain

    urls = tuple(options["urls"])
    engine = open_engine(options["db_url"])
    try:
        with host_lock(engine, [site_domain(url) for url in urls]):
            crawl = CrawlOptions(
                urls=urls,
                db_url=options["db_url"],
                role=options["role"],
                mode=options.get("mode", "site"),
                max_pages=int(options.get("max_pages", 0)),
                depth=options.get("depth"),
                follow=bool(options.get("follow", False)),
                settings=dict(options.get("settings") or {}),
                resume_since=datetime.fromisoformat(options["since"]),
            )
            try:
                report = run_crawl(crawl)
            except CrawlError as exc:
                return {"error": str(exc)}
    finally:
        engine.dispose()
    data = asdict(report)
    data["skip_reasons"] = data["skip_reasons"][:20]
    return data


def main() -> None:
    """The child: options as JSON on stdin, the report as one JSON line on stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = json.load(sys.stdin)
    try:
        result = _run(options)
    except HostBusy as busy:
        print(json.dumps({"host": busy.host}), flush=True)
        sys.exit(EX_HOST_BUSY)
    print(json.dumps(result, default=str), flush=True)
    if "error" in result:
        sys.exit(1)
    sys.exit(EX_INTERRUPTED if result.get("finish_reason") == "shutdown" else 0)


if __name__ == "__main__":
    main()
