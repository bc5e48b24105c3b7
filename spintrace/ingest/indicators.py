"""Site indicators from raw HTML: the traces that tie sites to one operator.

``find_indicators(html, url)`` returns tracking and ad-network IDs, the ``generator`` meta,
WordPress theme and plugin names, the favicon URL and outbound article links, as
:class:`Indicator` values. Two sites that share an AdSense publisher or an Analytics property
are very likely run by the same people; a shared theme or plugin set is weaker evidence.

Precision comes first: an ID is only taken from ``<script>`` code or an attribute value (never
from visible text), and only in the context its vendor's snippet puts it in (``gtag('config',
'G-...')``, ``googletagmanager.com/gtm.js?id=GTM-...``, ``data-ad-client="ca-pub-..."``), so a
16-digit number or "G-Force" in an article is not mistaken for an ID.

Hostile input is bounded by size, not time: only the first :data:`MAX_BYTES` of a page, the
first :data:`MAX_ELEMENTS` elements and the first :data:`MAX_VALUE_CHARS` of each attribute or
script are looked at; every regular expression is linear. Unparsable input gives ``[]``;
nothing raises.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html  # type: ignore[import-untyped,unused-ignore]

from spintrace.records import INDICATOR_KINDS

__all__ = [
    "KINDS",
    "MAX_BYTES",
    "MAX_OUTBOUND_LINKS",
    "Indicator",
    "find_indicators",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MAX_BYTES = 3_000_000
"""Only this much of a page is read (article pages are ~50-500 KB; farms pad with ads, not KB)."""
MAX_ELEMENTS = 50_000
MAX_VALUE_CHARS = 200_000
"""Per script text or attribute value; longer ones (inlined bundles, data: URIs) are cut."""
MAX_OUTBOUND_LINKS = 50
MAX_FAVICONS = 5
MAX_EVIDENCE_CHARS = 160

KINDS: tuple[str, ...] = tuple(k.name for k in INDICATOR_KINDS if k.found_in == "html")
"""Every kind :func:`find_indicators` returns, in the order it returns them."""


@dataclass(frozen=True, slots=True)
class Indicator:
    """One trace of a site's operator found in a page.

    - ``kind``: one of :data:`KINDS` (``"adsense"``, ``"favicon-url"``, ...);
    - ``value``: the normalised value to compare across sites (an ID such as
      ``ca-pub-1234567890123456``, a name, or an absolute URL);
    - ``evidence``: a short plain-text snippet of where it was found (code or attribute text,
      never parsed markup): escape it before putting it in HTML.
    """

    kind: str
    value: str
    evidence: str


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    hint: str  # a substring that must be in the code for the pattern to be tried (cheap filter)
    pattern: re.Pattern[str]
    normalise: Callable[[str], str] = str


_Q = r"""['"]"""
_GA4 = r"G-[A-Z0-9]{6,12}"
_UA = r"UA-\d{4,10}-\d{1,4}"
_GTM = r"GTM-[A-Z0-9]{4,10}"
_PUB = r"(?:ca-)?pub-\d{16}"


def _google_id_kind(value: str) -> str:
    for prefix, kind in (
        ("G-", "google-analytics"),
        ("UA-", "google-analytics"),
        ("GTM-", "google-tag-manager"),
        ("AW-", "google-ads"),
        ("GT-", "google-tag"),
    ):
        if value.startswith(prefix):
            return kind
    return ""


def _adsense(value: str) -> str:
    return "ca-" + value.removeprefix("ca-")


# Rules for IDs: applied to <script> code and attribute values only. Each pattern has exactly
# one group, the ID, anchored on the vendor's own snippet or URL.
_RULES: tuple[_Rule, ...] = (
    # gtag.js loader and config calls (GA4, Universal Analytics, Ads, Google tag); MonsterInsights
    # renames gtag to __gtagTracker.
    _Rule(
        "google",
        "googletagmanager.com/gtag/js",
        re.compile(
            r"googletagmanager\.com/gtag/js\?(?:[^\"'\s<>]*?&(?:amp;)?)?id="
            rf"({_GA4}|{_UA}|AW-\d{{6,12}}|GT-[A-Z0-9]{{6,12}})\b"
        ),
    ),
    _Rule(
        "google",
        "config",
        re.compile(
            rf"\b(?:gtag|__gtagTracker)\(\s*{_Q}config{_Q}\s*,\s*{_Q}"
            rf"({_GA4}|{_UA}|AW-\d{{6,12}}|GT-[A-Z0-9]{{6,12}}){_Q}"
        ),
    ),
    # analytics.js / ga.js: ga('create', 'UA-...'), _gaq.push(['_setAccount', 'UA-...']).
    _Rule(
        "google-analytics",
        "UA-",
        re.compile(rf"(?:{_Q}create{_Q}|{_Q}_setAccount{_Q})\s*,\s*{_Q}({_UA}){_Q}"),
    ),
    # The UA-NNNN-N shape is distinctive enough as a quoted string inside code.
    _Rule("google-analytics", "UA-", re.compile(rf"{_Q}({_UA}){_Q}")),
    # GTM container: loader URL, noscript iframe, or the snippet's last argument.
    _Rule(
        "google-tag-manager",
        "googletagmanager.com/",
        re.compile(
            r"googletagmanager\.com/(?:gtm\.js|ns\.html)\?(?:[^\"'\s<>]*?&(?:amp;)?)?id="
            rf"({_GTM})\b"
        ),
    ),
    _Rule(
        "google-tag-manager",
        "dataLayer",
        re.compile(rf"{_Q}dataLayer{_Q}\s*,\s*{_Q}({_GTM}){_Q}"),
    ),
    # AdSense: the "ca-pub-" client string is distinctive wherever it is in code or attributes;
    # a bare "pub-" only in the AdSense variables.
    _Rule("adsense", "ca-pub-", re.compile(r"\b(ca-pub-\d{16})\b"), _adsense),
    _Rule(
        "adsense",
        "google_ad_client",
        re.compile(rf"google_ad_client{_Q}?\s*[:=]\s*{_Q}({_PUB}){_Q}"),
        _adsense,
    ),
    # Facebook pixel: fbq('init', '123...') and the noscript image facebook.com/tr?id=123...
    _Rule(
        "facebook-pixel",
        "fbq",
        re.compile(rf"\bfbq\(\s*{_Q}init{_Q}\s*,\s*{_Q}?(\d{{10,20}})\b"),
    ),
    _Rule(
        "facebook-pixel",
        "facebook.com/tr",
        re.compile(r"facebook\.com/tr/?\?(?:[^\"'\s<>]*?&(?:amp;)?)?id=(\d{10,20})\b"),
    ),
    # Yandex Metrica: ym(12345678, 'init', ...), new Ya.Metrika({id: ...}), mc.yandex.ru/watch/N.
    _Rule("yandex-metrica", "ym(", re.compile(rf"\bym\(\s*(\d{{5,12}})\s*,\s*{_Q}init{_Q}")),
    _Rule(
        "yandex-metrica",
        "Ya.Metrika",
        re.compile(r"\bYa\.Metrika2?\(\s*\{\s*id\s*:\s*(\d{5,12})\b"),
    ),
    _Rule("yandex-metrica", "mc.yandex.", re.compile(r"mc\.yandex\.[a-z]{2,3}/watch/(\d{5,12})\b")),
    # Hotjar: hj settings object or the script URL.
    _Rule("hotjar", "hjid", re.compile(r"\bhjid\s*:\s*(\d{5,10})\b")),
    _Rule("hotjar", "hotjar", re.compile(r"static\.hotjar\.com/c/hotjar-(\d{5,10})\.js")),
    # Microsoft Clarity: the snippet's last argument or the tag URL.
    _Rule(
        "microsoft-clarity",
        "clarity",
        re.compile(rf"{_Q}clarity{_Q}\s*,\s*{_Q}script{_Q}\s*,\s*{_Q}([a-z0-9]{{8,12}}){_Q}"),
    ),
    _Rule("microsoft-clarity", "clarity.ms", re.compile(r"clarity\.ms/tag/([a-z0-9]{8,12})\b")),
    # StatCounter: var sc_project=12345678;
    _Rule("statcounter", "sc_project", re.compile(r"\bsc_project\s*=\s*['\"]?(\d{5,10})\b")),
    # Quantcast: _qevents.push({qacct: "p-..."}).
    _Rule(
        "quantcast",
        "qacct",
        re.compile(rf"\bqacct{_Q}?\s*:\s*{_Q}(p-[A-Za-z0-9_-]{{8,20}}){_Q}"),
    ),
    # Taboola: the loader path names the publisher.
    _Rule(
        "taboola",
        "taboola.com/libtrc/",
        re.compile(r"cdn\.taboola\.com/libtrc/([a-z0-9][a-z0-9_-]{1,60})/loader\.js"),
    ),
    # Amazon Associates: tag=name-20 in links to an Amazon store.
    _Rule(
        "amazon-affiliate",
        "tag=",
        re.compile(
            r"^https?://(?:www\.|smile\.)?amazon\.[a-z.]{2,6}/[^\"'\s<>]*?[?&](?:amp;)?tag="
            r"([A-Za-z0-9_.-]{1,40}-\d{2})\b"
        ),
    ),
)

_WP_PATH = re.compile(r"/wp-content\\?/(themes|plugins)\\?/([A-Za-z0-9_.-]{1,80})\\?/")
_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SPACE = re.compile(r"\s+")

# Links to these sites are shares, profiles, ads, CDNs or shops, not sources: skipped when any
# label of the host (but the last) is one of these names ...
_SKIP_NAMES = frozenset(
    "facebook twitter linkedin pinterest reddit instagram youtube tiktok whatsapp telegram "
    "snapchat tumblr flipboard getpocket google googleapis gstatic googlesyndication "
    "googleadservices doubleclick amazon apple microsoft addtoany sharethis addthis gravatar "
    "disqus taboola outbrain mgid revcontent cloudflare cloudfront akamaihd akamaized fastly "
    "jsdelivr unpkg wordpress feedburner feedly wikipedia wikimedia themeforest envato "
    "cdn static assets fonts img".split()
)
# ... or when the host is (a subdomain of) one of these short hosts.
_SKIP_HOSTS = (
    "t.co", "x.com", "fb.me", "fb.com", "wa.me", "t.me", "vk.com", "ok.ru", "bit.ly",
    "tinyurl.com", "ow.ly", "buff.ly", "youtu.be", "pin.it", "w.org", "wp.com", "mailchi.mp",
)  # fmt: skip
_SKIP_PATH = re.compile(
    r"/(?:share|sharer|intent|feed|rss|tag|tags|category|categories|author|profile|login|"
    r"signin|signup|register|subscribe|cdn-cgi|wp-admin|wp-login|adserver|delivery|click|ck)"
    r"(?:/|\.php|\.aspx?|$)",
    re.IGNORECASE,
)
_FILE = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|ico|bmp|css|js|json|xml|rss|pdf|zip|gz|mp3|mp4|webm|woff2?|ttf)$",
    re.IGNORECASE,
)
# An article path: a date folder, a slug of 4+ words, or a 5+ digit number (an article id).
_ARTICLE_PATH = re.compile(r"/(?:19|20)\d\d/|[A-Za-z0-9]+(?:[-_+][A-Za-z0-9]+){3,}|\d{5,}")


def find_indicators(html: str | bytes, url: str) -> list[Indicator]:
    """Find the operator indicators in a page's raw HTML.

    ``url`` is the page's (final) URL: relative favicon and link URLs are resolved against it
    (or against the page's ``<base href>``), and links to its own site are not outbound.
    Results are deduplicated by (kind, value), the first occurrence giving the evidence, and
    ordered by :data:`KINDS`, then by position in the page. Returns ``[]`` for empty or
    unparsable input; never raises.
    """
    try:
        root = _parse(html)
        if root is None:
            return []
        return _collect(root, url)
    except Exception as exc:  # lxml and urllib raise many things on hostile input
        logger.debug("no indicators for %s: %s", url, exc)
        return []


def _decode(html: str | bytes) -> str:
    if isinstance(html, str):
        return html[:MAX_BYTES]
    data = html[:MAX_BYTES]
    encoding = "utf-8"
    match = _CHARSET.search(data, 0, 4096)
    if match:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(match.group(1).decode("ascii")).name
    if encoding.startswith("utf-16") or encoding.startswith("utf-32"):
        encoding = "utf-8"  # a declared UTF-16 in bytes we read as ASCII-compatible is a lie
    return data.decode(encoding, errors="replace")


def _parse(html: str | bytes) -> lxml.html.HtmlElement | None:
    text = _CONTROL.sub("", _decode(html))
    if not text.strip():
        return None
    # Parse UTF-8 bytes with the encoding given: lxml refuses str input with an XML encoding
    # declaration, and lone surrogates cannot reach it this way.
    data = text.encode("utf-8", errors="replace")
    parser = lxml.html.HTMLParser(
        encoding="utf-8", recover=True, no_network=True, remove_comments=False
    )
    root = lxml.html.fromstring(data, parser=parser)
    return root if isinstance(root, lxml.html.HtmlElement) else None


def _clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    return text[:limit]


def _evidence(text: str) -> str:
    text = _SPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if len(text) > MAX_EVIDENCE_CHARS:
        text = text[: MAX_EVIDENCE_CHARS - 3].rstrip() + "..."
    return text


def _snippet(label: str, code: str, start: int, end: int) -> str:
    lo, hi = max(0, start - 50), min(len(code), end + 50)
    prefix = "..." if lo else ""
    suffix = "..." if hi < len(code) else ""
    return _evidence(f"{label}: {prefix}{code[lo:hi].strip()}{suffix}")


def _elements(root: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    for count, element in enumerate(root.iter()):
        if count >= MAX_ELEMENTS:
            return
        if isinstance(element.tag, str):  # skip comments and processing instructions
            yield element


# Attributes that never carry an ID or a path (skipping them halves the scanning time).
_PLAIN_ATTRIBUTES = frozenset(
    "class id style alt title width height rel type role lang dir tabindex target itemprop "
    "itemscope itemtype loading decoding sizes media charset crossorigin async defer hidden "
    "name property aria-label aria-hidden".split()
)


def _code(element: lxml.html.HtmlElement) -> Iterator[tuple[str, str]]:
    """(label, code) pairs of an element: its attribute values, and a script's text."""
    tag = element.tag.lower()
    for name, value in element.attrib.items():
        if len(value) > 7 and name not in _PLAIN_ATTRIBUTES:
            yield f"{tag} {name}", _clip(str(value))
    if tag in ("script", "noscript") and element.text:
        yield tag, _clip(element.text)


class _Found:
    """Indicators in order of discovery, deduplicated by (kind, value)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Indicator] = {}
        self.outbound = 0
        self.favicons = 0

    def add(self, kind: str, value: str, evidence: str) -> None:
        key = (kind, value)
        if kind and value and key not in self.items:
            self.items[key] = Indicator(kind, value, evidence)

    def ordered(self) -> list[Indicator]:
        rank = {kind: i for i, kind in enumerate(KINDS)}
        # dicts keep insertion order and sorted() is stable: page order within each kind
        return sorted(self.items.values(), key=lambda item: rank[item.kind])


def _collect(root: lxml.html.HtmlElement, url: str) -> list[Indicator]:
    found = _Found()
    base = url
    page_host = _site(url)
    for element in _elements(root):
        tag = element.tag.lower()
        if tag == "base" and element.get("href"):
            base = _join(url, element.get("href", "")) or url
        for label, code in _code(element):
            _scan_code(found, label, code)
        if tag == "meta" and (element.get("name") or "").strip().lower() == "generator":
            content = _evidence(element.get("content") or "")
            found.add("generator", content[:100], f"meta generator: {content}")
        elif tag == "link":
            _favicon(found, element, base)
        elif tag == "a" and found.outbound < MAX_OUTBOUND_LINKS:
            _outbound(found, element, base, page_host)
    return found.ordered()


def _scan_code(found: _Found, label: str, code: str) -> None:
    for rule in _RULES:
        if rule.hint not in code:
            continue
        for match in rule.pattern.finditer(code):
            value = rule.normalise(match.group(1))
            kind = _google_id_kind(value) if rule.kind == "google" else rule.kind
            if (kind, value) not in found.items:
                found.add(kind, value, _snippet(label, code, match.start(), match.end()))
    if "wp-content" in code:
        for match in _WP_PATH.finditer(code):
            kind = "wordpress-theme" if match.group(1) == "themes" else "wordpress-plugin"
            if (kind, match.group(2)) not in found.items:
                found.add(kind, match.group(2), _snippet(label, code, match.start(), match.end()))


def _join(base: str, href: str) -> str | None:
    """``href`` made absolute against ``base``, without fragment; None unless http(s)."""
    try:
        parts = urlsplit(urljoin(base, href.strip()))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
    except ValueError:  # malformed IPv6 hosts, bad ports
        return None


def _site(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _favicon(found: _Found, element: lxml.html.HtmlElement, base: str) -> None:
    rel = (element.get("rel") or "").lower().split()
    if found.favicons >= MAX_FAVICONS or not any(token.endswith("icon") for token in rel):
        return
    href = element.get("href") or ""
    absolute = _join(base, href[:2000]) if not href.startswith("data:") else None
    if absolute and ("favicon-url", absolute) not in found.items:
        found.favicons += 1
        found.add("favicon-url", absolute, _evidence(f"link rel={' '.join(rel)}: {href}"))


def _outbound(found: _Found, element: lxml.html.HtmlElement, base: str, page_host: str) -> None:
    href = (element.get("href") or "")[:2000]
    absolute = _join(base, href)
    if absolute is None or ("outbound-link", absolute) in found.items:
        return
    if not _is_article_link(absolute, page_host):
        return
    found.outbound += 1
    text = _evidence(element.text_content()[:1000]) or "(no link text)"
    found.add("outbound-link", absolute, _evidence(f"link: {text}"))


def _is_article_link(url: str, page_host: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if not host or "." not in host:
        return False
    if page_host and (host == page_host or host.endswith("." + page_host)
                      or page_host.endswith("." + host)):  # fmt: skip
        return False
    if any(host == skip or host.endswith("." + skip) for skip in _SKIP_HOSTS):
        return False
    if any(label in _SKIP_NAMES for label in host.split(".")[:-1]):
        return False
    path = parts.path
    if _FILE.search(path) or _SKIP_PATH.search(path) or "share" in parts.query.lower():
        return False
    return bool(_ARTICLE_PATH.search(path))
