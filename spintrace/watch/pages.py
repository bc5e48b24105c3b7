"""Step 2 of a watch round: fetch the entries that are due, with the Scrapy crawler.

An entry is due when it was never fetched, when its list gives a change date later than its
last fetch, or when it failed and its back-off has passed (at most :data:`MAX_ENTRY_FAILURES`
failures in a row; a later change date clears them). The crawler runs in list mode in a child
process (a Twisted reactor runs once per process, and a watch keeps going for many rounds),
a known page conditionally with its capture's ``ETag`` and ``Last-Modified``. Afterwards an
entry the crawl answered is marked fetched, one it failed on backs off, and one it never
reached (a crawl stopped early, a site another process is crawling) stays due, uncounted.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from spintrace.crawler.child import child_command, die_with_parent, last_json_line
from spintrace.db.locks import EX_HOST_BUSY
from spintrace.db.models import Capture
from spintrace.db.urls import canonical_url, url_key
from spintrace.db.watch import WatchResource
from spintrace.records import Role
from spintrace.watch.fetch import backoff

__all__ = ["MAX_ENTRY_FAILURES", "Fetched", "due_entries", "fetch_pages"]

logger = logging.getLogger(__name__)

MAX_ENTRY_FAILURES = 5
MAX_FETCHES_PER_ROUND = 2000
ENTRY_BACKOFF_CAP_SECONDS = 6 * 3600.0


@dataclass
class Fetched:
    """What step 2 did."""

    due: int = 0
    new: int = 0
    not_modified: int = 0
    failed: int = 0
    busy: int = 0


def due_entries(engine: Engine, sites: Sequence[str], role: Role, now: datetime) -> list[str]:
    """The URLs of ``sites``' entries to fetch now, oldest entered first."""
    with Session(engine) as session:
        rows = session.execute(
            select(WatchResource.url, WatchResource.checked_at, WatchResource.lastmod)
            .where(
                WatchResource.kind == "entry",
                WatchResource.role == role,
                WatchResource.site.in_(sites),
                WatchResource.failures < MAX_ENTRY_FAILURES,
                or_(WatchResource.retry_at.is_(None), WatchResource.retry_at <= now),
            )
            .order_by(WatchResource.id)
        ).all()
    return [
        url
        for url, checked_at, lastmod in rows
        if checked_at is None or (lastmod is not None and lastmod > checked_at)
    ][:MAX_FETCHES_PER_ROUND]


def _validators(engine: Engine, urls: Sequence[str], role: Role) -> dict[str, dict[str, str]]:
    """The conditional headers of each URL that has a capture (its latest one's validators)."""
    out: dict[str, dict[str, str]] = {}
    with Session(engine) as session:
        for url in urls:
            headers = session.scalar(
                select(Capture.headers)
                .where(Capture.url_key == url_key(url), Capture.role == role)
                .order_by(Capture.fetched_at.desc())
                .limit(1)
            )
            if not isinstance(headers, dict):
                continue
            lower = {str(k).lower(): str(v) for k, v in headers.items()}
            wanted = {}
            if "etag" in lower:
                wanted["If-None-Match"] = lower["etag"]
            if "last-modified" in lower:
                wanted["If-Modified-Since"] = lower["last-modified"]
            if wanted:
                out[url] = wanted
    return out


def _crawl(
    db_url: str, urls: list[str], role: Role, validators: dict[str, dict[str, str]],
    settings: dict[str, Any], now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Fetch ``urls`` with the crawler in list mode, in a child process. ``{"busy": host}``
    when another process holds a site's crawl lock."""
    options = {
        "db_url": db_url, "urls": urls, "role": role, "mode": "list", "since": now.isoformat(),
        "settings": {**settings, "SPINTRACE_CONDITIONAL": validators},
    }  # fmt: skip
    child = subprocess.run(
        child_command("spintrace.jobs.crawl"),
        input=json.dumps(options).encode(),
        capture_output=True,
        check=False,
        preexec_fn=die_with_parent(),  # a killed worker leaves no orphan crawl
        start_new_session=True,  # a Ctrl-C meant for a worker does not cut its crawl short
    )
    result = last_json_line(child.stdout)
    if child.returncode == EX_HOST_BUSY:
        return {"busy": result.get("host") or "a site"}
    if child.returncode != 0 and "failed_urls" not in result:
        reason = result.get("error") or child.stderr.decode("utf-8", "replace")[-300:].strip()
        # Every URL failed (a CrawlError) or the child died: each entry counts one failure.
        result = {"failed_urls": dict.fromkeys(urls, reason or "the crawl failed")}
    return result


def fetch_pages(
    engine: Engine, db_url: str, sites: Sequence[str], settings: dict[str, Any], now: datetime
) -> Fetched:
    """Fetch every due entry of ``sites``, then mark what the crawl answered."""
    done = Fetched()
    roles: tuple[Role, ...] = ("source", "page")
    for role in roles:
        urls = due_entries(engine, sites, role, now)
        if not urls:
            continue
        done.due += len(urls)
        result = _crawl(db_url, urls, role, _validators(engine, urls, role), settings, now)
        if "busy" in result:
            logger.warning("watch: %s is being crawled by another process; later", result["busy"])
            done.busy += len(urls)
            continue
        failed = {canonical_url(u): str(why) for u, why in result.get("failed_urls", {}).items()}
        answered = {canonical_url(u) for u in result.get("answered_urls", [])}
        finished = result.get("finish_reason") == "finished"
        done.new += int(result.get("new", 0))
        done.not_modified += int(result.get("not_modified", 0))
        done.failed += len(failed)
        with Session(engine) as session, session.begin():
            rows = session.scalars(
                select(WatchResource).where(
                    WatchResource.kind == "entry", WatchResource.url.in_(urls)
                )
            ).all()
            for row in rows:
                if row.url in answered and row.url not in failed:
                    row.checked_at, row.failures, row.error, row.retry_at = now, 0, None, None
                    continue
                if row.url not in failed and not finished:
                    continue  # never reached: the crawl stopped early; due next round
                row.failures = (row.failures or 0) + 1
                row.error = failed.get(row.url, "no answer from the crawl")[:500]
                row.retry_at = now + backoff(row.failures, ENTRY_BACKOFF_CAP_SECONDS)
    return done
