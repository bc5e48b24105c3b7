"""The demo's content farms: one website per page domain of the demo data (:data:`FARMS`).

Two operators run three farms each. An operator's farms share a theme, account IDs and the
output of one spinner (they republish the same spun articles); the two operators share
nothing but the common synonyms every thesaurus spinner produces.

The suspect pages given as HTML are served as they are; those given as text are rendered into
the farm's theme (``demo/data/site/THEME-article.html`` inside ``THEME-page.html``:
navigation, ad blocks, related links, comments, the farm's name and its tracking and ad IDs).
Around them: a home page, category/section/tag/author pages, service pages (about, contact,
DMCA, privacy), short teaser pages behind the farm's click-bait links, a sitemap and a feed.
Only the suspect pages are articles; every other page is a non-article (a listing, or a short
page under a "More stories" list of headlines), and every same-site link leads to a page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from string import Template
from typing import Any
from urllib.parse import urljoin, urlsplit

from spintrace.demo.content import (
    TEXT,
    XML,
    DemoSite,
    escape,
    first_sentence,
    html_reply,
    load_template,
    paragraph_tags,
    route_path,
    rss_reply,
    split_paragraphs,
    urlset_reply,
)
from spintrace.demo.loopback import Reply

__all__ = [
    "EXCHANGE",
    "EXCHANGE_SELLERS",
    "FARMS",
    "SELLERS",
    "SMALL_NETWORK",
    "UNDATED",
    "Farm",
    "ads_txt",
    "farm_site",
]

# The demo's ad systems: a big exchange every farm sells through (one account, listed DIRECT,
# as a reseller network's clients list it on thousands of unrelated sites; its sellers.json
# says it is an INTERMEDIARY: weak evidence), a reseller line, and a small network whose one
# PUBLISHER account is shared by the buzz farms (strong evidence of one payee, though each has
# its own AdSense ID). ``SELLERS`` and ``EXCHANGE_SELLERS`` are their sellers.json files.
BIG_EXCHANGE = "bigexchange.example, 12345, DIRECT"
EXCHANGE = "bigexchange.example"
EXCHANGE_SELLERS = {
    "version": "1.0",
    "sellers": [
        {"seller_id": "12345", "name": "Acme Reseller Network", "domain": "acme-ads.example",
         "seller_type": "INTERMEDIARY"},
    ],
}  # fmt: skip
SMALL_NETWORK = "smallads.example"
SELLERS = {
    "version": "1.0",
    "contact_email": "adops@smallads.example",
    "sellers": [
        {"seller_id": "buzz-77", "name": "Buzz Media Ltd", "domain": "buzzmedia.example",
         "seller_type": "PUBLISHER"},
        {"seller_id": "resell-9", "name": "Resold Inventory Co", "seller_type": "INTERMEDIARY"},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Farm:
    """What differs between the demo farms besides their articles.

    ``operator`` names who runs the farm (the demo's truth for the network report): an
    operator's farms share a theme, account IDs and one spinner's output.
    """

    name: str
    operator: str
    # Its templates: demo/data/site/THEME-page.html and THEME-article.html.
    theme: str
    analytics: str
    adsense: str
    feed: str
    # Listing pages that list every article (the others list the articles under their path).
    main_listings: tuple[str, ...]
    # Click-bait links in "Related articles": (path, title); ``{date}`` is the article's date.
    related: tuple[tuple[str, str], ...]
    sitemap_index: bool


def _trendy_mag(name: str, analytics: str, related: tuple[str, ...]) -> Farm:
    """A farm of the first operator: WordPress with the trendy-mag theme, one AdSense payee."""
    return Farm(
        name=name,
        operator="trendy-mag network",
        theme="trendy-mag",
        analytics=analytics,
        adsense="ca-pub-1234567890123456",
        feed="/feed/",
        main_listings=("/", "/category/news/", "/author/admin/", "/tag/news/"),
        related=tuple((f"/{{date}}/{slug}/", "") for slug in related),
        sitemap_index=True,
    )


def _buzz(name: str, adsense: str, related: tuple[str, ...]) -> Farm:
    """A farm of the second operator: its own "buzz" CMS, one Google Analytics property."""
    return Farm(
        name=name,
        operator="buzz network",
        theme="buzz",
        analytics="G-DEMO67890",
        adsense=adsense,
        feed="/rss.xml",
        main_listings=("/", "/news/"),
        related=tuple((f"/news/{slug}.html", "") for slug in related),
        sitemap_index=False,
    )


FARMS = {
    "dailytrendwire.example": _trendy_mag(
        "DailyTrendWire",
        "G-DEMO12345",
        (
            "experts-reveal-the-best-time-to-book-summer-holidays",
            "local-man-wins-big-on-scratchcard-after-buying-it-by-mistake",
            "why-everyone-is-talking-about-this-new-kitchen-gadget",
        ),
    ),
    "newsbuzzhub.example": _buzz(
        "NewsBuzzHub",
        "ca-pub-6543210987654321",
        (
            "council-tax-bills-set-to-rise-again-what-you-need-to-know-15038",
            "scientists-baffled-by-strange-lights-over-lake-14256",
            "top-7-seaside-towns-to-visit-this-year-13358",
        ),
    ),
    "viralpulsedaily.example": _trendy_mag(
        "ViralPulseDaily",
        "G-DEMO24680",
        ("doctors-stunned-by-this-simple-morning-habit",),
    ),
    "topstorynow.example": _trendy_mag(
        "TopStoryNow",
        "G-DEMO13579",
        ("the-one-thing-every-gardener-gets-wrong-in-spring",),
    ),
    "buzzlinetoday.example": _buzz(
        "BuzzLineToday",
        "ca-pub-6543210987650011",
        ("pensioner-finds-lottery-ticket-in-old-coat-23114",),
    ),
    "localbuzzwire.example": _buzz(
        "LocalBuzzWire",
        "ca-pub-6543210987650022",
        ("village-pub-named-best-in-the-country-31007",),
    ),
}
"""The demo's content farms, by host: two operators of three farms each."""

_SERVICE = re.compile(r"about|contact|dmca|privacy|terms", re.IGNORECASE)
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_DATE_PATH = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/")
# The date of a farm page whose URL has none: after every demo source. A page with a visible
# date also spares trafilatura's date search a slow fallback (seconds, in dateparser).
UNDATED = "2026-04-21"


@dataclass(frozen=True)
class _Layout:
    """One farm, its origin and its page template."""

    page: Template
    farm: Farm
    base: str

    def render(self, title: str, content: str, body_class: str, head: str = "") -> str:
        """A whole page of the farm: ``content`` in its frame, ``head`` in its head."""
        farm = self.farm
        return self.page.substitute(
            title=escape(title),
            content=content,
            body_class=body_class,
            head=head,
            name=escape(farm.name),
            base=escape(self.base),
            analytics=farm.analytics,
            adsense=farm.adsense,
        )


def _title_of(path: str) -> str:
    """A title made from a path's last segment (``home`` for ``/``): its words capitalised."""
    slug = [s for s in path.split("/") if s][-1] if path.strip("/") else "home"
    slug = re.sub(r"-\d+\.html$|\.html$", "", slug)
    return " ".join(word.capitalize() for word in slug.split("-"))


# --- article pages -------------------------------------------------------------------------------


def _related_links(farm: Farm, base: str, day: str) -> str:
    """The "Related articles" items of an article of ``day``: the farm's click-bait links."""
    return "\n".join(
        f'        <li><a href="{escape(base + link.format(date=day.replace("-", "/")))}">'
        f"{escape(name or _title_of(link))}</a></li>"
        for link, name in farm.related
    )


def _day_of(record: dict[str, Any], path: str) -> str:
    """The day an article shows: its record's ``published`` day, else its URL's, else
    :data:`UNDATED`."""
    if record.get("published"):
        return str(record["published"])[:10]
    dated = _DATE_PATH.search(path)
    return "-".join(dated.groups()) if dated else UNDATED


def _article_page(
    layout: _Layout, article: Template, base: str, record: dict[str, Any], path: str, title: str
) -> str:
    """The page of a suspect page given as text: rendered into the farm's article template."""
    paragraphs = split_paragraphs(str(record["text"]))
    day = _day_of(record, path)
    content = article.substitute(
        headline=escape(title),
        date=day,
        minutes=max(1, len(str(record["text"]).split()) // 200),
        lead=paragraph_tags(paragraphs[:3]),
        rest=paragraph_tags(paragraphs[3:]),
        related=_related_links(layout.farm, base, day),
        adsense=layout.farm.adsense,
    )
    head = "\n".join(
        [
            f'  <meta name="description" content="{escape(first_sentence(record["text"]))}">',
            f'  <link rel="canonical" href="{escape(record["url"])}">',
        ]
    )
    return layout.render(title, content, "single single-post", head)


def _add_articles(
    site: DemoSite, layout: _Layout, pages: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """Adds a page per suspect page record to ``site``; returns their (path, headline)."""
    article = load_template(f"{layout.farm.theme}-article.html")
    articles: list[tuple[str, str]] = []
    for record in pages:
        path = route_path(record["url"])
        title = str(record.get("title") or _title_of(path))
        articles.append((path, title))
        site.articles.append(path)
        if record.get("html"):
            site.routes[path] = html_reply(str(record["html"]))
        else:
            page = _article_page(layout, article, site.base, record, path, title)
            site.routes[path] = html_reply(page)
    return articles


# --- the pages the articles link to --------------------------------------------------------------


def _listing_title(path: str) -> str:
    """The heading of the listing page at ``path`` (``Category: news``, ``News``, ...)."""
    parts = [s for s in path.split("/") if s]
    return (
        "Latest Trending News"
        if not parts
        else f"{parts[0].capitalize()}: {parts[1]}"
        if len(parts) > 1
        else parts[0].capitalize()
    )


def _click_bait(farm: Farm) -> list[tuple[str, str]]:
    """The farm's click-bait links as (path, headline), as its listings show them."""
    return [(link.format(date="2026/03/16"), _title_of(link)) for link, _ in farm.related]


def _headline_items(entries: list[tuple[str, str]]) -> str:
    """``<li>`` items linking each (path, headline) of ``entries``."""
    return "\n".join(
        f'      <li><a href="{escape(href)}">{escape(name)}</a></li>' for href, name in entries
    )


def _listing_page(layout: _Layout, articles: list[tuple[str, str]], path: str) -> str:
    """A listing page: every article (main listings) or those under ``path``, then the
    farm's click-bait links."""
    farm = layout.farm
    if path in farm.main_listings:
        chosen = articles
    else:
        chosen = [a for a in articles if a[0].startswith(path)]
    entries = _headline_items([*chosen, *_click_bait(farm)])
    title = _listing_title(path)
    content = f'    <h1 class="page-title">{escape(title)}</h1>\n    <ul class="post-list">\n'
    return layout.render(title, content + entries + "\n    </ul>", "archive")


def _filler_page(layout: _Layout, path: str, articles: list[tuple[str, str]]) -> str:
    """A short non-article page: a service page (about, contact, ...) or a teaser, then the
    farm's "More stories" headlines (mostly links, as a crawler tells a non-article by its
    structure, never by its length)."""
    farm = layout.farm
    title = _title_of(path)
    if _SERVICE.search(path):
        text = (
            f"{farm.name} brings you the latest trending stories from around the web. "
            "To get in touch, use the contact page."
        )
    else:
        text = f"This story is being updated. Check back soon on {farm.name} for more."
    more = _headline_items([*articles, *_click_bait(farm)])
    content = (
        f"    <h1>{escape(title)}</h1>\n    <p>{escape(text)}</p>\n"
        f'    <h3>More stories</h3>\n    <ul class="post-list">\n{more}\n    </ul>'
    )
    return layout.render(title, content, "page")


def _same_site_links(site: DemoSite) -> set[str]:
    """The routes every HTML page of ``site`` links to on the site itself (http or https)."""
    links = set()
    for path, reply in site.routes.items():
        if not reply.headers[0][1].startswith("text/html"):
            continue
        page_url = site.base + path
        for href in _HREF.findall(reply.body.decode("utf-8", "replace")):
            target = urljoin(page_url, html.unescape(href))
            parts = urlsplit(target)
            if parts.hostname == site.host and parts.scheme in ("http", "https"):
                links.add(route_path(target))
    return links


def _is_listing(path: str) -> bool:
    """Whether a linked ``path`` is a listing: home, category/tag/author, or a top folder."""
    segments = [s for s in path.split("/") if s]
    return (
        not segments
        or segments[0] in ("category", "tag", "author")
        or (len(segments) == 1 and path.endswith("/"))
    )


def _add_link_targets(site: DemoSite, layout: _Layout, articles: list[tuple[str, str]]) -> None:
    """Adds a page at every same-site link of ``site`` that leads nowhere yet, until none does:
    listings, service pages and teaser pages (new pages bring new links)."""
    while True:
        missing = _same_site_links(site) - set(site.routes)
        if not missing:
            break
        for path in sorted(missing):
            if _SERVICE.search(path) or not _is_listing(path):
                site.routes[path] = html_reply(_filler_page(layout, path, articles))
            else:
                site.routes[path] = html_reply(_listing_page(layout, articles, path))


# --- feed, sitemaps, robots.txt ------------------------------------------------------------------


def _sitemap_index(base: str) -> Reply:
    """The sitemap index naming the post and the category sitemaps."""
    return Reply(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{base}/post-sitemap.xml</loc></sitemap>"
            f"<sitemap><loc>{base}/category-sitemap.xml</loc></sitemap>"
            "</sitemapindex>\n"
        ).encode(),
        headers=XML,
    )


def _add_discovery_files(site: DemoSite, farm: Farm, articles: list[tuple[str, str]]) -> None:
    """Adds the feed (its first three articles), the sitemaps and ``/robots.txt``: a sitemap
    index named in robots.txt, or a lone ``/sitemap.xml`` robots.txt does not name."""
    base = site.base
    site.routes[farm.feed] = rss_reply(
        farm.name, base, [(path, title, title, None) for path, title in articles[:3]]
    )
    listings = sorted(p for p, r in site.routes.items() if b'class="archive"' in r.body)
    entries: list[tuple[str, str | None]] = [(path, None) for path, _ in articles]
    if farm.sitemap_index:
        robots = f"User-agent: *\nDisallow: /wp-admin/\nSitemap: {base}/sitemap_index.xml\n"
        site.routes["/post-sitemap.xml"] = urlset_reply(base, entries)
        site.routes["/category-sitemap.xml"] = urlset_reply(base, [(p, None) for p in listings])
        site.routes["/sitemap_index.xml"] = _sitemap_index(base)
    else:
        robots = "User-agent: *\nDisallow: /admin/\n"  # no Sitemap line: /sitemap.xml is tried
        site.routes["/sitemap.xml"] = urlset_reply(base, entries)
    site.routes["/robots.txt"] = Reply(robots.encode(), headers=TEXT)


def ads_txt(farm: Farm) -> str:
    """The farm's ``/ads.txt``: its AdSense account, the big exchange, and (buzz farms) the
    small network's shared publisher account."""
    lines = [
        "# ads.txt",
        f"google.com, {farm.adsense.removeprefix('ca-')}, DIRECT, f08c47fec0942fa0",
        BIG_EXCHANGE,
        f"{SMALL_NETWORK}, resell-9, RESELLER",
    ]
    if farm.operator == "buzz network":
        lines.append(f"{SMALL_NETWORK}, buzz-77, DIRECT")
    lines.append("contact=ads@" + farm.name.lower() + ".example")
    return "\n".join(lines) + "\n"


def farm_site(host: str, pages: list[dict[str, Any]]) -> DemoSite:
    """A content farm serving ``pages`` (demo/data records of one host) and its filler pages."""
    farm = FARMS[host]
    scheme = urlsplit(pages[0]["url"]).scheme or "https"
    site = DemoSite(host, "page", farm.name, scheme)
    layout = _Layout(load_template(f"{farm.theme}-page.html"), farm, site.base)
    articles = _add_articles(site, layout, pages)
    _add_link_targets(site, layout, articles)
    _add_discovery_files(site, farm, articles)
    site.routes["/ads.txt"] = Reply(ads_txt(farm).encode(), headers=TEXT)
    return site
