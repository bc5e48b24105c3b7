"""The websites ``spintrace demo`` crawls: publishers and content farms built from demo/data.

Every page is generated from the bundled, public-domain demo data (demo/data/LICENSE.txt) and
the templates in ``demo/data/site/``, so the sites are as redistributable as the data:

- one **publisher** site per source domain (``harbourgazette.example``, ...): each source as an
  article page (headline, byline, date, ``og:type`` article), a home page, a category page per
  section, an about page, ``/sitemap.xml`` (named in robots.txt) and an RSS feed;
- one **content farm** per page domain (``dailytrendwire.example``, ``newsbuzzhub.example``):
  the suspect pages given as HTML are served as they are, those given as text are rendered
  into the farm's own template (navigation, ad blocks, related links, comments, its tracking
  and ad IDs); plus a home page, category/section/tag/author pages, service pages (about,
  contact, DMCA, privacy), short teaser pages behind the farm's click-bait links, a sitemap
  and a feed. Only the suspect pages are articles; every other page is a non-article.

Every same-site link on every page leads to a page, so the crawl has nothing to skip.
:class:`DemoServers` serves each site from its own :class:`~spintrace.demo.loopback.
LoopbackServer` on 127.0.0.1 (an ephemeral port); the crawl reaches them under their real
``https://*.example`` names through :class:`spintrace.crawler.hostmap.LoopbackHostsHandler`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from importlib import resources
from string import Template
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

from spintrace.crawler.hostmap import HOSTS_SETTING
from spintrace.demo.loopback import LoopbackServer, Reply
from spintrace.records import Role

__all__ = [
    "DemoServers",
    "DemoSite",
    "build_sites",
    "crawl_settings",
    "load_jsonl",
]

XML = (("Content-Type", "application/xml; charset=utf-8"),)
RSS = (("Content-Type", "application/rss+xml; charset=utf-8"),)
TEXT = (("Content-Type", "text/plain; charset=utf-8"),)

PUBLISHER_NAMES = {
    "harbourgazette.example": "The Harbour Gazette",
    "valleytechreport.example": "Valley Tech Report",
    "northernledger.example": "The Northern Ledger",
    "dunmerecourier.example": "Dunmere Courier",
    "scienceweekly-north.example": "Science Weekly North",
    "businessdesk-midlands.example": "BusinessDesk Midlands",
    "kelshamarts.example": "Kelsham Arts",
}


@dataclass(frozen=True)
class Farm:
    """What differs between the two demo farms besides their templates."""

    name: str
    feed: str
    # Listing pages that list every article (the others list the articles under their path).
    main_listings: tuple[str, ...]
    # Click-bait links in "Related articles": (path, title); ``{date}`` is the article's date.
    related: tuple[tuple[str, str], ...]
    sitemap_index: bool


FARMS = {
    "dailytrendwire.example": Farm(
        name="DailyTrendWire",
        feed="/feed/",
        main_listings=("/", "/category/news/", "/author/admin/", "/tag/news/"),
        related=(
            ("/{date}/experts-reveal-the-best-time-to-book-summer-holidays/", ""),
            ("/{date}/local-man-wins-big-on-scratchcard-after-buying-it-by-mistake/", ""),
            ("/{date}/why-everyone-is-talking-about-this-new-kitchen-gadget/", ""),
        ),
        sitemap_index=True,
    ),
    "newsbuzzhub.example": Farm(
        name="NewsBuzzHub",
        feed="/rss.xml",
        main_listings=("/", "/news/"),
        related=(
            ("/news/council-tax-bills-set-to-rise-again-what-you-need-to-know-15038.html", ""),
            ("/news/scientists-baffled-by-strange-lights-over-lake-14256.html", ""),
            ("/news/top-7-seaside-towns-to-visit-this-year-13358.html", ""),
        ),
        sitemap_index=False,
    ),
}

_SERVICE = re.compile(r"about|contact|dmca|privacy|terms", re.IGNORECASE)
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_DATE_PATH = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# The date of a farm page whose URL has none: after every demo source. A page with a visible
# date also spares trafilatura's date search a slow fallback (seconds, in dateparser).
UNDATED = "2026-04-21"


@dataclass
class DemoSite:
    """One demo website: its host, the role its pages get when crawled, and its routes."""

    host: str
    role: Role
    name: str
    scheme: str = "https"
    routes: dict[str, Reply] = field(default_factory=dict)
    articles: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def start_url(self) -> str:
        return f"{self.base}/"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """The records of a bundled demo data JSONL file."""
    text = (resources.files("spintrace.demo") / "data" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _template(name: str) -> Template:
    file = resources.files("spintrace.demo") / "data" / "site" / name
    return Template(file.read_text(encoding="utf-8"))


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def _p(paragraphs: Iterable[str], indent: str = "      ") -> str:
    return "\n".join(f"{indent}<p>{_esc(p)}</p>" for p in paragraphs)


def _first_sentence(text: str, limit: int = 155) -> str:
    first = _paragraphs(text)[0] if text.strip() else ""
    end = first.find(". ")
    sentence = first if end < 0 else first[: end + 1]
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "..."


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _html(body: str) -> Reply:
    return Reply(body.encode("utf-8"))


def _title_of(path: str) -> str:
    slug = [s for s in path.split("/") if s][-1] if path.strip("/") else "home"
    slug = re.sub(r"-\d+\.html$|\.html$", "", slug)
    return " ".join(word.capitalize() for word in slug.split("-"))


def _urlset(base: str, entries: Iterable[tuple[str, str | None]]) -> Reply:
    urls = "".join(
        f"<url><loc>{_esc(base + path)}</loc>{f'<lastmod>{day}</lastmod>' if day else ''}</url>"
        for path, day in entries
    )
    return Reply(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n'
        ).encode(),
        headers=XML,
    )


def _rss(title: str, base: str, items: Iterable[tuple[str, str, str, date | None]]) -> Reply:
    out = []
    for path, headline, summary, day in items:
        when = (
            f"<pubDate>{format_datetime(datetime.combine(day, time(7), UTC))}</pubDate>"
            if day
            else ""
        )
        out.append(
            f"<item><title>{_esc(headline)}</title><link>{_esc(base + path)}</link>"
            f"<description>{_esc(summary)}</description>{when}</item>"
        )
    return Reply(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{_esc(title)}</title><link>{_esc(base)}/</link>"
            f"<description>Latest from {_esc(title)}</description>{''.join(out)}"
            "</channel></rss>\n"
        ).encode(),
        headers=RSS,
    )


# --- publishers ----------------------------------------------------------------------------------


def _section(path: str) -> str:
    first = path.strip("/").split("/")[0]
    return first if first.isalpha() else "news"


def publisher_site(host: str, sources: list[dict[str, Any]]) -> DemoSite:
    """A small news site with ``sources`` (demo/data records of one host) as its articles."""
    scheme = urlsplit(sources[0]["url"]).scheme or "https"
    site = DemoSite(host, "source", PUBLISHER_NAMES.get(host, host), scheme)
    base = site.base
    page, article = _template("publisher-page.html"), _template("publisher-article.html")
    sections = sorted({_section(urlsplit(s["url"]).path) for s in sources})
    nav = "\n".join(f'      <a href="/category/{s}/">{s.capitalize()}</a>' for s in sections)

    def render(title: str, content: str, head: str = "") -> str:
        return page.substitute(
            title=_esc(title),
            site_name=_esc(site.name),
            base=base,
            head=head,
            nav=nav,
            content=content,
        )

    def listing(title: str, items: list[dict[str, Any]]) -> str:
        entries = "\n".join(
            f'        <li><h2><a href="{_esc(_path(s["url"]))}">{_esc(s["title"])}</a></h2>'
            f"<p>{_esc(_first_sentence(s['text']))}</p></li>"
            for s in items
        )
        return f'    <h1>{_esc(title)}</h1>\n    <ul class="stories">\n{entries}\n    </ul>'

    newest = sorted(sources, key=lambda s: str(s.get("published", "")), reverse=True)
    for source in sources:
        path = _path(source["url"])
        section = _section(urlsplit(source["url"]).path)
        day = date.fromisoformat(str(source["published"])[:10]) if source.get("published") else None
        others = [s for s in newest if s is not source and _section(_path(s["url"])) == section]
        more = (
            "\n".join(
                f'        <li><a href="{_esc(_path(s["url"]))}">{_esc(s["title"])}</a></li>'
                for s in others
            )
            or f'        <li><a href="/">More news from {_esc(site.name)}</a></li>'
        )
        content = article.substitute(
            headline=_esc(source["title"]),
            byline="Staff reporter",
            published=day.isoformat() if day else "",
            published_human=f"{day.day} {day:%B %Y}" if day else "",
            section_href=f"/category/{section}/",
            section_name=section.capitalize(),
            paragraphs=_p(_paragraphs(source["text"])),
            more=more,
        )
        head = "\n".join(
            [
                '  <meta property="og:type" content="article">',
                f'  <meta property="og:title" content="{_esc(source["title"])}">',
                f'  <meta name="description" content="{_esc(_first_sentence(source["text"]))}">',
                f'  <link rel="canonical" href="{_esc(source["url"])}">',
            ]
            + ([f'  <meta property="article:published_time" content="{day}">'] if day else [])
        )
        site.routes[path] = _html(render(source["title"], content, head))
        site.articles.append(path)
    site.routes["/"] = _html(render("Latest news", listing("Latest news", newest)))
    for section in sections:
        items = [s for s in newest if _section(urlsplit(s["url"]).path) == section]
        name = section.capitalize()
        site.routes[f"/category/{section}/"] = _html(render(name, listing(name, items)))
    site.routes["/about/"] = _html(
        render(
            "About us",
            f"    <h1>About us</h1>\n    <p>{_esc(site.name)} is an independent newsroom. "
            "Our reporters cover the stories that matter to the people who live here.</p>",
        )
    )
    site.routes["/robots.txt"] = Reply(
        f"User-agent: *\nDisallow: /search\nSitemap: {base}/sitemap.xml\n".encode(), headers=TEXT
    )
    site.routes["/sitemap.xml"] = _urlset(
        base,
        [("/", None)]
        + [(f"/category/{s}/", None) for s in sections]
        + [(_path(s["url"]), str(s.get("published") or "")[:10] or None) for s in newest],
    )
    site.routes["/feed.xml"] = _rss(
        site.name,
        base,
        [
            (
                _path(s["url"]),
                s["title"],
                _first_sentence(s["text"]),
                date.fromisoformat(str(s["published"])[:10]) if s.get("published") else None,
            )
            for s in newest
        ],
    )
    return site


# --- content farms -------------------------------------------------------------------------------


def farm_site(host: str, pages: list[dict[str, Any]]) -> DemoSite:
    """A content farm serving ``pages`` (demo/data records of one host) and its filler pages."""
    farm = FARMS[host]
    scheme = urlsplit(pages[0]["url"]).scheme or "https"
    site = DemoSite(host, "page", farm.name, scheme)
    base = site.base
    page = _template(f"{host}-page.html")
    article = _template(f"{host}-article.html")

    def render(title: str, content: str, body_class: str, head: str = "") -> str:
        return page.substitute(title=_esc(title), content=content, body_class=body_class, head=head)

    articles: list[tuple[str, str]] = []  # (path, headline)
    for record in pages:
        path = _path(record["url"])
        title = str(record.get("title") or _title_of(path))
        articles.append((path, title))
        site.articles.append(path)
        if record.get("html"):
            site.routes[path] = _html(str(record["html"]))
            continue
        paragraphs = _paragraphs(str(record["text"]))
        dated = _DATE_PATH.search(path)
        day = "-".join(dated.groups()) if dated else UNDATED
        related = "\n".join(
            f'        <li><a href="{_esc(base + link.format(date=day.replace("-", "/")))}">'
            f"{_esc(name or _title_of(link))}</a></li>"
            for link, name in farm.related
        )
        content = article.substitute(
            headline=_esc(title),
            date=day,
            minutes=max(1, len(str(record["text"]).split()) // 200),
            lead=_p(paragraphs[:3]),
            rest=_p(paragraphs[3:]),
            related=related,
        )
        head = "\n".join(
            [
                f'  <meta name="description" content="{_esc(_first_sentence(record["text"]))}">',
                f'  <link rel="canonical" href="{_esc(record["url"])}">',
            ]
        )
        site.routes[path] = _html(render(title, content, "single single-post", head))

    def listing_page(path: str) -> str:
        if path in farm.main_listings:
            chosen = articles
        else:
            chosen = [a for a in articles if a[0].startswith(path)]
        fillers = [(link.format(date="2026/03/16"), _title_of(link)) for link, _ in farm.related]
        entries = "\n".join(
            f'      <li><a href="{_esc(href)}">{_esc(name)}</a></li>'
            for href, name in [*chosen, *fillers]
        )
        parts = [s for s in path.split("/") if s]
        title = (
            "Latest Trending News"
            if not parts
            else f"{parts[0].capitalize()}: {parts[1]}"
            if len(parts) > 1
            else parts[0].capitalize()
        )
        content = f'    <h1 class="page-title">{_esc(title)}</h1>\n    <ul class="post-list">\n'
        return render(title, content + entries + "\n    </ul>", "archive")

    def filler_page(path: str) -> str:
        title = _title_of(path)
        if _SERVICE.search(path):
            text = (
                f"{farm.name} brings you the latest trending stories from around the web. "
                "To get in touch, use the contact page."
            )
        else:
            text = f"This story is being updated. Check back soon on {farm.name} for more."
        return render(title, f"    <h1>{_esc(title)}</h1>\n    <p>{_esc(text)}</p>", "page")

    # Every same-site link leads somewhere: listings, service pages, teaser pages.
    while True:
        missing = set()
        for path, reply in list(site.routes.items()):
            if not reply.headers[0][1].startswith("text/html"):
                continue
            page_url = base + path
            for href in _HREF.findall(reply.body.decode("utf-8", "replace")):
                target = urljoin(page_url, html.unescape(href))
                parts = urlsplit(target)
                if parts.hostname == host and parts.scheme in ("http", "https"):
                    missing.add(_path(target))
        missing -= set(site.routes)
        if not missing:
            break
        for path in sorted(missing):
            segments = [s for s in path.split("/") if s]
            is_listing = (
                not segments
                or segments[0] in ("category", "tag", "author")
                or (len(segments) == 1 and path.endswith("/"))
            )
            if _SERVICE.search(path) or not is_listing:
                site.routes[path] = _html(filler_page(path))
            else:
                site.routes[path] = _html(listing_page(path))

    site.routes[farm.feed] = _rss(
        farm.name, base, [(path, title, title, None) for path, title in articles[:3]]
    )
    listings = sorted(p for p, r in site.routes.items() if b'class="archive"' in r.body)
    entries = [(path, None) for path, _ in articles]
    if farm.sitemap_index:
        robots = f"User-agent: *\nDisallow: /wp-admin/\nSitemap: {base}/sitemap_index.xml\n"
        site.routes["/post-sitemap.xml"] = _urlset(base, entries)
        site.routes["/category-sitemap.xml"] = _urlset(base, [(p, None) for p in listings])
        site.routes["/sitemap_index.xml"] = Reply(
            (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{base}/post-sitemap.xml</loc></sitemap>"
                f"<sitemap><loc>{base}/category-sitemap.xml</loc></sitemap>"
                "</sitemapindex>\n"
            ).encode(),
            headers=XML,
        )
    else:
        robots = "User-agent: *\nDisallow: /admin/\n"  # no Sitemap line: /sitemap.xml is tried
        site.routes["/sitemap.xml"] = _urlset(base, entries)
    site.routes["/robots.txt"] = Reply(robots.encode(), headers=TEXT)
    return site


def build_sites(
    sources: list[dict[str, Any]] | None = None, pages: list[dict[str, Any]] | None = None
) -> list[DemoSite]:
    """The publisher sites (one per source host) then the farms (one per page host)."""
    sources = load_jsonl("sources.jsonl") if sources is None else sources
    pages = load_jsonl("pages.jsonl") if pages is None else pages
    sites = []
    for records, build in ((sources, publisher_site), (pages, farm_site)):
        by_host: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_host.setdefault(urlsplit(record["url"]).hostname or "", []).append(record)
        sites += [build(host, group) for host, group in by_host.items()]
    return sites


class DemoServers:
    """Serves each demo site from its own loopback server (127.0.0.1, an ephemeral port).

    ``hosts`` maps each site's host name to its ``127.0.0.1:PORT`` once started.
    """

    def __init__(self, sites: list[DemoSite]) -> None:
        self.sites = sites
        self.servers: dict[str, LoopbackServer] = {}
        self._stack = ExitStack()

    @property
    def hosts(self) -> dict[str, str]:
        return {host: s.url.removeprefix("http://") for host, s in self.servers.items()}

    @property
    def requests(self) -> int:
        return sum(sum(s.hits.values()) for s in self.servers.values())

    def __enter__(self) -> DemoServers:
        try:
            for site in self.sites:
                server = self._stack.enter_context(LoopbackServer(site.routes))
                self.servers[site.host] = server
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()


def crawl_settings(hosts: dict[str, str]) -> dict[str, Any]:
    """Scrapy settings of the demo crawls: the loopback host map, and no waiting between
    requests (the servers are the demo's own, on this machine; a real crawl stays polite)."""
    handler = "spintrace.crawler.hostmap.LoopbackHostsHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        HOSTS_SETTING: dict(hosts),
        "HTTPPROXY_ENABLED": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_TIMEOUT": 15,
        "RETRY_TIMES": 1,
        "CLOSESPIDER_TIMEOUT": 120,
    }
