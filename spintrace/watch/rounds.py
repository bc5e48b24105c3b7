"""One watch round: check what is due, fetch only what is new or changed, link, alert.

A round, for every publisher and farm whose interval has passed:

1. **Lists.** Its feeds, sitemaps (and the sitemaps a sitemap index names) and home page are
   fetched conditionally (:mod:`spintrace.watch.fetch`): an unchanged one answers ``304`` and
   lists nothing. Each article URL a list names is an *entry* (``watch_resources``); an entry
   is due when it was never fetched, or when its list gives a change date (sitemap
   ``lastmod``, feed ``updated``) later than its last fetch. Entries are stored in the same
   transaction as the list's validators, so a round killed after this step loses nothing: the
   next round finds the unfetched entries in the table even when the list answers ``304``.
2. **Pages.** The due entries are fetched by the Scrapy crawler in list mode (robots.txt,
   politeness, captures), a known page conditionally with its capture's ``ETag`` and
   ``Last-Modified``. An entry is marked fetched once the crawl answered for it; one that
   failed is tried again next round, up to :data:`MAX_ENTRY_FAILURES` times.
3. **Text and links.** New captures are extracted, new sources indexed and new pages matched
   (``spintrace match``'s own rule: only what is stale); a pair linked for the first time
   raises an alert (:mod:`spintrace.db.alerts`), delivered to the watch list's places.
4. **Money trail.** Each farm's ``/ads.txt`` and ``/app-ads.txt`` are fetched conditionally and
   stored as indicators, and the sellers.json files the watch list names are loaded.

A site that fails (down, an error status, robots.txt now disallowing its lists, a hostile
answer) is logged, counted in the report and skipped: the round completes for the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.crawler.discovery import dated_entries, sniff
from spintrace.db.models import Capture, Site, utcnow
from spintrace.db.urls import canonical_url, site_domain, url_key
from spintrace.db.watch import WatchResource
from spintrace.ingest.adstxt import ads_txt_url, parse_ads_txt, parse_sellers_json
from spintrace.ingest.captures import process_captures
from spintrace.ingest.money import store_ads_txt, store_sellers
from spintrace.linking.match import match_pages
from spintrace.records import Role
from spintrace.reports.alerts import deliver_alerts
from spintrace.watch.config import Target, WatchList
from spintrace.watch.fetch import Answer, FetchFailed, Robots, fetch

__all__ = [
    "MAX_ENTRY_FAILURES",
    "RoundReport",
    "due_targets",
    "load_sellers",
    "next_due",
    "run_round",
]

logger = logging.getLogger(__name__)

MAX_ENTRY_FAILURES = 5
MAX_ENTRIES_PER_LIST = 5000
MAX_FETCHES_PER_ROUND = 2000
MAX_CHILD_SITEMAPS = 50


@dataclass
class RoundReport:
    """What a round did."""

    checked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    lists_not_modified: int = 0
    lists_fetched: int = 0
    entries_due: int = 0
    pages_new: int = 0
    pages_not_modified: int = 0
    pages_failed: int = 0
    documents: int = 0
    links: int = 0
    alerts: int = 0
    delivered: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    ads_txt_records: int = 0
    sellers: int = 0


def _resource(session: Session, kind: str, url: str, target: Target) -> WatchResource:
    row = session.scalar(
        select(WatchResource).where(WatchResource.kind == kind, WatchResource.url == url)
    )
    if row is None:
        row = WatchResource(kind=kind, url=url, site=target.site, role=target.role, failures=0)
        session.add(row)
    return row


def _lists(target: Target) -> list[tuple[str, str]]:
    return [
        *(("home", target.home) for _ in [0] if target.home),
        *(("feed", url) for url in target.feeds),
        *(("sitemap", url) for url in target.sitemaps),
    ]


def due_targets(engine: Engine, watch: WatchList, now: datetime) -> list[Target]:
    """The targets whose interval has passed since their lists were last checked."""
    due = []
    with Session(engine) as session:
        for target in watch.targets:
            urls = {url for _, url in _lists(target)}
            checked = dict(
                session.execute(
                    select(WatchResource.url, WatchResource.checked_at).where(
                        WatchResource.url.in_(urls),
                        WatchResource.kind.in_(("home", "feed", "sitemap")),
                    )
                ).all()
            )
            times = [checked.get(url) for url in urls]
            # Never checked, or failing (reset to None): due now.
            oldest = None if any(t is None for t in times) else min(t for t in times if t)
            if oldest is None or oldest <= now - timedelta(seconds=target.every):
                due.append(target)
    return due


def next_due(engine: Engine, watch: WatchList) -> timedelta:
    """How long until the next target is due (zero when one is due now)."""
    now = utcnow()
    waits = []
    with Session(engine) as session:
        for target in watch.targets:
            urls = {url for _, url in _lists(target)}
            times = session.scalars(
                select(WatchResource.checked_at).where(
                    WatchResource.url.in_(urls),
                    WatchResource.kind.in_(("home", "feed", "sitemap")),
                )
            ).all()
            if len(times) < len(urls) or any(t is None for t in times):
                return timedelta(0)
            oldest = min(t for t in times if t is not None)
            waits.append(oldest + timedelta(seconds=target.every) - now)
    return max(min(waits), timedelta(0)) if waits else timedelta(0)


def _check_list(
    session: Session, kind: str, url: str, target: Target, robots: Robots, now: datetime
) -> tuple[list[tuple[str, datetime | None]], Answer | None]:
    """Fetch one list conditionally; its entries (none when unchanged) and its answer."""
    row = _resource(session, kind, url, target)
    if not robots.allowed(url):
        raise FetchFailed("robots.txt disallows it")
    answer = fetch(url, row.etag, row.last_modified, hosts=robots.hosts)
    row.status, row.checked_at, row.error, row.failures = answer.status, now, None, 0
    if answer.not_modified:
        return [], answer
    row.etag, row.last_modified, row.changed_at = answer.etag, answer.last_modified, now
    if kind == "home":
        return [(link, None) for link in _page_links(answer.body, url)], answer
    if sniff(answer.body, answer.content_type) not in ("feed", "sitemap", "sitemap-index"):
        raise FetchFailed("not a feed or sitemap")
    entries = dated_entries(answer.body, url)
    return entries[:MAX_ENTRIES_PER_LIST], answer


def _page_links(body: bytes, base: str) -> list[str]:
    import lxml.html  # type: ignore[import-untyped,unused-ignore]

    try:
        root = lxml.html.fromstring(body[:3_000_000])
    except (ValueError, lxml.etree.ParserError):
        return []
    return [urljoin(base, href) for href in root.xpath("//a/@href")[:2000] if isinstance(href, str)]


def _discover(
    engine: Engine, target: Target, robots: Robots, now: datetime, report: RoundReport
) -> None:
    """Step 1 for one target: check its lists, store their entries (one transaction)."""
    errors: dict[str, str] = {}
    found: list[tuple[str, datetime | None]] = []
    with Session(engine) as session, session.begin():
        queue = _lists(target)
        children = 0
        while queue:
            kind, url = queue.pop(0)
            try:
                entries, answer = _check_list(session, kind, url, target, robots, now)
            except FetchFailed as exc:
                row = _resource(session, kind, url, target)
                row.error, row.failures = str(exc), (row.failures or 0) + 1
                row.checked_at = None  # due again next round
                errors[url] = str(exc)
                logger.warning("watch: %s skipped: %s", url, exc)
                continue
            if answer is not None and answer.not_modified:
                report.lists_not_modified += 1
            else:
                report.lists_fetched += 1
            for entry, when in entries:
                if kind == "sitemap" and entry.endswith((".xml", ".xml.gz")):
                    if children < MAX_CHILD_SITEMAPS:
                        queue.append(("sitemap", entry))
                        children += 1
                    continue
                found.append((entry, when))
        _store_entries(session, target, found, now)
    if all(url in errors for _, url in _lists(target)):
        report.failed[target.site] = next(iter(errors.values()))
    else:
        report.checked.append(target.site)


def _store_entries(
    session: Session, target: Target, found: Iterable[tuple[str, datetime | None]], now: datetime
) -> None:
    """Enter the listed article URLs on the target's hosts; a known entry keeps its last fetch
    and takes a later change date."""
    latest: dict[str, datetime | None] = {}
    for url, when in found:
        if urlsplit(url).scheme not in ("http", "https") or site_domain(url) not in target.hosts:
            continue
        url = canonical_url(url)
        if url not in latest or (when and (latest[url] is None or when > latest[url])):  # type: ignore[operator]
            latest[url] = when
    for url, when in latest.items():
        row = session.scalar(
            select(WatchResource).where(WatchResource.kind == "entry", WatchResource.url == url)
        )
        if row is None:
            captured = session.scalar(
                select(func.max(Capture.fetched_at)).where(
                    Capture.url_key == url_key(url), Capture.role == target.role
                )
            )
            row = WatchResource(
                kind="entry", url=url, site=target.site, role=target.role, failures=0,
                checked_at=captured, lastmod=when,
            )  # fmt: skip
            session.add(row)
        elif when is not None and (row.lastmod is None or when > row.lastmod):
            row.lastmod = when


def _due_entries(engine: Engine, sites: Sequence[str], role: Role) -> list[WatchResource]:
    with Session(engine) as session:
        rows = session.scalars(
            select(WatchResource)
            .where(
                WatchResource.kind == "entry",
                WatchResource.role == role,
                WatchResource.site.in_(sites),
                WatchResource.failures < MAX_ENTRY_FAILURES,
            )
            .order_by(WatchResource.id)
        ).all()
        session.expunge_all()
    return [
        row
        for row in rows
        if row.checked_at is None or (row.lastmod is not None and row.lastmod > row.checked_at)
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
    """Fetch ``urls`` with the crawler in list mode, in a child process (a Twisted reactor
    runs once per process, and a watch keeps going for many rounds)."""
    options = {
        "db_url": db_url, "urls": urls, "role": role, "mode": "list", "since": now.isoformat(),
        "settings": {**settings, "SPINTRACE_CONDITIONAL": validators},
    }  # fmt: skip
    child = subprocess.run(
        [sys.executable, "-m", "spintrace.jobs.crawl"],
        input=json.dumps(options).encode(),
        capture_output=True,
        check=False,
    )
    lines = child.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if child.returncode != 0 and "failed_urls" not in result:
        reason = result.get("error") or child.stderr.decode("utf-8", "replace")[-300:].strip()
        # Every URL failed (a CrawlError) or the child died: each entry counts one failure.
        result = {"failed_urls": dict.fromkeys(urls, reason or "the crawl failed")}
    return result


def _fetch_pages(
    engine: Engine, db_url: str, sites: Sequence[str], settings: dict[str, Any],
    now: datetime, report: RoundReport,
) -> None:  # fmt: skip
    """Step 2: fetch every due entry of ``sites``, then mark what the crawl answered."""
    roles: tuple[Role, ...] = ("source", "page")
    for role in roles:
        entries = _due_entries(engine, sites, role)
        if not entries:
            continue
        report.entries_due += len(entries)
        urls = [row.url for row in entries]
        result = _crawl(db_url, urls, role, _validators(engine, urls, role), settings, now)
        failed = {canonical_url(u): reason for u, reason in result.get("failed_urls", {}).items()}
        report.pages_new += int(result.get("new", 0))
        report.pages_not_modified += int(result.get("not_modified", 0))
        report.pages_failed += len(failed)
        with Session(engine) as session, session.begin():
            for row in entries:
                stored = session.get(WatchResource, row.id)
                if stored is None:
                    continue
                if row.url in failed:
                    stored.failures = (stored.failures or 0) + 1
                    stored.error = str(failed[row.url])[:500]
                else:
                    stored.checked_at, stored.failures, stored.error = now, 0, None


def _ads_txt(engine: Engine, farms: Sequence[Target], report: RoundReport, robots: Robots) -> None:
    """Step 4: each farm's ads.txt and app-ads.txt, fetched conditionally, as indicators."""
    now = utcnow()
    kinds: tuple[Literal["ads.txt", "app-ads.txt"], ...] = ("ads.txt", "app-ads.txt")
    for target in farms:
        base = target.home or (target.feeds + target.sitemaps)[0]
        for kind in kinds:
            url = ads_txt_url(base, app=kind == "app-ads.txt")
            with Session(engine) as session, session.begin():
                row = _resource(session, kind, url, target)
                try:
                    answer = fetch(url, row.etag, row.last_modified, hosts=robots.hosts)
                except FetchFailed as exc:
                    row.error, row.checked_at = str(exc), now  # most sites have no app-ads.txt
                    continue
                row.status, row.checked_at, row.error = answer.status, now, None
                if answer.not_modified:
                    continue
                row.etag, row.last_modified, row.changed_at = answer.etag, answer.last_modified, now
                site_id = Site.id_for(session, base, {})
                parsed = parse_ads_txt(answer.body, url)
                report.ads_txt_records += store_ads_txt(session, site_id, kind, parsed)


def load_sellers(
    engine: Engine, watch: WatchList, report: RoundReport, hosts: Mapping[str, str] | None = None
) -> None:
    """The watch list's sellers.json files, each stored again only when its bytes changed."""
    now = utcnow()
    for sellers in watch.sellers:
        try:
            data = (
                fetch(sellers.location, hosts=hosts).body
                if sellers.is_url
                else Path(sellers.location).read_bytes()
            )
            parsed = parse_sellers_json(data, sellers.location)
        except (FetchFailed, OSError, ValueError) as exc:
            logger.warning("watch: sellers.json %s skipped: %s", sellers.location, exc)
            report.failed[sellers.location] = str(exc)
            continue
        digest = hashlib.sha256(data).hexdigest()
        with Session(engine) as session, session.begin():
            row = session.scalar(
                select(WatchResource).where(
                    WatchResource.kind == "sellers.json", WatchResource.url == sellers.location
                )
            )
            if row is None:
                row = WatchResource(
                    kind="sellers.json", url=sellers.location, site=sellers.system, role="page",
                    failures=0,
                )  # fmt: skip
                session.add(row)
            if row.etag == digest:
                continue
            row.etag, row.checked_at, row.changed_at = digest, now, now
            report.sellers += store_sellers(session, sellers.system, parsed, sellers.location)


def run_round(
    engine: Engine,
    watch: WatchList,
    *,
    settings: Settings | None = None,
    crawl_settings: dict[str, Any] | None = None,
    force: bool = False,
    now: datetime | None = None,
    hosts: Mapping[str, str] | None = None,
) -> RoundReport:
    """Run one round over the targets that are due (all of them with ``force``). ``hosts``:
    the demo's loopback host map (see :func:`spintrace.watch.fetch.fetch`)."""
    settings = settings or Settings()
    now = now or utcnow()
    report = RoundReport()
    targets = watch.targets if force else tuple(due_targets(engine, watch, now))
    robots = Robots(hosts)
    for target in targets:
        _discover(engine, target, robots, now, report)
    db_url = engine.url.render_as_string(hide_password=False)
    sites = [t.site for t in targets if t.site not in report.failed]
    _fetch_pages(engine, db_url, sites, crawl_settings or {}, now, report)
    report.documents = process_captures(engine, settings).documents_new
    matched = match_pages(engine, settings)
    report.links, report.alerts = matched.links, matched.alerts
    farms = [t for t in targets if t.role == "page" and t.site not in report.failed]
    _ads_txt(engine, farms, report, robots)
    load_sellers(engine, watch, report, hosts)
    if watch.alerts.to:
        delivery = deliver_alerts(engine, watch.alerts.to, retry_seconds=watch.alerts.retry_seconds)
        report.delivered = delivery.sent
        report.delivery_errors = [f"{s.target}: {s.error}" for s in delivery.sinks if s.error]
    return report
