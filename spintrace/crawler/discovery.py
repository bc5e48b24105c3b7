"""What a fetched body is, and the URLs it points to: sitemaps, feeds, robots.txt, HTML.

Pure functions over bytes (no Scrapy objects), so they are tested without a crawl.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urljoin

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "BodyKind",
    "dated_entries",
    "feed_links",
    "is_binary",
    "parse_date",
    "robots_sitemaps",
    "sitemap_links",
    "sniff",
]

BodyKind = Literal["sitemap-index", "sitemap", "feed", "html", "binary", "other"]

_XML_PARSER = etree.XMLParser(
    recover=True, resolve_entities=False, no_network=True, huge_tree=False
)
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def is_binary(body: bytes) -> bool:
    """True when the first 4 KB look like binary data (NUL and control bytes), not text.

    Text in UTF-16/32 has NUL bytes too but starts with a byte order mark; such pages are kept.
    """
    head = body[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    return len(_CONTROL.findall(head)) > max(8, len(head) // 100)


def _root_tag(body: bytes) -> str | None:
    head = body[:2048].lstrip()
    if not head.startswith((b"<?xml", b"<urlset", b"<sitemapindex", b"<rss", b"<feed", b"<rdf")):
        return None
    match = re.search(rb"<(?![?!])([A-Za-z_][\w.:-]*)", head)
    if match is None:
        return None
    return match.group(1).decode("ascii", "replace").split(":")[-1].lower()


def sniff(body: bytes, content_type: str) -> BodyKind:
    """The kind of a body, by its first bytes first and its Content-Type second."""
    tag = _root_tag(body)
    if tag == "sitemapindex":
        return "sitemap-index"
    if tag == "urlset":
        return "sitemap"
    if tag in ("rss", "feed", "rdf"):
        return "feed"
    if is_binary(body):
        return "binary"
    lowered = content_type.lower()
    if "html" in lowered or not lowered:
        return "html"
    head = body[:1024].lower()
    if b"<html" in head or b"<!doctype html" in head:
        return "html"
    return "other"


def _xml_root(body: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(body, parser=_XML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def sitemap_links(body: bytes) -> list[str]:
    """The ``<loc>`` URLs of a sitemap or a sitemap index, in document order."""
    root = _xml_root(body)
    if root is None:
        return []
    return [
        el.text.strip()
        for el in root.iter()
        if _local(el.tag) == "loc" and el.text and el.text.strip()
    ]


def feed_links(body: bytes, base_url: str) -> list[str]:
    """Item links of an RSS 0.9x/1.0/2.0 or Atom feed, made absolute against ``base_url``."""
    root = _xml_root(body)
    if root is None:
        return []
    links: list[str] = []
    for item in root.iter():
        if _local(item.tag) not in ("item", "entry"):
            continue
        for child in item:
            if _local(child.tag) != "link":
                continue
            href = child.get("href") or (child.text or "")
            rel = child.get("rel", "alternate")
            if href.strip() and rel == "alternate":
                with contextlib.suppress(ValueError):  # a hostile link: "http://[::1"
                    links.append(urljoin(base_url, href.strip()))
                break
    return links


def robots_sitemaps(text: str, base_url: str) -> list[str]:
    """The ``Sitemap:`` URLs a robots.txt declares."""
    found = []
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sitemap" and value.strip():
            found.append(urljoin(base_url, value.strip()))
    return found


def is_feed_type(content_type: str) -> bool:
    """Whether a ``<link type=...>`` announces an RSS/Atom feed."""
    return content_type.split(";")[0].strip().lower() in _FEED_TYPES


_DATE_TAGS = ("lastmod", "updated", "modified", "pubdate", "published", "date")


def parse_date(text: str | None) -> datetime | None:
    """A sitemap (W3C), Atom (RFC 3339) or RSS (RFC 822) date as aware UTC; ``None`` when it
    is missing or unreadable (a date-only value is midnight UTC)."""
    if not text or not text.strip():
        return None
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # year 9999 with a negative offset: past datetime's range
        return None


def dated_entries(body: bytes, base_url: str) -> list[tuple[str, datetime | None]]:
    """The article URLs a sitemap or a feed lists, each with the date it gives for the last
    change (a sitemap's ``<lastmod>``; a feed item's updated, else published date), in
    document order. A sitemap index's entries are sitemaps."""
    kind = sniff(body, "application/xml")
    if kind not in ("sitemap", "sitemap-index", "feed"):
        return []
    root = _xml_root(body)
    if root is None:
        return []
    entries: list[tuple[str, datetime | None]] = []
    items = ("url", "sitemap") if kind != "feed" else ("item", "entry")
    for item in root.iter():
        if _local(item.tag) not in items:
            continue
        url, dates = None, {}
        for child in item:
            name = _local(child.tag).lower()
            if kind != "feed" and name == "loc" and child.text and child.text.strip():
                url = child.text.strip()
            elif kind == "feed" and name == "link" and url is None:
                href = child.get("href") or (child.text or "")
                if href.strip() and child.get("rel", "alternate") == "alternate":
                    try:
                        url = urljoin(base_url, href.strip())
                    except ValueError:  # a hostile link: "http://[::1"
                        continue
            elif name in _DATE_TAGS and name not in dates:
                dates[name] = parse_date(child.text)
        if url:
            when = next((dates[t] for t in _DATE_TAGS if dates.get(t) is not None), None)
            entries.append((url, when))
    return entries
