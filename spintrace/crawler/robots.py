"""robots.txt for every request of a host, fetched once and read as RFC 9309 says.

:class:`RobotsTxtMiddleware` replaces Scrapy's middleware of the same name (wired by
:func:`spintrace.crawler.process.build_settings` at the same priority). It fixes two things:

- **Every waiter gets the rules.** Scrapy 2.19 makes the requests that arrive while a host's
  robots.txt is being fetched await one shared ``Deferred``. Awaiting a ``Deferred`` consumes
  its result (Twisted's ``Deferred.asFuture`` and ``ensureDeferred`` pass ``None`` down the
  callback chain), so the first waiter got the parser and every later one got ``None``, which
  Scrapy reads as "no robots.txt": with three URLs of one host queued at once, the third was
  fetched even when robots.txt disallowed it. Here each waiter awaits a ``Deferred`` of its own.
- **Fetch outcomes follow RFC 9309 (section 2.3.1).** A 2xx robots.txt is parsed; a 4xx one
  ("unavailable") allows everything; a 5xx answer, an unreachable server, a body over
  ``DOWNLOAD_MAXSIZE``, a redirect loop or a body that is not text disallows every page of the
  host, with a logged reason that the skipped pages repeat. Scrapy allowed everything in all of
  these cases (it parsed a 5xx answer's body as if it were the robots.txt).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxt
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from spintrace.crawler.discovery import is_binary

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["DisallowAll", "RobotsTxtMiddleware"]

logger = logging.getLogger(__name__)

UNREADABLE = "its robots.txt could not be read"
"""Why a page was not fetched when its host's robots.txt could not be read (RFC 9309 then
disallows the whole host): not "forbidden", the site may have no rules at all."""
# RFC 9309 does not name 429; Google's crawler treats it as a server error (5xx), which is the
# polite reading of "too many requests": wait, do not take it as "no rules".
TOO_MANY_REQUESTS = 429


class DisallowAll(RobotParser):
    """The rules of a host whose robots.txt could not be read: nothing is allowed.

    ``reason`` says why (the status, the error), for the log and for every skipped page.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @classmethod
    def from_crawler(cls, crawler: Crawler, robotstxt_body: bytes) -> Self:
        """Required by :class:`RobotParser`; the middleware builds these from a reason."""
        return cls("robots.txt not readable")

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False


def _relay(result: Any, waiter: Deferred[Any]) -> Any:
    waiter.callback(result)
    return result  # passed on unchanged, for the next waiter


def _error(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class RobotsTxtMiddleware(ScrapyRobotsTxt):
    """Scrapy's robots.txt middleware with its shared-waiter bug fixed and RFC 9309 outcomes."""

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        if isinstance(rp, DisallowAll):
            self._stats.inc_value("robotstxt/unreadable")
            raise IgnoreRequest(f"{UNREADABLE}: {rp.reason}")
        super().process_request_2(rp, request)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        """The rules for ``request``'s host (``None``: everything allowed), fetched once."""
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            pending: Deferred[RobotParser | None] = Deferred()
            self._parsers[netloc] = pending
            parser: RobotParser | None = DisallowAll("the robots.txt fetch was cancelled")
            try:
                parser = await self._fetch(request, netloc)
            finally:
                # Also when cancelled (the crawl is closing): the waiters must not hang.
                self._parsers[netloc] = parser
                pending.callback(parser)
            return parser
        known = self._parsers[netloc]
        if isinstance(known, Deferred):
            waiter: Deferred[RobotParser | None] = Deferred()
            known.addBoth(_relay, waiter)
            return await maybe_deferred_to_future(waiter)
        return known

    async def _fetch(self, request: Request, netloc: str) -> RobotParser | None:
        """The parsed robots.txt of ``netloc``, ``None`` to allow all, or :class:`DisallowAll`."""
        scheme = urlparse_cached(request).scheme
        url = f"{scheme}://{netloc}/robots.txt"
        robots = Request(
            url,
            priority=self.DOWNLOAD_PRIORITY,
            # RFC 9309 2.3.1.2: a robots.txt may redirect to another host, which the crawl's own
            # domain scope must not drop (that would disallow the whole site).
            meta={"dont_obey_robotstxt": True, "allow_offsite": True},
            callback=NO_CALLBACK,
        )
        self._stats.inc_value("robotstxt/request_count")
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(robots)
        except Exception as exc:  # unreachable, timeout, over DOWNLOAD_MAXSIZE, redirect loop
            self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
            return self._disallow(netloc, f"{url} could not be fetched ({_error(exc)})")
        status = response.status
        self._stats.inc_value("robotstxt/response_count")
        self._stats.inc_value(f"robotstxt/response_status_count/{status}")
        if 400 <= status < 500 and status != TOO_MANY_REQUESTS:
            logger.info("%s answered HTTP %d: every page of %s is allowed", url, status, netloc)
            return None
        if not 200 <= status < 300:
            return self._disallow(netloc, f"{url} answered HTTP {status}")
        if is_binary(response.body):
            return self._disallow(netloc, f"{url} is not a text file")
        try:
            parser = build_from_crawler(self._parserimpl, self.crawler, response.body)
        except Exception as exc:  # a parser backend failing on hostile input
            return self._disallow(netloc, f"{url} could not be parsed ({_error(exc)})")
        await self.crawler.signals.send_catch_log_async(
            signal=signals.robots_parsed, robotparser=parser, request=request
        )
        return parser

    def _disallow(self, netloc: str, reason: str) -> DisallowAll:
        reason = f"{reason}; every page of {netloc} is disallowed (RFC 9309)"
        logger.warning("robots.txt: %s", reason)
        return DisallowAll(reason)
