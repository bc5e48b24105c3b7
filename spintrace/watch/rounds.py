"""One watch round: check what is due, fetch only what is new or changed, link, alert.

A round, for every publisher and farm whose interval has passed:

1. **Lists.** Its feeds, sitemaps (and the sitemaps a sitemap index names) and home page are
   fetched conditionally (:mod:`spintrace.watch.fetch`): an unchanged one answers ``304`` and
   lists nothing. Each article URL a list names is an *entry* (``watch_resources``); an entry
   is due when it was never fetched, or when its list gives a change date (sitemap
   ``lastmod``, feed ``updated``) later than its last fetch. Entries are stored in the same
   transaction as the list's validators, so a round killed after this step loses nothing: the
   next round (of any site) finds the unfetched entries in the table (:mod:`.lists`).
2. **Pages.** The due entries of every watched site that is not failing are fetched by the
   Scrapy crawler in list mode (robots.txt, politeness, captures), a known page conditionally
   with its capture's ``ETag`` and ``Last-Modified`` (:mod:`.pages`).
3. **Text and links.** New captures are extracted, new sources indexed and new pages matched
   (``spintrace match``'s own rule: only what is stale); a pair linked for the first time
   raises an alert (:mod:`spintrace.db.alerts`), delivered to the watch list's places.
4. **Money trail.** Each farm's ``/ads.txt`` and ``/app-ads.txt`` are fetched conditionally and
   stored as indicators, and the sellers.json files the watch list names are loaded.

A site that fails (down, an error status, robots.txt now disallowing its lists, a hostile
answer) is logged, counted in the report and skipped: the round completes for the others, and
the site is tried again after a back-off (a minute, doubling, at most its interval).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.locks import MatchBusy
from spintrace.db.models import Site, utcnow
from spintrace.db.watch import WatchResource
from spintrace.ingest.adstxt import ads_txt_url, parse_ads_txt, parse_sellers_json
from spintrace.ingest.captures import process_captures
from spintrace.ingest.money import store_ads_txt, store_sellers
from spintrace.linking.match import match_pages
from spintrace.reports.alerts import deliver_alerts
from spintrace.watch.config import Target, WatchList
from spintrace.watch.fetch import Answer, FetchFailed, Robots, fetch
from spintrace.watch.lists import LIST_KINDS, discover, target_lists
from spintrace.watch.pages import MAX_ENTRY_FAILURES, fetch_pages

__all__ = [
    "MAX_ENTRY_FAILURES",
    "SELLERS_EVERY_SECONDS",
    "RoundReport",
    "due_targets",
    "load_sellers",
    "next_due",
    "run_round",
]

logger = logging.getLogger(__name__)

# sellers.json files change rarely and can be large: read at most this often (unless forced).
SELLERS_EVERY_SECONDS = 6 * 3600.0


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
    pages_postponed: int = 0
    documents: int = 0
    links: int = 0
    alerts: int = 0
    matching_left_to_queued_run: bool = False
    delivered: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    ads_txt_records: int = 0
    sellers: int = 0


def _due_at(
    target: Target, rows: Mapping[str, tuple[datetime | None, datetime | None, int]]
) -> datetime | None:
    """When ``target`` is next due (``None``: now). ``rows``: each list URL's last check,
    retry time and failures in a row."""
    times = []
    for _, url in target_lists(target):
        checked_at, retry_at, failures = rows.get(url, (None, None, 0))
        if checked_at is None:
            return None
        due = checked_at + timedelta(seconds=target.every)
        if failures and retry_at is not None:
            due = min(due, retry_at)
        times.append(due)
    return min(times)


def _list_rows(
    session: Session, target: Target
) -> dict[str, tuple[datetime | None, datetime | None, int]]:
    urls = {url for _, url in target_lists(target)}
    rows = session.execute(
        select(
            WatchResource.url,
            WatchResource.checked_at,
            WatchResource.retry_at,
            WatchResource.failures,
        ).where(WatchResource.url.in_(urls), WatchResource.kind.in_(LIST_KINDS))
    ).all()
    return {url: (checked, retry, failures or 0) for url, checked, retry, failures in rows}


def due_targets(engine: Engine, watch: WatchList, now: datetime) -> list[Target]:
    """The targets whose interval (or, failing, whose back-off) has passed."""
    due = []
    with Session(engine) as session:
        for target in watch.targets:
            when = _due_at(target, _list_rows(session, target))
            if when is None or when <= now:
                due.append(target)
    return due


def next_due(engine: Engine, watch: WatchList) -> timedelta:
    """How long until the next target is due (zero when one is due now)."""
    now = utcnow()
    waits = []
    with Session(engine) as session:
        for target in watch.targets:
            when = _due_at(target, _list_rows(session, target))
            if when is None:
                return timedelta(0)
            waits.append(when - now)
    return max(min(waits), timedelta(0)) if waits else timedelta(0)


def _conditional(
    engine: Engine, kind: str, url: str, hosts: Mapping[str, str] | None
) -> Answer | str:
    """Fetch ``url`` with the validators of its last answer (no transaction open meanwhile);
    the reason as a string when it failed."""
    with Session(engine) as session:
        known = session.execute(
            select(WatchResource.etag, WatchResource.last_modified).where(
                WatchResource.kind == kind, WatchResource.url == url
            )
        ).first()
    try:
        etag, modified = (known[0], known[1]) if known else (None, None)
        return fetch(url, etag, modified, hosts=hosts)
    except FetchFailed as exc:
        return str(exc)


def _resource(session: Session, kind: str, url: str, site: str, role: str) -> WatchResource:
    row = session.scalar(
        select(WatchResource).where(WatchResource.kind == kind, WatchResource.url == url)
    )
    if row is None:
        row = WatchResource(kind=kind, url=url, site=site, role=role, failures=0)
        session.add(row)
    return row


def _ads_txt(
    engine: Engine, farms: Sequence[Target], report: RoundReport, hosts: Mapping[str, str] | None
) -> None:
    """Step 4: each farm's ads.txt and app-ads.txt, fetched conditionally, as indicators."""
    now = utcnow()
    kinds: tuple[Literal["ads.txt", "app-ads.txt"], ...] = ("ads.txt", "app-ads.txt")
    for target in farms:
        base = target.home or (target.feeds + target.sitemaps)[0]
        for kind in kinds:
            url = ads_txt_url(base, app=kind == "app-ads.txt")
            answer = _conditional(engine, kind, url, hosts)
            parsed = (
                parse_ads_txt(answer.body, url)
                if isinstance(answer, Answer) and not answer.not_modified
                else None
            )
            with Session(engine) as session, session.begin():
                row = _resource(session, kind, url, target.site, target.role)
                row.checked_at = now
                if isinstance(answer, str):
                    row.error = answer  # most sites have no app-ads.txt: not a failure
                    continue
                row.status, row.error = answer.status, None
                if parsed is None:
                    continue
                row.etag, row.last_modified, row.changed_at = answer.etag, answer.last_modified, now
                site_id = Site.id_for(session, base, {})
                report.ads_txt_records += store_ads_txt(session, site_id, kind, parsed)


def load_sellers(
    engine: Engine,
    watch: WatchList,
    report: RoundReport,
    hosts: Mapping[str, str] | None = None,
    *,
    force: bool = False,
) -> None:
    """The watch list's sellers.json files, each read at most every
    :data:`SELLERS_EVERY_SECONDS` unless ``force``: a URL conditionally (its validators kept),
    a file stored again only when its bytes changed (their digest kept as its ``etag``)."""
    now = utcnow()
    for sellers in watch.sellers:
        with Session(engine) as session:
            last = session.execute(
                select(WatchResource.checked_at, WatchResource.etag).where(
                    WatchResource.kind == "sellers.json", WatchResource.url == sellers.location
                )
            ).first()
        recent = now - timedelta(seconds=SELLERS_EVERY_SECONDS)
        if not force and last is not None and last[0] is not None and last[0] > recent:
            continue
        validators: tuple[str | None, str | None] | None = None
        try:
            if sellers.is_url:
                answer = _conditional(engine, "sellers.json", sellers.location, hosts)
                if isinstance(answer, str):
                    raise FetchFailed(answer)
                data, validators = answer.body, (answer.etag, answer.last_modified)
            else:
                data = Path(sellers.location).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                validators = (digest, None) if last is None or last[1] != digest else None
                data = data if validators else b""
            parsed = parse_sellers_json(data, sellers.location) if data else None
        except (FetchFailed, OSError, ValueError) as exc:
            logger.warning("watch: sellers.json %s skipped: %s", sellers.location, exc)
            report.failed[sellers.location] = str(exc)
            continue
        with Session(engine) as session, session.begin():
            row = _resource(session, "sellers.json", sellers.location, sellers.system, "page")
            row.checked_at, row.error = now, None
            if parsed is None or validators is None:
                continue  # unchanged (304, or the same bytes)
            row.etag, row.last_modified = validators
            row.changed_at = now
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
    """Run one round over the targets that are due (all of them with ``force``), and fetch the
    pending entries of every watched site. ``hosts``: the demo's loopback host map (see
    :func:`spintrace.watch.fetch.fetch`)."""
    settings = settings or Settings()
    now = now or utcnow()
    report = RoundReport()
    targets = watch.targets if force else tuple(due_targets(engine, watch, now))
    robots = Robots(hosts)
    for target in targets:
        checked = discover(engine, target, robots, now)
        report.lists_fetched += checked.fetched
        report.lists_not_modified += checked.not_modified
        lists = target_lists(target)
        if checked.errors and all(url in checked.errors for _, url in lists):
            report.failed[target.site] = next(iter(checked.errors.values()))
        else:
            report.checked.append(target.site)
    db_url = engine.url.render_as_string(hide_password=False)
    sites = sorted({t.site for t in watch.targets} - set(report.failed))
    fetched = fetch_pages(engine, db_url, sites, crawl_settings or {}, now)
    report.entries_due, report.pages_new = fetched.due, fetched.new
    report.pages_not_modified, report.pages_failed = fetched.not_modified, fetched.failed
    report.pages_postponed = fetched.busy
    report.documents = process_captures(engine, settings).documents_new
    try:
        matched = match_pages(engine, settings)
    except MatchBusy:  # a queued run is going: the next round matches what it did not take
        logger.info("matching left for later: a queued match run is waiting or going")
        report.matching_left_to_queued_run = True
    else:
        report.links, report.alerts = matched.links, matched.alerts
    farms = [t for t in targets if t.role == "page" and t.site not in report.failed]
    _ads_txt(engine, farms, report, hosts)
    if targets or force:
        load_sellers(engine, watch, report, hosts, force=force)
    if watch.alerts.to:
        delivery = deliver_alerts(engine, watch.alerts.to, retry_seconds=watch.alerts.retry_seconds)
        report.delivered = delivery.sent
        report.delivery_errors = [f"{s.target}: {s.error}" for s in delivery.sinks if s.error]
    return report
