"""A tiny HTTP server on 127.0.0.1 and a generated news site, for tests, benchmarks and demos.

Crawls in tests never leave the machine: :class:`LoopbackServer` serves fixed
:class:`Reply` objects (or computes them) from a thread, and :func:`news_site` builds a
publisher site with every way spintrace discovers articles: robots.txt, a sitemap index, two
sitemaps, an RSS feed, category pages with pagination, and articles only some of those lead to.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["LoopbackServer", "Reply", "article_html", "news_site"]

HTML = (("Content-Type", "text/html; charset=utf-8"),)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers, body, and how long to wait before sending it."""

    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = HTML
    delay: float = 0.0


Fallback = Callable[[str], Reply | None]


class LoopbackServer:
    """Serves ``routes`` (path with query -> reply) on ``host`` (loopback), on a free port.

    ``fallback`` answers paths missing from ``routes`` (``None`` -> 404). ``hits`` counts
    requests per path, ``full`` the answers with a body (not 304). A 200 answer carries an
    ``ETag`` (a hash of its body) unless it has one, and a request whose ``If-None-Match``
    names it gets ``304 Not Modified``, as a real server's would. While ``down`` is true every
    request gets ``503``. Use as a context manager; ``url`` is the base URL without a slash.
    """

    def __init__(
        self,
        routes: dict[str, Reply] | None = None,
        fallback: Fallback | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.routes: dict[str, Reply] = dict(routes or {})
        self.fallback = fallback
        self.hits: Counter[str] = Counter()
        self.full: Counter[str] = Counter()
        self.down = False
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] += 1
                    server.user_agents.add(self.headers.get("User-Agent", ""))
                reply = server.routes.get(self.path)
                if reply is None and server.fallback is not None:
                    reply = server.fallback(self.path)
                if reply is None:
                    reply = Reply(b"<html><body>not found</body></html>", status=404)
                if server.down:
                    reply = Reply(b"down for maintenance", status=503)
                if reply.delay:
                    time.sleep(reply.delay)
                headers = list(reply.headers)
                if reply.status == 200 and not any(n.lower() == "etag" for n, _ in headers):
                    headers.append(("ETag", f'"{hashlib.sha1(reply.body).hexdigest()[:16]}"'))
                etag = next((v for n, v in headers if n.lower() == "etag"), None)
                body, status = reply.body, reply.status
                if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    body, status = b"", 304
                elif body:
                    with server._lock:
                        server.full[self.path] += 1
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        # A short poll: shutdown() waits up to one interval, and the demo stops 13 servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


_WORDS = (
    "council harbour budget school river market station museum bridge festival hospital "
    "library farmers rainfall tourism railway election engineers residents volunteers "
    "committee planning forecast harvest exports factory airport coastline heritage housing"
).split()


def _paragraph(seed: int, words: int = 60) -> str:
    """A paragraph of ``words`` filler words, the same for the same ``seed``."""
    out = []
    for i in range(words):
        out.append(_WORDS[(seed * 7 + i * (seed % 5 + 3)) % len(_WORDS)])
        if i % 12 == 11:
            out[-1] += "."
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def article_html(number: int, base: str, extra: str = "") -> bytes:
    """A news article page: headline, byline, four paragraphs (about 250 words), a nav."""
    paragraphs = "".join(
        f"<p>Story {number} part {k}: {_paragraph(number * 4 + k)}</p>" for k in range(4)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Article {number}</title><meta property='og:type' content='article'>"
        f"<link rel='canonical' href='{base}/news/article-{number}.html'></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/category/news/'>News</a></nav>"
        f"<article><h1>Article {number}</h1><p class='byline'>By Staff Writer</p>"
        f"{paragraphs}{extra}</article></body></html>"
    ).encode()


def _listing(title: str, links: list[str], extra: str = "") -> bytes:
    """A listing page titled ``title`` linking to ``links``; ``extra`` goes in its head."""
    items = "".join(f"<li><a href='{href}'>Read the story at {href}</a></li>" for href in links)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{extra}</head>"
        f"<body><h1>{title}</h1><ul>{items}</ul></body></html>"
    ).encode()


def news_site(base: str, articles: int = 30, per_page: int = 10) -> dict[str, Reply]:
    """Routes of a publisher site at ``base`` with ``articles`` article pages.

    Article ``i`` is listed in a sitemap when ``i % 3 == 0``, in the RSS feed when
    ``i % 3 == 1`` and only on the paginated category pages when ``i % 3 == 2``; all of them
    are on the category pages. ``/private/`` is disallowed by robots.txt and linked from home.
    """
    xml = (("Content-Type", "application/xml"),)
    paths = [f"/news/article-{i}.html" for i in range(articles)]
    routes = {path: Reply(article_html(i, base)) for i, path in enumerate(paths)}
    in_sitemap = paths[0::3]
    half = (len(in_sitemap) + 1) // 2
    for name, chunk in (("sitemap-1.xml", in_sitemap[:half]), ("sitemap-2.xml", in_sitemap[half:])):
        locs = "".join(f"<url><loc>{base}{p}</loc></url>" for p in chunk)
        routes[f"/{name}"] = Reply(
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + locs.encode()
            + b"</urlset>",
            headers=xml,
        )
    routes["/sitemap_index.xml"] = Reply(
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + f"<sitemap><loc>{base}/sitemap-1.xml</loc></sitemap>".encode()
        + f"<sitemap><loc>{base}/sitemap-2.xml</loc></sitemap>".encode()
        + b"</sitemapindex>",
        headers=xml,
    )
    items = "".join(
        f"<item><title>Article {i}</title><link>{base}{paths[i]}</link></item>"
        for i in range(1, articles, 3)
    )
    routes["/feed.xml"] = Reply(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>News</title>{items}"
        "</channel></rss>".encode(),
        headers=(("Content-Type", "application/rss+xml"),),
    )
    routes["/robots.txt"] = Reply(
        f"User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap_index.xml\n".encode(),
        headers=(("Content-Type", "text/plain"),),
    )
    pages = max(1, -(-articles // per_page))
    for page in range(1, pages + 1):
        chunk = [p for i, p in enumerate(paths) if i % 3 == 2][
            (page - 1) * per_page : page * per_page
        ]
        chunk += [p for i, p in enumerate(paths) if i % 3 != 2][
            (page - 1) * per_page : page * per_page
        ]
        nav = f"<a href='/category/news/page/{page + 1}/'>Older</a>" if page < pages else ""
        path = "/category/news/" if page == 1 else f"/category/news/page/{page}/"
        routes[path] = Reply(
            _listing(f"News, page {page}", chunk).replace(b"</ul>", b"</ul>" + nav.encode())
        )
    feed_link = "<link rel='alternate' type='application/rss+xml' href='/feed.xml'>"
    routes["/"] = Reply(_listing("Home", ["/category/news/", "/private/secret.html"], feed_link))
    routes["/private/secret.html"] = Reply(article_html(999_999, base))
    return routes
