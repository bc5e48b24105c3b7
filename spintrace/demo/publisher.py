"""The demo's publisher websites: one small news site per source domain of the demo data.

Each source is an article page (headline, byline, date, ``og:type`` article); around them a
home page, a category page per section, an about page, ``/robots.txt`` naming
``/sitemap.xml``, and an RSS feed (``/feed.xml``). Every page fills
``demo/data/site/publisher-page.html``; articles fill ``publisher-article.html`` inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from string import Template
from typing import Any
from urllib.parse import urlsplit

from spintrace.demo.content import (
    TEXT,
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

__all__ = ["PUBLISHER_NAMES", "publisher_site"]

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
class _Layout:
    """The publisher page template with what every page of one site shares."""

    page: Template
    site_name: str
    base: str
    nav: str

    def render(self, title: str, content: str, head: str = "") -> str:
        """A whole page of the site: ``content`` in the site's frame, ``head`` in its head."""
        return self.page.substitute(
            title=escape(title),
            site_name=escape(self.site_name),
            base=self.base,
            head=head,
            nav=self.nav,
            content=content,
        )


def _section(path: str) -> str:
    """The section of an article path: its first segment if all letters, else ``news``."""
    first = path.strip("/").split("/")[0]
    return first if first.isalpha() else "news"


def _published_day(source: dict[str, Any]) -> date | None:
    """The day ``source`` was published, ``None`` when it has no date."""
    return date.fromisoformat(str(source["published"])[:10]) if source.get("published") else None


def _navigation(sections: list[str]) -> str:
    """The site's navigation links: one per section's category page."""
    return "\n".join(f'      <a href="/category/{s}/">{s.capitalize()}</a>' for s in sections)


def _listing(title: str, items: list[dict[str, Any]]) -> str:
    """The content of a listing page: ``title`` and a linked headline and teaser per item."""
    entries = "\n".join(
        f'        <li><h2><a href="{escape(route_path(s["url"]))}">{escape(s["title"])}</a></h2>'
        f"<p>{escape(first_sentence(s['text']))}</p></li>"
        for s in items
    )
    return f'    <h1>{escape(title)}</h1>\n    <ul class="stories">\n{entries}\n    </ul>'


def _more_links(site_name: str, others: list[dict[str, Any]]) -> str:
    """An article's "more" list: the ``others`` of its section, or a link home if none."""
    return (
        "\n".join(
            f'        <li><a href="{escape(route_path(s["url"]))}">{escape(s["title"])}</a></li>'
            for s in others
        )
        or f'        <li><a href="/">More news from {escape(site_name)}</a></li>'
    )


def _article_content(
    article: Template, source: dict[str, Any], section: str, day: date | None, more: str
) -> str:
    """The content of ``source``'s article page: the article template, filled."""
    return article.substitute(
        headline=escape(source["title"]),
        byline="Staff reporter",
        published=day.isoformat() if day else "",
        published_human=f"{day.day} {day:%B %Y}" if day else "",
        section_href=f"/category/{section}/",
        section_name=section.capitalize(),
        paragraphs=paragraph_tags(split_paragraphs(source["text"])),
        more=more,
    )


def _article_head(source: dict[str, Any], day: date | None) -> str:
    """The head elements of ``source``'s article page: article metadata and its canonical URL."""
    return "\n".join(
        [
            '  <meta property="og:type" content="article">',
            f'  <meta property="og:title" content="{escape(source["title"])}">',
            f'  <meta name="description" content="{escape(first_sentence(source["text"]))}">',
            f'  <link rel="canonical" href="{escape(source["url"])}">',
        ]
        + ([f'  <meta property="article:published_time" content="{day}">'] if day else [])
    )


def _add_articles(
    site: DemoSite,
    layout: _Layout,
    sources: list[dict[str, Any]],
    newest: list[dict[str, Any]],
) -> None:
    """Adds an article page per source to ``site`` (``newest``: the sources, newest first)."""
    article = load_template("publisher-article.html")
    for source in sources:
        path = route_path(source["url"])
        section = _section(urlsplit(source["url"]).path)
        day = _published_day(source)
        others = [
            s for s in newest if s is not source and _section(route_path(s["url"])) == section
        ]
        content = _article_content(article, source, section, day, _more_links(site.name, others))
        head = _article_head(source, day)
        site.routes[path] = html_reply(layout.render(source["title"], content, head))
        site.articles.append(path)


def _add_listings(
    site: DemoSite, layout: _Layout, sections: list[str], newest: list[dict[str, Any]]
) -> None:
    """Adds the home page, a category page per section and the about page to ``site``."""
    site.routes["/"] = html_reply(layout.render("Latest news", _listing("Latest news", newest)))
    for section in sections:
        items = [s for s in newest if _section(urlsplit(s["url"]).path) == section]
        name = section.capitalize()
        site.routes[f"/category/{section}/"] = html_reply(
            layout.render(name, _listing(name, items))
        )
    site.routes["/about/"] = html_reply(
        layout.render(
            "About us",
            f"    <h1>About us</h1>\n    <p>{escape(site.name)} is an independent newsroom. "
            "Our reporters cover the stories that matter to the people who live here.</p>",
        )
    )


def _add_discovery_files(site: DemoSite, sections: list[str], newest: list[dict[str, Any]]) -> None:
    """Adds ``/robots.txt`` (naming the sitemap), ``/sitemap.xml`` and ``/feed.xml``."""
    base = site.base
    site.routes["/robots.txt"] = Reply(
        f"User-agent: *\nDisallow: /search\nSitemap: {base}/sitemap.xml\n".encode(), headers=TEXT
    )
    site.routes["/sitemap.xml"] = urlset_reply(
        base,
        [("/", None)]
        + [(f"/category/{s}/", None) for s in sections]
        + [(route_path(s["url"]), str(s.get("published") or "")[:10] or None) for s in newest],
    )
    site.routes["/feed.xml"] = rss_reply(
        site.name,
        base,
        [
            (route_path(s["url"]), s["title"], first_sentence(s["text"]), _published_day(s))
            for s in newest
        ],
    )


def publisher_site(host: str, sources: list[dict[str, Any]]) -> DemoSite:
    """A small news site with ``sources`` (demo/data records of one host) as its articles."""
    scheme = urlsplit(sources[0]["url"]).scheme or "https"
    site = DemoSite(host, "source", PUBLISHER_NAMES.get(host, host), scheme)
    sections = sorted({_section(urlsplit(s["url"]).path) for s in sources})
    page = load_template("publisher-page.html")
    layout = _Layout(page, site.name, site.base, _navigation(sections))
    newest = sorted(sources, key=lambda s: str(s.get("published", "")), reverse=True)
    _add_articles(site, layout, sources, newest)
    _add_listings(site, layout, sections, newest)
    _add_discovery_files(site, sections, newest)
    return site
