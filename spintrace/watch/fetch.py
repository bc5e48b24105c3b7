"""Conditional fetches of the small files a watch round reads: feeds, sitemaps, home pages,
robots.txt, ads.txt and sellers.json.

Article pages go through the Scrapy crawler (politeness, robots.txt, captures); these files are
read directly, one request each, with the validators of the last answer (``If-None-Match``,
``If-Modified-Since``) so an unchanged one costs a ``304`` and no body. Each is bounded in size
and time, and robots.txt is obeyed for them too (protego, Scrapy's own parser).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from spintrace._version import __version__

__all__ = ["Answer", "FetchFailed", "Robots", "backoff", "fetch", "gunzipped"]

# The sitemaps protocol's own limit (50 MiB uncompressed) bounds every file a round reads.
MAX_BYTES = 50 * 1024 * 1024
RETRY_BASE_SECONDS = 60.0
TIMEOUT_SECONDS = 20.0
USER_AGENT = f"spintrace/{__version__} (+https://github.com/spintrace/spintrace; watch)"


class FetchFailed(Exception):
    """A fetch that gave nothing usable: refused, timed out, an error status, too large."""


@dataclass(frozen=True)
class Answer:
    """``status`` 200 with a ``body`` and the validators to send next time, or 304."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch(
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BYTES,
    hosts: Mapping[str, str] | None = None,
) -> Answer:
    """GET ``url``, conditionally when validators are given; :class:`FetchFailed` otherwise.

    ``hosts`` (the demo's loopback map, as the crawler's ``SPINTRACE_LOOPBACK_HOSTS``) sends a
    request for a mapped host name to its ``127.0.0.1:PORT`` instead, over plain HTTP.
    """
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    parts = urlsplit(url)
    mapped = hosts.get(parts.hostname or "") if hosts else None
    if mapped:
        headers["Host"] = parts.netloc
        url = urlunsplit(("http", mapped, parts.path, parts.query, ""))
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            body = answer.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FetchFailed(f"larger than {max_bytes} bytes")
            return Answer(
                200,
                body,
                answer.headers.get("ETag"),
                answer.headers.get("Last-Modified"),
                answer.headers.get("Content-Type", ""),
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Answer(304, b"", etag, last_modified)
        raise FetchFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchFailed(f"{type(exc).__name__}: {reason}") from None
    except Exception as exc:  # http.client oddities: a dropped connection, a bad status line
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None


def gunzipped(body: bytes, max_bytes: int = MAX_BYTES) -> bytes:
    """``body`` itself, or its content when it is gzip data (a ``sitemap.xml.gz``), bounded:
    :class:`FetchFailed` when it is corrupt or larger than ``max_bytes`` once unpacked."""
    if body[:2] != b"\x1f\x8b":
        return body
    unpacker = zlib.decompressobj(wbits=31)
    try:
        data = unpacker.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise FetchFailed(f"corrupt gzip data: {exc}") from None
    if len(data) > max_bytes or unpacker.unconsumed_tail:
        raise FetchFailed(f"larger than {max_bytes} bytes once unpacked")
    return data


def backoff(failures: int, cap_seconds: float) -> timedelta:
    """How long to wait after ``failures`` failed checks in a row: a minute, doubling with each
    failure, at most ``cap_seconds`` (a watched list's own interval)."""
    exponent = min(max(failures, 1) - 1, 30)
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2**exponent, cap_seconds))


class Robots:
    """robots.txt per host, fetched once per round (RFC 9309: a 4xx answer allows all, an
    unreachable or 5xx one disallows all)."""

    def __init__(self, hosts: Mapping[str, str] | None = None) -> None:
        self._rules: dict[str, Protego | str] = {}
        self.hosts = hosts

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets spintrace fetch ``url``; :class:`FetchFailed` when the site
        cannot say (robots.txt unreachable or 5xx: nothing may be fetched)."""
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        if root not in self._rules:
            try:
                text = fetch(f"{root}/robots.txt", max_bytes=500_000, hosts=self.hosts).body
                self._rules[root] = Protego.parse(text.decode("utf-8", "replace"))
            except FetchFailed as exc:
                client_error = str(exc).startswith("HTTP 4")  # no robots.txt: all allowed
                self._rules[root] = Protego.parse("") if client_error else str(exc)
        rules = self._rules[root]
        if isinstance(rules, str):
            raise FetchFailed(f"robots.txt unreachable ({rules})")
        return bool(rules.can_fetch(url, USER_AGENT))
