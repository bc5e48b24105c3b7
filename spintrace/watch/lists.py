"""Step 1 of a watch round: check a target's lists and enter the article URLs they name.

A target's lists are its home page, feeds and sitemaps, and the child sitemaps its sitemap
indexes name (remembered, so an index answering ``304`` still has its children checked). Each
is fetched conditionally with the validators of its last good answer; the network is used
before any database transaction opens, and a list's new validators are stored only with the
entries read from its body, in one transaction. A list that fails (refused, an error status,
robots.txt, a hostile or unreadable body) is logged and backs off
(:func:`spintrace.watch.fetch.backoff`, at most the target's interval); the others go on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.crawler.discovery import dated_entries, sniff
from spintrace.db.models import Capture
from spintrace.db.urls import canonical_url, site_domain, url_key
from spintrace.db.watch import WatchResource
from spintrace.watch.config import Target
from spintrace.watch.fetch import Answer, FetchFailed, Robots, backoff, fetch, gunzipped

__all__ = ["CHILD_KIND", "LIST_KINDS", "Checked", "discover", "target_lists"]

logger = logging.getLogger(__name__)

MAX_ENTRIES_PER_LIST = 50_000  # the sitemaps protocol's own limit
MAX_CHILD_SITEMAPS = 50
MAX_HOME_LINKS = 2000
CHILD_KIND = "child-sitemap"
LIST_KINDS = ("home", "feed", "sitemap")


@dataclass
class Checked:
    """What checking one target's lists gave."""

    fetched: int = 0
    not_modified: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[str, datetime | None]] = field(default_factory=list)


def target_lists(target: Target) -> list[tuple[str, str]]:
    """The ``(kind, url)`` lists the watch file gives for ``target``."""
    return [
        *(("home", target.home) for _ in [0] if target.home),
        *(("feed", url) for url in target.feeds),
        *(("sitemap", url) for url in target.sitemaps),
    ]


def _page_links(body: bytes, base: str) -> list[str]:
    import lxml.html  # type: ignore[import-untyped,unused-ignore]

    try:
        root = lxml.html.fromstring(body[:3_000_000])
    except (ValueError, lxml.etree.ParserError):
        return []
    links = []
    for href in root.xpath("//a/@href")[:MAX_HOME_LINKS]:
        try:
            links.append(urljoin(base, str(href)))
        except ValueError:  # a hostile link: "http://[::1"
            continue
    return links


def _read_list(
    kind: str, url: str, answer: Answer
) -> tuple[list[tuple[str, datetime | None]], list[str]]:
    """A changed list's entries and, for a sitemap index, its child sitemaps."""
    body = gunzipped(answer.body)
    if kind == "home":
        return [(link, None) for link in _page_links(body, url)], []
    found = sniff(body, answer.content_type)
    if found not in ("feed", "sitemap", "sitemap-index"):
        raise FetchFailed("not a feed or sitemap")
    entries = dated_entries(body, url)
    if found == "sitemap-index":
        return [], [entry for entry, _ in entries]
    return entries[:MAX_ENTRIES_PER_LIST], []


def discover(engine: Engine, target: Target, robots: Robots, now: datetime) -> Checked:
    """Check ``target``'s lists (network first), then store their state and entries in one
    transaction; a list that failed is in ``errors``."""
    with Session(engine) as session:
        rows = session.scalars(
            select(WatchResource).where(
                WatchResource.site == target.site,
                WatchResource.kind.in_((*LIST_KINDS, CHILD_KIND)),
            )
        ).all()
        known = {row.url: (row.etag, row.last_modified) for row in rows}
        children = [row.url for row in rows if row.kind == CHILD_KIND][:MAX_CHILD_SITEMAPS]
    queue = deque([*target_lists(target), *((CHILD_KIND, url) for url in children)])
    seen: set[str] = set()
    outcomes: list[tuple[str, str, Answer | str]] = []
    checked = Checked()
    while queue:
        kind, url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        try:
            if not robots.allowed(url):
                raise FetchFailed("robots.txt disallows it")
            answer = fetch(url, *known.get(url, (None, None)), hosts=robots.hosts)
            if not answer.not_modified:
                entries, child_sitemaps = _read_list(kind, url, answer)
                checked.entries += entries
                new = [u for u in child_sitemaps if u not in seen][:MAX_CHILD_SITEMAPS]
                queue.extend((CHILD_KIND, u) for u in new)
        except FetchFailed as exc:
            outcomes.append((kind, url, str(exc)))
            continue
        except Exception as exc:  # a hostile body no parser should meet; the round goes on
            logger.exception("watch: %s could not be read", url)
            outcomes.append((kind, url, f"unreadable ({type(exc).__name__})"))
            continue
        outcomes.append((kind, url, answer))
    with Session(engine) as session, session.begin():
        for kind, url, outcome in outcomes:
            row = _resource(session, kind, url, target)
            if isinstance(outcome, str):
                _failed(row, outcome, now, target.every)
                if kind != CHILD_KIND:
                    checked.errors[url] = outcome
                logger.warning("watch: %s skipped: %s", url, outcome)
                continue
            row.status, row.checked_at, row.error = outcome.status, now, None
            row.failures, row.retry_at = 0, None
            if outcome.not_modified:
                checked.not_modified += 1
            else:
                checked.fetched += 1
                row.etag, row.last_modified = outcome.etag, outcome.last_modified
                row.changed_at = now
        store_entries(session, target, checked.entries, now)
    return checked


def _failed(row: WatchResource, error: str, now: datetime, cap_seconds: float) -> None:
    row.failures = (row.failures or 0) + 1
    row.error, row.checked_at = error[:500], now
    row.retry_at = now + backoff(row.failures, cap_seconds)


def _resource(session: Session, kind: str, url: str, target: Target) -> WatchResource:
    row = session.scalar(
        select(WatchResource).where(WatchResource.kind == kind, WatchResource.url == url)
    )
    if row is None:
        row = WatchResource(kind=kind, url=url, site=target.site, role=target.role, failures=0)
        session.add(row)
    return row


def _canonical_entry(url: str, target: Target) -> str | None:
    """``url`` in canonical form when it is an http(s) URL on the target's hosts."""
    try:
        if urlsplit(url).scheme not in ("http", "https") or site_domain(url) not in target.hosts:
            return None
        return canonical_url(url)
    except ValueError:  # a hostile URL: "http://[::1", a port out of range
        return None


def store_entries(
    session: Session, target: Target, found: Iterable[tuple[str, datetime | None]], now: datetime
) -> None:
    """Enter the listed article URLs on the target's hosts. A change date is taken at most
    ``now`` (a list dated in the future would otherwise have its entry fetched every round); a
    known entry takes a later change date, which also clears its past failures."""
    latest: dict[str, datetime | None] = {}
    for raw, when in found:
        url = _canonical_entry(raw, target)
        if url is None:
            continue
        when = min(when, now) if when is not None else None
        previous = latest.get(url)
        if url not in latest or (when is not None and (previous is None or when > previous)):
            latest[url] = when
    urls = list(latest)
    for start in range(0, len(urls), 500):
        chunk = urls[start : start + 500]
        rows = {
            row.url: row
            for row in session.scalars(
                select(WatchResource).where(
                    WatchResource.kind == "entry", WatchResource.url.in_(chunk)
                )
            )
        }
        keys = {url: url_key(url) for url in chunk if url not in rows}
        captured = dict(
            session.execute(
                select(Capture.url_key, func.max(Capture.fetched_at))
                .where(Capture.url_key.in_(set(keys.values())), Capture.role == target.role)
                .group_by(Capture.url_key)
            ).all()
        )
        for url in chunk:
            when, row = latest[url], rows.get(url)
            if row is None:
                entry = WatchResource(
                    kind="entry", url=url, site=target.site, role=target.role, failures=0,
                    checked_at=captured.get(keys[url]), lastmod=when,
                )  # fmt: skip
                session.add(entry)
            elif when is not None and (row.lastmod is None or when > row.lastmod):
                row.lastmod, row.failures, row.retry_at = when, 0, None
