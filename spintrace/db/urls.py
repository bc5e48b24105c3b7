"""URL rules: the canonical form of a URL, its identity, and the site it belongs to.

Every URL that enters the database goes through here (imports, crawled captures, documents,
sites), so a page met as ``https://example.com/a``, ``http://example.com/a``,
``https://WWW.Example.com/a#comments`` and ``https://example.com/a?utm_source=x`` is one page
of one site.

- :func:`canonical_url`: w3lib's ``canonicalize_url`` (lower-case scheme and host, IDNA host,
  sorted query, normalised percent-encoding, no fragment), then tracking parameters dropped
  (:func:`is_tracking_parameter`), default ports, credentials and a host's trailing dot
  removed. The scheme and a ``www.`` stay: it is a URL that still opens the page.
- :func:`url_key`: the identity of a URL, the canonical URL without its scheme and without a
  leading ``www.`` (the idea of the Wayback Machine's SURT keys): ``http``/``https`` and
  ``www.``/bare variants of a page have one key.
- :func:`site_domain`: a site is its registered domain (``news.bbc.co.uk`` -> ``bbc.co.uk``)
  by the Public Suffix List *bundled with tldextract*, private section included so that
  ``alice.blogspot.com`` stays a site of its own. An IP address, or a host without a known
  public suffix (``localhost``, ``*.example``, ``*.test``), is its own site: lower case,
  without ``www.``, with its port, so loopback servers on different ports stay distinct.

Nothing here reaches the network: the suffix list is never downloaded nor cached on disk.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache
from urllib.parse import SplitResult, unquote_plus, urlsplit, urlunsplit

import tldextract
from w3lib.url import canonicalize_url

__all__ = [
    "SHARED_HOSTS",
    "TRACKING_PARAMETERS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "is_tracking_parameter",
    "site_domain",
    "url_key",
]

# Query parameters that only say how a visitor arrived (campaign tags, ad click ids), never
# which page it is. Exact names, compared in lower case; from the lists browsers and
# link cleaners strip (Firefox query stripping, ClearURLs, AdGuard's tracking-parameter
# filter), keeping only the unambiguous ones: a parameter that may pick content (``id``,
# ``ref``, ``source``, ``page``) is never dropped.
TRACKING_PARAMETERS = frozenset(
    {
        # Google, Microsoft, Meta, X, TikTok, LinkedIn, Yandex, Instagram ad and click ids
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "fbclid",
        "fb_action_ids",
        "fb_action_types",
        "fb_ref",
        "fb_source",
        "twclid",
        "ttclid",
        "li_fat_id",
        "yclid",
        "ysclid",
        "igshid",
        "igsh",
        "srsltid",
        # Google Analytics linker, Mailchimp, HubSpot, Marketo, Adobe, AT Internet, Openstat
        "_ga",
        "_gl",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "mkt_tok",
        "s_cid",
        "xtor",
        "_openstat",
    }
)
# Parameter name prefixes of campaign-tagging schemes: Google Analytics (utm_), Matomo and
# Piwik (mtm_, pk_, piwik_), HubSpot ads (hsa_), Vero (vero_), Olytics (oly_).
TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "piwik_", "hsa_", "vero_", "oly_")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_parameter(name: str) -> bool:
    """Whether the query parameter ``name`` only tracks a visit (``utm_source``, ``fbclid``)."""
    name = name.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def _without_tracking(query: str) -> str:
    # The query is w3lib's canonical one: every '&' and '=' inside a value is %-encoded.
    pairs = query.split("&") if query else []
    return "&".join(p for p in pairs if not is_tracking_parameter(unquote_plus(p.split("=")[0])))


def _netloc(parts: SplitResult, *, bare: bool) -> str:
    """Host (IPv6 in brackets, no trailing dot, no ``www.`` when ``bare``) and a port unless
    it is the scheme's default; never credentials."""
    host = (parts.hostname or "").rstrip(".")
    if bare and host.startswith("www.") and "." in host[4:]:  # never www.com -> com
        host = host[4:]
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return host
    return f"{host}:{port}"


@lru_cache(maxsize=1 << 14)
def _split(url: str) -> SplitResult | None:
    """The parts of ``url``'s canonical form, ``None`` when it has no host or a bad port.

    Cached: an import or a crawl asks for a URL's canonical form, key and site one after the
    other, and w3lib's canonicalisation is the costly part of each (measured: 0.8 s of a 2.2 s
    import of 5,000 records before the cache)."""
    url = url.strip()
    try:
        # "#!" marks an AJAX-era page address (Google's old hashbang scheme): keep it.
        hashbang = urlsplit(url).fragment.startswith("!")
        parts = urlsplit(canonicalize_url(url, keep_fragments=hashbang))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts if (parts.hostname or "").rstrip(".") else None


def canonical_url(url: str) -> str:
    """The canonical form of ``url``, in which it is stored and shown.

    ``HTTPS://WWW.Example.com:443/a/../b?utm_source=x&z=1&a=2#top`` becomes
    ``https://www.example.com/b?a=2&z=1``. A string without a host comes back stripped,
    unchanged (imports and crawls only store absolute http(s) URLs).
    """
    parts = _split(url)
    if parts is None:
        return url.strip()
    return urlunsplit(
        (
            parts.scheme,
            _netloc(parts, bare=False),
            parts.path or "/",
            _without_tracking(parts.query),
            parts.fragment,
        )
    )


def url_key(url: str) -> str:
    """The identity of ``url``: its canonical form without scheme and without ``www.``.

    ``http://www.example.com/a?utm_source=x`` and ``https://example.com/a#comments`` both
    have the key ``example.com/a``. Documents and captures are unique on it.
    """
    parts = _split(url)
    if parts is None:
        return url.strip()
    key = _netloc(parts, bare=True) + (parts.path or "/")
    query = _without_tracking(parts.query)
    if query:
        key += "?" + query
    if parts.fragment:
        key += "#" + parts.fragment
    return key


SHARED_HOSTS: tuple[str, ...] = (
    "000webhostapp.com",
    "beehiiv.com",
    "blog.fc2.com",
    "blog.jp",
    "bloggersdelight.dk",
    "blogspot.co.uk",
    "canalblog.com",
    "ghost.io",
    "hashnode.dev",
    "jimdo.com",
    "jimdosite.com",
    "livejournal.com",
    "medium.com",
    "mystrikingly.com",
    "over-blog.com",
    "squarespace.com",
    "substack.com",
    "tumblr.com",
    "typepad.com",
    "ucoz.ru",
    "weebly.com",
    "wordpress.com",
)
"""Blog and site hosts whose subdomains belong to different people but which the Public Suffix
List does not list (``alice.wordpress.com`` and ``bob.wordpress.com`` are two sites, often two
farms). Each subdomain of these is a site of its own. Changing this list changes what a site is
for stored rows too: it needs a migration that re-keys ``sites``."""


@cache
def _suffixes() -> tldextract.TLDExtract:
    # The Public Suffix List snapshot shipped inside tldextract: no download (no URLs), no
    # disk cache (no cache_dir), private section on (blogspot.com, github.io are suffixes),
    # plus the shared hosts it lacks.
    return tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        fallback_to_snapshot=True,
        include_psl_private_domains=True,
        extra_suffixes=SHARED_HOSTS,
    )


@lru_cache(maxsize=1 << 14)  # an import asks three times per record (0.2 of its time)
def site_domain(url: str) -> str:
    """The site of ``url`` (or of a bare host name), as stored in ``sites.domain``.

    Its registered domain when its host ends in a known public suffix (``news.bbc.co.uk``,
    ``WWW.BBC.co.uk:8080`` -> ``bbc.co.uk``; ``alice.blogspot.com`` stays itself); else, for
    an IP address or an unknown suffix, the host without ``www.`` and with its port
    (``127.0.0.1:8001``, ``news.example``). An empty string when there is no host.
    """
    value = url.strip()
    parts = _split(value if "://" in value else f"http://{value}")
    if parts is None:
        return ""
    host = (parts.hostname or "").rstrip(".")
    return _registered(host) or _netloc(parts, bare=True)


@lru_cache(maxsize=1 << 14)
def _registered(host: str) -> str:
    """The registered domain of a host name, or "" for an IP address or an unknown suffix."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        found = _suffixes()(host)
        if found.domain and found.suffix:
            return f"{found.domain}.{found.suffix}"
    return ""
