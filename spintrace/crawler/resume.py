"""Resuming a killed crawl: stored pages are answered from the database, not fetched again.

:class:`ReplayMiddleware` (a downloader middleware) and :class:`MemoryDupeFilter` are set by
:func:`spintrace.crawler.run_crawl` when a job is resumed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from scrapy import Request, Spider, signals
from scrapy.dupefilters import RFPDupeFilter
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.crawler.pipelines import crawl_engine
from spintrace.crawler.settings import PAGE_META, RESUME_SINCE_SETTING
from spintrace.db.engine import open_engine
from spintrace.db.models import Capture, Site
from spintrace.db.urls import site_domain, url_key
from spintrace.records import Role

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["MemoryDupeFilter", "ReplayMiddleware", "stored_since"]


def stored_since(
    db_url: str, since: datetime, role: Role, sites: Sequence[str] | None = None
) -> int:
    """How many pages the job started at ``since`` stored before it was interrupted.

    The captures crawled with the job's role since it started, the same rule by which
    :class:`ReplayMiddleware` recognises the job's pages. A resumed crawl starts its
    ``--max-pages`` count there: it cannot tell how many of them its walk will replay before
    the limit (after Ctrl-C, Scrapy's saved queue is fetched first, and new pages come before
    the replayed ones). A crawl with the same role storing into the same database meanwhile is
    counted too, which can only make the job stop earlier. With ``sites`` (URLs), only captures
    of those URLs' sites count (a queued crawl job crawls one site among many running).
    """
    engine = open_engine(db_url)
    try:
        with Session(engine) as session:
            query = (
                select(func.count())
                .select_from(Capture)
                .where(Capture.fetched_at >= since, Capture.role == role)
            )
            if sites is not None:
                domains = {site_domain(url) for url in sites}
                query = query.where(
                    Capture.site_id.in_(select(Site.id).where(Site.domain.in_(domains)))
                )
            count = session.scalar(query)
    finally:
        engine.dispose()
    return int(count or 0)


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
        middleware = cls(crawl_engine(crawler), datetime.fromisoformat(since))
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
                # By identity: captures are stored under their canonical URL, and a request may
                # carry a tracking parameter or a fragment (spintrace.db.urls).
                .where(Capture.url_key == url_key(request.url), Capture.fetched_at >= self.since)
                .order_by(Capture.id.desc())
                .limit(1)
            ).first()
            if capture is None:
                return None
            body = zlib.decompress(capture.body)
            headers = Headers(capture.headers or {})
            url = capture.final_url or request.url
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
