"""The Scrapy item pipeline that stores what a crawl fetched: pages as captures, favicons as
site indicators.

Configured from the ``SPINTRACE_DB_URL`` setting (set by :func:`spintrace.crawler.run_crawl`);
switches itself off with ``NotConfigured`` without it. Resumed crawls: :mod:`.resume`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from scrapy import Spider, signals
from scrapy.exceptions import NotConfigured
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spintrace.crawler.items import FetchedFavicon, FetchedPage
from spintrace.crawler.settings import DB_URL_SETTING
from spintrace.db.captures import store_capture
from spintrace.db.engine import open_engine
from spintrace.db.models import Site, SiteIndicator

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["CapturePipeline", "crawl_engine"]

logger = logging.getLogger(__name__)


def crawl_engine(crawler: Crawler) -> Engine:
    """The engine of the crawl's database; ``NotConfigured`` when the crawl has none."""
    url = crawler.settings.get(DB_URL_SETTING)
    if not url:
        raise NotConfigured(f"{DB_URL_SETTING} is not set")
    return open_engine(url)


class CapturePipeline:
    """Stores each :class:`FetchedPage` as a capture, one transaction per page.

    Committing every page makes a killed crawl lose at most the pages in flight, which the
    resumed crawl fetches again. A body already stored for the URL (same SHA-256) adds nothing,
    also under another form of the URL (``http``/``https``, ``www.``, tracking parameters, a
    fragment): the capture is stored under its canonical URL, with the URL as requested in
    ``seen_url``, on the site of its registered domain (:mod:`spintrace.db.urls`).
    """

    def __init__(self, engine: Engine, crawler: Crawler) -> None:
        self.engine = engine
        self.crawler = crawler
        self.sites: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CapturePipeline:
        pipeline = cls(crawl_engine(crawler), crawler)
        crawler.signals.connect(pipeline.close, signal=signals.spider_closed)
        return pipeline

    def close(self, spider: Spider) -> None:
        self.engine.dispose()

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"spintrace/{key}")

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FetchedFavicon):
            self._favicon(item)
            return item
        if not isinstance(item, FetchedPage):
            return item
        if item.replayed:
            self._inc("captures_replayed")
            return item
        try:
            with Session(self.engine) as session, session.begin():
                _, added = store_capture(
                    session,
                    site_id=Site.id_for(session, item.url, self.sites),
                    url=item.url,
                    body=item.body,
                    content_type=item.content_type,
                    fetched_at=item.fetched_at,
                    final_url=item.final_url,
                    status=item.status,
                    headers=item.headers,
                    role=item.role,
                    depth=item.depth,
                )
        except IntegrityError:
            # Another crawl stored the same body meanwhile.
            self.sites.clear()
            added = False
        self._inc("captures_new" if added else "captures_unchanged")
        return item

    def _favicon(self, item: FetchedFavicon) -> None:
        digest = hashlib.sha256(item.body).hexdigest()
        evidence = f"{item.url} ({len(item.body)} bytes)"
        try:
            with Session(self.engine) as session, session.begin():
                site_id = Site.id_for(session, item.page_url, self.sites)
                SiteIndicator.record(session, site_id, "favicon-hash", digest, evidence)
        except IntegrityError:  # a concurrent crawl recorded it first
            self.sites.clear()
