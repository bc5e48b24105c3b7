"""What kind of page a capture is: an article, or a listing or service page.

Decided by the page's structure and URL, never by the length of its text: a 40-word wire
brief is an article, and a category page full of long teasers is not. In order:

1. nothing extractable: not an article;
2. the page says it is an article (``og:type`` ``article``, or a JSON-LD ``@type`` of the
   article family: ``NewsArticle``, ``BlogPosting``, ...): an article, whatever follows;
3. its URL path is ``/`` or names a listing or service page (``/tag/``, ``/category/``,
   ``/page/2``, ``/archive/``, ``/search``, ``/contact``, ...);
4. it says it is a listing: a JSON-LD ``@type`` such as ``CollectionPage``, ``ItemList`` or
   ``SearchResultsPage``, or a WordPress-style ``<body class>`` (``home``, ``blog``,
   ``archive``, ``category``, ``tag``, ``search``, ``paged``, ``author``);
5. over half its visible text is link text (a list of headlines).

Everything else is an article. Counting teaser cards or linked headlines was tried and left
out: of the 181 real article pages of the scrapinghub benchmark (``../shared/data/html``), 59
have three or more linked headlines and 27 three or more ``<article>`` elements (related-story
widgets), while none has a listing body class.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import lxml.html  # type: ignore[import-untyped,unused-ignore]

from spintrace.records import ExtractedText

__all__ = ["MAX_LINK_DENSITY", "classify_page", "link_density"]

# Share of the page's visible text that sits inside links: listing pages (home, category,
# archive, pagination) are mostly headline links, articles mostly prose. On the loopback test
# pages (tests/test_captures.py) a listing scores over 0.8 and an article under 0.1.
MAX_LINK_DENSITY = 0.5
# URL paths that name listing or service pages on common CMSs (WordPress, Ghost, Drupal), and
# pagination (/page/2, ?page=2 is in the query and left alone).
NON_ARTICLE_PATH = re.compile(
    r"/(tag|tags|category|categories|author|page|archive|archives|search|feed|login"
    r"|wp-login\.php|(contact|about|privacy|terms|imprint|impressum|legal|cookies?)"
    r"([-_](us|me|policy|notice|of-(use|service)|and-conditions|conditions))?)(/|$|\?|\.)",
    re.IGNORECASE,
)
ARTICLE_TYPES = frozenset(
    {"article", "newsarticle", "reportagenewsarticle", "blogposting", "analysisnewsarticle"}
)
# Not "WebSite": SEO plugins put a WebSite node in every page's graph, articles included.
LISTING_TYPES = frozenset(
    {"collectionpage", "itemlist", "searchresultspage", "profilepage", "blog"}
)
LISTING_BODY_CLASSES = frozenset(
    {"home", "blog", "archive", "category", "tag", "search", "paged", "author"}
)
# Only this much of a page is parsed for its structure: the head and the top of the body say
# what a page is.
_PARSE_BYTES = 512 * 1024

_TAG = re.compile(rb"<[^>]*>", re.S)
_LINK = re.compile(rb"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.S)
_SCRIPT = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.S)


def _visible_chars(html: bytes) -> int:
    return len(re.sub(rb"\s+", b"", _TAG.sub(b"", html)))


def link_density(html: bytes) -> float:
    """Share of the visible text (scripts and styles dropped) that is link text, 0..1."""
    body = _SCRIPT.sub(b"", html)
    total = _visible_chars(body)
    if total == 0:
        return 0.0
    linked = sum(_visible_chars(m.group(1)) for m in _LINK.finditer(body))
    return min(1.0, linked / total)


def _parse(html: bytes) -> lxml.html.HtmlElement | None:
    try:
        root = lxml.html.fromstring(html[:_PARSE_BYTES])
    except (ValueError, lxml.etree.ParserError):  # empty or unparsable markup
        return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def _json_ld_types(root: lxml.html.HtmlElement) -> set[str]:
    """The lower-cased ``@type`` values of the page's JSON-LD blocks (``@graph`` included)."""
    types: set[str] = set()
    for script in root.xpath('//script[@type="application/ld+json"]')[:10]:
        try:
            data = json.loads(script.text or "")
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack and len(types) < 50:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item[:50])
            elif isinstance(item, dict):
                kind = item.get("@type")
                for value in kind if isinstance(kind, list) else [kind]:
                    if isinstance(value, str):
                        types.add(value.lower())
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(graph[:50])
    return types


def _og_type(root: lxml.html.HtmlElement) -> str:
    values = root.xpath('//meta[@property="og:type"]/@content')
    return str(values[0]).strip().lower() if values else ""


def _listing_body_class(root: lxml.html.HtmlElement) -> str | None:
    """Why the page's ``<body class>`` marks it a listing (WordPress and its clones), or None."""
    classes = set(" ".join(root.xpath("//body/@class")).lower().split())
    listing = sorted(classes & LISTING_BODY_CLASSES)
    return f"listing page (body class {' '.join(listing)})" if listing else None


def classify_page(html: bytes, url: str, extracted: ExtractedText | None) -> str | None:
    """``None`` for an article, else why the page is not one (the rules of this module's
    docstring, in order; documented in docs/crawling.md)."""
    if extracted is None:
        return "no main text"
    root = _parse(html)
    types = _json_ld_types(root) if root is not None else set()
    if root is not None and (_og_type(root) == "article" or types & ARTICLE_TYPES):
        return None
    path = urlsplit(url).path or "/"
    if path == "/" or NON_ARTICLE_PATH.search(path):
        return f"listing or service page ({path})"
    if types & LISTING_TYPES:
        return f"listing page (JSON-LD {', '.join(sorted(types & LISTING_TYPES))})"
    body = _listing_body_class(root) if root is not None else None
    if body is not None:
        return body
    density = link_density(html)
    if density > MAX_LINK_DENSITY:
        return f"link density {density:.2f}"
    return None
