"""Scrapy components that tie a crawl to the database: the capture pipeline, the resume
middleware and an in-memory duplicate filter.

All three are configured from the ``SPINTRACE_DB_URL`` setting (set by
:func:`spintrace.crawler.run_crawl`) and switch themselves off with ``NotConfigured`` without it.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider, signals
from scrapy.dupefilters import RFPDupeFilter
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spintrace.crawler.items import FetchedFavicon, FetchedPage
from spintrace.crawler.settings import DB_URL_SETTING, PAGE_META, RESUME_SINCE_SETTING
from spintrace.db.engine import open_engine
from spintrace.db.models import Capture, Site, SiteIndicator

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["CapturePipeline", "MemoryDupeFilter", "ReplayMiddleware"]

logger = logging.getLogger(__name__)


def _engine(crawler: Crawler) -> Engine:
    url = crawler.settings.get(DB_URL_SETTING)
    if not url:
        raise NotConfigured(f"{DB_URL_SETTING} is not set")
    return open_engine(url)


class CapturePipeline:
    """Stores each :class:`FetchedPage` as a capture, one transaction per page.

    Committing every page makes a killed crawl lose at most the pages in flight, which the
    resumed crawl fetches again. A body already stored for the URL (same SHA-256) adds nothing.
    """

    def __init__(self, engine: Engine, crawler: Crawler) -> None:
        self.engine = engine
        self.crawler = crawler
        self.sites: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CapturePipeline:
        pipeline = cls(_engine(crawler), crawler)
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
        digest = hashlib.sha256(item.body).hexdigest()
        try:
            with Session(self.engine) as session, session.begin():
                found = session.scalar(
                    select(Capture.id).where(Capture.url == item.url, Capture.sha256 == digest)
                )
                if found is not None:
                    self._inc("captures_unchanged")
                    return item
                session.add(
                    Capture(
                        site_id=Site.id_for(session, item.url, self.sites),
                        url=item.url,
                        final_url=item.final_url,
                        status=item.status,
                        headers=item.headers,
                        fetched_at=item.fetched_at,
                        sha256=digest,
                        body=zlib.compress(item.body, 6),
                        body_size=len(item.body),
                        role=item.role,
                        content_type=item.content_type[:255],
                        depth=item.depth,
                    )
                )
        except IntegrityError:
            # Another crawl stored the same body meanwhile.
            self.sites.clear()
            self._inc("captures_unchanged")
            return item
        self._inc("captures_new")
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


class ReplayMiddleware:
    """On a resumed crawl, answers pages captured since the job started from the database.

    The resumed crawl walks the site again from its start URLs (so pages lost in flight by a
    kill are found again), but a page it already stored is read back instead of re-fetched:
    its links are followed, and nothing is stored twice.
    """

    def __init__(self, engine: Engine, since: datetime) -> None:
        self.engine = engine
        self.since = since

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReplayMiddleware:
        since = crawler.settings.get(RESUME_SINCE_SETTING)
        if not since:
            raise NotConfigured("not resuming a job")
        middleware = cls(_engine(crawler), datetime.fromisoformat(since))
        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def close(self, spider: Spider) -> None:
        self.engine.dispose()

    def process_request(self, request: Request) -> Response | None:
        if not request.meta.get(PAGE_META) or request.meta.get("spintrace_replayed"):
            return None
        with Session(self.engine) as session:
            capture = session.scalars(
                select(Capture)
                .where(Capture.url == request.url, Capture.fetched_at >= self.since)
                .order_by(Capture.id.desc())
                .limit(1)
            ).first()
            if capture is None:
                return None
            body = zlib.decompress(capture.body)
            headers = Headers(capture.headers or {})
            url = capture.final_url or capture.url
            status = capture.status or 200
        request.meta["spintrace_replayed"] = True
        cls = responsetypes.from_args(headers=headers, url=url, body=body)
        return cls(url=url, status=status, headers=headers, body=body, request=request)


class MemoryDupeFilter(RFPDupeFilter):
    """Scrapy's duplicate filter without its JOBDIR file.

    A resumed crawl must be free to request again a page that was scheduled but never stored
    (a kill loses requests in flight); :class:`ReplayMiddleware` keeps that from fetching stored
    pages twice.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MemoryDupeFilter:
        return cls(
            None,
            crawler.settings.getbool("DUPEFILTER_DEBUG"),
            fingerprinter=crawler.request_fingerprinter,
        )

    def log(self, request: Request, spider: Spider) -> None:
        redirects = request.meta.get("redirect_urls")
        skip = getattr(spider, "skip", None)
        if redirects and callable(skip):
            # A redirect back to a URL already requested: a loop, or a chain into a known page.
            skip(redirects[0], f"redirect loop ({' -> '.join([*redirects, request.url])})")
            return
        super().log(request, spider)
