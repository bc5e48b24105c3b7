"""What both kinds of demo website are built from: the bundled data, the page templates, the
:class:`DemoSite` they fill, and the text, HTML, sitemap and RSS pieces they share.

The data (``demo/data/*.jsonl``) and the templates (``demo/data/site/*.html``, ``string.Template``
files) ship in the wheel and are read through :mod:`importlib.resources`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlsplit

from spintrace.demo.loopback import Reply
from spintrace.records import Role

__all__ = [
    "RSS",
    "TEXT",
    "XML",
    "DemoSite",
    "escape",
    "first_sentence",
    "html_reply",
    "load_jsonl",
    "load_template",
    "paragraph_tags",
    "route_path",
    "rss_reply",
    "split_paragraphs",
    "urlset_reply",
]

XML = (("Content-Type", "application/xml; charset=utf-8"),)
RSS = (("Content-Type", "application/rss+xml; charset=utf-8"),)
TEXT = (("Content-Type", "text/plain; charset=utf-8"),)

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass
class DemoSite:
    """One demo website: its host, the role its pages get when crawled, and its routes.

    ``routes`` maps a path (with its query) to the reply served there; ``articles`` lists the
    paths of the site's article pages, in the order of the demo data.
    """

    host: str
    role: Role
    name: str
    scheme: str = "https"
    routes: dict[str, Reply] = field(default_factory=dict)
    articles: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The site's origin, ``scheme://host`` (no trailing slash)."""
        return f"{self.scheme}://{self.host}"

    @property
    def start_url(self) -> str:
        """The site's home page, where its crawl starts."""
        return f"{self.base}/"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """The records of a bundled demo data JSONL file."""
    text = (resources.files("spintrace.demo") / "data" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_template(name: str) -> Template:
    """The bundled page template ``demo/data/site/NAME``."""
    file = resources.files("spintrace.demo") / "data" / "site" / name
    return Template(file.read_text(encoding="utf-8"))


def escape(text: str) -> str:
    """``text`` escaped for HTML and XML text and attribute values (quotes included)."""
    return html.escape(text, quote=True)


def split_paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` (split at blank lines), each with its whitespace collapsed."""
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def paragraph_tags(paragraphs: Iterable[str], indent: str = "      ") -> str:
    """``paragraphs`` as escaped ``<p>`` elements, one a line, each after ``indent``."""
    return "\n".join(f"{indent}<p>{escape(p)}</p>" for p in paragraphs)


def first_sentence(text: str, limit: int = 155) -> str:
    """The first sentence of ``text``'s first paragraph, cut at a word to ``limit`` characters
    (then ending in ``...``); an empty string for a blank ``text``."""
    first = split_paragraphs(text)[0] if text.strip() else ""
    end = first.find(". ")
    sentence = first if end < 0 else first[: end + 1]
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "..."


def route_path(url: str) -> str:
    """The route of ``url`` on its site: its path (``/`` when empty) and its query, if any."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def html_reply(body: str) -> Reply:
    """An HTML page reply (UTF-8)."""
    return Reply(body.encode("utf-8"))


def urlset_reply(base: str, entries: Iterable[tuple[str, str | None]]) -> Reply:
    """A sitemap (``<urlset>``) of ``entries``: (path under ``base``, lastmod day or ``None``)."""
    urls = "".join(
        f"<url><loc>{escape(base + path)}</loc>{f'<lastmod>{day}</lastmod>' if day else ''}</url>"
        for path, day in entries
    )
    return Reply(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n'
        ).encode(),
        headers=XML,
    )


def rss_reply(title: str, base: str, items: Iterable[tuple[str, str, str, date | None]]) -> Reply:
    """An RSS 2.0 feed of the site ``title`` at ``base``; ``items`` are (path, headline,
    summary, day or ``None``), a day published at 07:00 UTC."""
    out = []
    for path, headline, summary, day in items:
        when = (
            f"<pubDate>{format_datetime(datetime.combine(day, time(7), UTC))}</pubDate>"
            if day
            else ""
        )
        out.append(
            f"<item><title>{escape(headline)}</title><link>{escape(base + path)}</link>"
            f"<description>{escape(summary)}</description>{when}</item>"
        )
    return Reply(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(base)}/</link>"
            f"<description>Latest from {escape(title)}</description>{''.join(out)}"
            "</channel></rss>\n"
        ).encode(),
        headers=RSS,
    )
