"""The spintrace spider: finds a site's articles, or fetches a given list of URLs.

Site mode starts from each site URL and discovers pages through robots.txt ``Sitemap:`` lines
and ``/sitemap.xml`` (sitemap indexes included), RSS/Atom feeds (announced by
``<link rel="alternate">`` or linked), and links between pages (category, tag and pagination
pages lead to articles). List mode fetches exactly the given URLs and follows nothing.

Every HTML page becomes a :class:`~spintrace.crawler.items.FetchedPage`; every response that
cannot be used (an HTTP error, a timeout, a body over the size limit, binary data, a robots.txt
disallow, a redirect loop) is a logged skip, counted, and the crawl goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from twisted.python.failure import Failure

from spintrace.crawler.discovery import (
    feed_links,
    is_feed_type,
    robots_sitemaps,
    sitemap_links,
    sniff,
)
from spintrace.crawler.items import FetchedFavicon, FetchedPage
from spintrace.crawler.settings import CONDITIONAL_SETTING, PAGE_META, START_PAGES_ONLY_SETTING
from spintrace.db.models import utcnow
from spintrace.records import Role

__all__ = ["MAX_KEPT_SKIPS", "SiteSpider"]

logger = logging.getLogger(__name__)

Mode = Literal["site", "list"]

# How many skip reasons the spider keeps for the command's summary; the count is always exact.
MAX_KEPT_SKIPS = 200
START_META = "spintrace_start"
# Icons larger than this are not hashed (a real favicon is a few kilobytes).
MAX_FAVICON_BYTES = 1_000_000


def _bare_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


class SiteSpider(Spider):
    """Discovers and fetches pages; ``allowed`` hosts (and their subdomains) bound the crawl.

    ``allowed`` is ``None`` to follow links to any site (``--follow``). ``stored``: pages a
    resumed job stored before its interruption; they count towards ``max_pages``, and the
    pages the resumed walk replays from their captures do not count again.
    """

    name = "spintrace"

    def __init__(
        self,
        urls: list[str],
        *,
        mode: Mode = "site",
        role: Role = "page",
        allowed: list[str] | None = None,
        max_pages: int = 0,
        stored: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.mode = mode
        self.role: Role = role
        self.allowed = (
            None if allowed is None else sorted({h.removeprefix("www.") for h in allowed})
        )
        if self.allowed is not None:
            self.allowed_domains = list(self.allowed)
        self.max_pages = max_pages
        self.pages = stored
        self.skips = 0
        self.skip_reasons: list[str] = []
        self.start_failures: dict[str, str] = {}
        self.start_answered: set[str] = set()
        self.favicon_hosts: set[str] = set()
        # Scope is checked by in_scope(): LinkExtractor's allow_domains ignores hosts with ports.
        self.links = LinkExtractor(unique=True)

    # --- requests ------------------------------------------------------------------------------

    def in_scope(self, url: str) -> bool:
        """Whether a discovered URL may be fetched (http(s), on an allowed host)."""
        if urlsplit(url).scheme not in ("http", "https"):
            return False
        if self.allowed is None:
            return True
        host = _bare_host(url)
        return any(host == d or host.endswith("." + d) for d in self.allowed)

    def _page(self, url: str, **meta: Any) -> Request:
        return Request(
            url, callback=self.parse, errback=self.on_error, meta={PAGE_META: True, **meta}
        )

    def _discovery(self, url: str) -> Request:
        # Sitemaps and feeds: a missing one is normal, not a skip worth reporting.
        return Request(url, callback=self.parse, errback=self.on_discovery_error)

    async def start(self) -> AsyncIterator[Any]:
        roots: set[str] = set()
        known = self._validators
        for url in self.urls:
            parts = urlsplit(url)
            root = f"{parts.scheme}://{parts.netloc}"
            if self.mode == "site" and root not in roots:
                # One robots.txt (for its sitemaps) per site, however many start URLs it has.
                roots.add(root)
                yield Request(
                    f"{root}/robots.txt",
                    callback=self.parse_robots,
                    errback=self.on_discovery_error,
                    meta={"root": root},
                    dont_filter=True,
                )
            validators = known.get(url)
            if validators:
                # A known page re-fetched: "304 Not Modified" is an answer, not an error.
                request = self._page(url, **{START_META: url, "handle_httpstatus_list": [304]})
                yield request.replace(headers=validators)
            else:
                yield self._page(url, **{START_META: url})

    # --- callbacks -----------------------------------------------------------------------------

    @property
    def start_pages_only(self) -> bool:
        """``--depth 0``: the start pages are fetched, and nothing they lead to."""
        return self.crawler.settings.getbool(START_PAGES_ONLY_SETTING)

    def parse_robots(self, response: Response) -> Iterator[Request]:
        if self.start_pages_only:
            return
        root = response.meta["root"]
        text = response.text if isinstance(response, TextResponse) else ""
        sitemaps = robots_sitemaps(text, root) if response.status == 200 else []
        for url in sitemaps or [f"{root}/sitemap.xml"]:
            if self.in_scope(url):
                yield self._discovery(url)

    @property
    def _validators(self) -> dict[str, dict[str, str]]:
        value = self.crawler.settings.getdict(CONDITIONAL_SETTING) if self.settings else {}
        return {str(url): dict(headers) for url, headers in value.items()}

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if START_META in response.meta:
            self.start_answered.add(response.meta[START_META])
        if response.status == 304:  # a conditional re-fetch: the stored capture is current
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("spintrace/not_modified")
            return
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        body = response.body
        if body[:2] == b"\x1f\x8b" and not response.meta.get(PAGE_META):
            body = self._gunzip(response)  # a sitemap.xml.gz
        kind = sniff(body, content_type)
        if kind in ("sitemap-index", "sitemap", "feed") and self.start_pages_only:
            return
        if kind in ("sitemap-index", "sitemap"):
            for url in sitemap_links(body):
                if not self.in_scope(url):
                    continue
                if kind == "sitemap-index" or url.endswith((".xml", ".xml.gz")):
                    yield self._discovery(url)
                else:
                    yield self._page(url)
            return
        if kind == "feed":
            for url in feed_links(body, response.url):
                if self.in_scope(url):
                    yield self._page(url)
            return
        if kind != "html":
            what = "binary data" if kind == "binary" else f"not HTML ({content_type or 'no type'})"
            self.skip(response.request.url if response.request else response.url, what)
            return
        if not response.meta.get(PAGE_META):
            # An HTML page where a sitemap was expected (a soft 404): a page like any other.
            response.meta[PAGE_META] = True
        yield from self.page(response, content_type)

    def _gunzip(self, response: Response) -> bytes:
        from scrapy.utils.gz import gunzip

        limit = self.settings.getint("DOWNLOAD_MAXSIZE") if self.settings else 0
        try:
            return gunzip(response.body, max_size=limit)
        except (OSError, ValueError) as exc:  # corrupt, or a gzip bomb over DOWNLOAD_MAXSIZE
            self.skip(response.url, f"unreadable gzip ({exc})")
            return b""

    def page(self, response: Response, content_type: str) -> Iterator[Any]:
        if self.max_pages and self.pages >= self.max_pages:
            raise CloseSpider("max_pages")
        replayed = bool(response.meta.get("spintrace_replayed"))
        if not replayed:  # a replayed page was counted in ``stored``
            self.pages += 1
        request = response.request
        yield FetchedPage(
            url=request.url if request is not None else response.url,
            final_url=response.url,
            status=response.status,
            headers={
                k.decode("latin-1"): b", ".join(v).decode("latin-1")
                for k, v in response.headers.items()
            },
            body=response.body,
            fetched_at=utcnow(),
            role=self.role,
            depth=int(response.meta.get("depth", 0)),
            content_type=content_type,
            replayed=replayed,
        )
        if self.max_pages and self.pages >= self.max_pages:
            raise CloseSpider("max_pages")
        if isinstance(response, TextResponse):
            yield from self._favicon(response)
        if self.mode != "site" or not isinstance(response, TextResponse):
            return
        if self.start_pages_only:
            return
        try:
            for link in self.links.extract_links(response):
                if self.in_scope(link.url):
                    yield self._page(link.url)
            for node in response.css('link[rel="alternate"]'):
                href, kind = node.attrib.get("href"), node.attrib.get("type", "")
                if href and is_feed_type(kind):
                    url = response.urljoin(href)
                    if self.in_scope(url):
                        yield self._discovery(url)
        except (ValueError, AttributeError, UnicodeError) as exc:
            self.skip(response.url, f"links not readable ({exc})")

    def _favicon(self, response: TextResponse) -> Iterator[Request]:
        """The first page of each host asks for its favicon (declared, else /favicon.ico)."""
        host = urlsplit(response.url).netloc
        if host in self.favicon_hosts:
            return
        self.favicon_hosts.add(host)
        try:
            href = response.css('link[rel~="icon"]::attr(href)').get()
            url = response.urljoin(href) if href else response.urljoin("/favicon.ico")
        except (ValueError, AttributeError, UnicodeError):
            return
        if self.in_scope(url):
            yield Request(
                url,
                callback=self.parse_favicon,
                errback=self.on_discovery_error,
                meta={"page_url": response.url},
            )

    def parse_favicon(self, response: Response) -> Iterator[FetchedFavicon]:
        if response.status == 200 and 0 < len(response.body) <= MAX_FAVICON_BYTES:
            yield FetchedFavicon(response.meta["page_url"], response.url, response.body)

    # --- errors --------------------------------------------------------------------------------

    def skip(self, url: str, reason: str) -> None:
        """Count and log a page that could not be used; the crawl goes on."""
        self.skips += 1
        if len(self.skip_reasons) < MAX_KEPT_SKIPS:
            self.skip_reasons.append(f"{url}: {reason}")
        logger.info("skipped %s: %s", url, reason)

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        reason = describe_failure(failure)
        self.skip(url, reason)
        if request is not None and START_META in request.meta:
            self.start_failures[request.meta[START_META]] = reason

    def on_discovery_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        logger.debug("no %s: %s", request.url if request else "?", describe_failure(failure))


def describe_failure(failure: Failure) -> str:
    """One line about why a request failed: the HTTP status, or the error and its message
    (only the message where a middleware chose to drop the request and said why)."""
    value = failure.value
    response = getattr(value, "response", None)
    if response is not None and hasattr(response, "status"):
        return f"HTTP {response.status}"
    message = str(value).strip().splitlines()[0] if str(value).strip() else ""
    name = type(value).__name__
    if isinstance(value, IgnoreRequest) and message:
        return message
    return f"{name}: {message}" if message else name
