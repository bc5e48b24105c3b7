"""A Scrapy download handler that serves chosen host names from loopback servers.

``spintrace demo`` crawls sites such as ``https://harbourgazette.example/`` that exist only as
loopback servers started by the demo (``127.0.0.1``, one ephemeral port per site). With

    DOWNLOAD_HANDLERS = {"http": "spintrace.crawler.hostmap.LoopbackHostsHandler",
                         "https": "spintrace.crawler.hostmap.LoopbackHostsHandler"}
    SPINTRACE_LOOPBACK_HOSTS = {"harbourgazette.example": "127.0.0.1:41234", ...}

a request for a mapped host is fetched over plain HTTP from its loopback address by Scrapy's own
HTTP handler, and the response keeps the request's URL. Everything above the download handler
(robots.txt, redirects, the spider's scope, download slots, captures, sites in the database)
sees the real host names, so stored URLs are ``https://harbourgazette.example/...``, not
``http://127.0.0.1:41234/...``. A request for any other host fails (a skip), and a target
that is not a loopback address is refused when the crawl starts: a crawl through this handler
cannot leave the machine. No DNS lookup is made and no proxy is used.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.misc import build_from_crawler, load_object

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

__all__ = [
    "HOSTS_SETTING",
    "LoopbackHostsHandler",
    "loopback_hosts",
    "loopback_target",
    "map_request",
]

HOSTS_SETTING = "SPINTRACE_LOOPBACK_HOSTS"


def loopback_target(target: str) -> str:
    """``target`` (``HOST:PORT``) if HOST is a loopback address, else :class:`ValueError`."""
    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        port_ok = bool(sep) and 0 < int(port) < 65536
    except ValueError:
        loopback = port_ok = False
    if not (loopback and port_ok):
        raise ValueError(f"{HOSTS_SETTING}: {target!r} is not a loopback HOST:PORT")
    return target


def loopback_hosts(mapping: dict[Any, Any]) -> dict[str, str]:
    """``{host: "127.0.0.1:PORT"}`` with lower-case hosts; :class:`ValueError` for a target
    that is not a loopback address."""
    return {str(name).lower(): loopback_target(str(target)) for name, target in mapping.items()}


def map_request(request: Request, hosts: dict[str, str]) -> Request:
    """The request to send: the same, to its host's loopback address, over plain HTTP.

    :class:`~scrapy.exceptions.IgnoreRequest` when the host is not in ``hosts``.
    """
    parts = urlsplit(request.url)
    host = (parts.hostname or "").lower()
    target = hosts.get(host)
    if target is None:
        raise IgnoreRequest(f"{host or request.url} is not served on loopback")
    meta = {k: v for k, v in request.meta.items() if k not in ("proxy", "_auth_proxy")}
    return request.replace(
        url=urlunsplit(("http", target, parts.path or "/", parts.query, "")), meta=meta
    )


class LoopbackHostsHandler:
    """Download handler for http and https: mapped hosts from loopback, others refused."""

    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        self.hosts = loopback_hosts(crawler.settings.getdict(HOSTS_SETTING))
        base = crawler.settings.getdict("DOWNLOAD_HANDLERS_BASE")
        self._http: Any = build_from_crawler(load_object(base["http"]), crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LoopbackHostsHandler:
        return cls(crawler)

    async def download_request(self, request: Request) -> Response:
        response: Response = await self._http.download_request(map_request(request, self.hosts))
        return response.replace(url=request.url)

    async def close(self) -> None:
        await self._http.close()
