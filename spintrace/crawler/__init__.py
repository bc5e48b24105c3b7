"""The crawler stage: Scrapy collects pages and stores them as captures.

Scrapy and Twisted are imported only when a crawl runs, never on ``import spintrace.crawler``.
See ``docs/crawling.md``.
"""

from __future__ import annotations

from spintrace.crawler.errors import CrawlError
from spintrace.crawler.process import CrawlOptions, CrawlReport, check_start_url, run_crawl

__all__ = ["CrawlError", "CrawlOptions", "CrawlReport", "check_start_url", "run_crawl"]
