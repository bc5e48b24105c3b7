"""The websites ``spintrace demo`` crawls: publishers and content farms built from demo/data.

Every page is generated from the bundled, public-domain demo data (demo/data/LICENSE.txt) and
the templates in ``demo/data/site/``, so the sites are as redistributable as the data:

- one **publisher** site per source domain (``harbourgazette.example``, ...), built by
  :mod:`spintrace.demo.publisher`: each source as an article page, a home page, a category
  page per section, an about page, a sitemap named in robots.txt and an RSS feed;
- one **content farm** per page domain, built by :mod:`spintrace.demo.farm`: the suspect
  pages, as given or rendered into the farm's theme, and its non-article pages (listings,
  service pages, teasers, sitemap, feed). Two operators run three farms each
  (:data:`~spintrace.demo.farm.FARMS`): ``pages.jsonl`` holds the pages of one farm of each,
  ``network.jsonl`` those of their sister farms, which republish the same spun articles.

Every same-site link on every page leads to a page, so the crawl has nothing to skip.
:class:`DemoServers` (:mod:`spintrace.demo.servers`) serves each site on 127.0.0.1 and
:func:`crawl_settings` lets the crawl reach them under their real ``https://*.example`` names.
This module is the demo sites' public face: it builds them and re-exports what serving and
crawling them takes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from spintrace.demo.content import DemoSite, load_jsonl
from spintrace.demo.farm import farm_site
from spintrace.demo.publisher import publisher_site
from spintrace.demo.servers import DemoServers, crawl_settings, write_crawl_settings

__all__ = [
    "DemoServers",
    "DemoSite",
    "build_sites",
    "crawl_settings",
    "load_jsonl",
    "write_crawl_settings",
]


def build_sites(
    sources: list[dict[str, Any]] | None = None, pages: list[dict[str, Any]] | None = None
) -> list[DemoSite]:
    """The publisher sites (one per source host) then the farms (one per page host), from
    ``sources`` and ``pages`` (default: the bundled demo data, ``pages.jsonl`` then
    ``network.jsonl``), hosts in first-seen order."""
    sources = load_jsonl("sources.jsonl") if sources is None else sources
    if pages is None:
        pages = load_jsonl("pages.jsonl") + load_jsonl("network.jsonl")
    sites = []
    for records, build in ((sources, publisher_site), (pages, farm_site)):
        by_host: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_host.setdefault(urlsplit(record["url"]).hostname or "", []).append(record)
        sites += [build(host, group) for host, group in by_host.items()]
    return sites
