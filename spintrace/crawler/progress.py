"""Crawl progress on standard error, between silence (``-q``) and ``-v``'s Scrapy log.

A Scrapy extension, on when the crawl's :data:`PROGRESS_SETTING` is true (``spintrace crawl``
sets it unless ``-q`` or ``-v``): every :data:`PROGRESS_INTERVAL_SETTING` seconds one line with
the pages stored so far (new captures among them), the skips and the rate. On a terminal the
line is rewritten in place; in a log file it is one line per interval.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from spintrace.crawler.settings import PROGRESS_INTERVAL_SETTING, PROGRESS_SETTING
from spintrace.records import plural

__all__ = ["PROGRESS_INTERVAL_SETTING", "PROGRESS_SETTING", "CrawlProgress", "progress_line"]


def progress_line(stats: dict[str, Any], skips: int, seconds: float) -> str:
    """``crawling: 120 pages (34 new captures), 3 skipped, 2.1 pages/s, 57 s``."""
    new = int(stats.get("spintrace/captures_new", 0))
    pages = new + sum(
        int(stats.get(f"spintrace/captures_{kind}", 0)) for kind in ("unchanged", "replayed")
    )
    rate = pages / seconds if seconds > 0 else 0.0
    return (
        f"crawling: {plural(pages, 'page')} ({plural(new, 'new capture')}), {skips} skipped, "
        f"{rate:.1f} pages/s, {seconds:.0f} s"
    )


class CrawlProgress:
    """The extension (see the module's text)."""

    def __init__(self, crawler: Crawler, interval: float, stream: IO[str]) -> None:
        self.crawler = crawler
        self.interval = interval
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        if not crawler.settings.getbool(PROGRESS_SETTING):
            raise NotConfigured
        interval = crawler.settings.getfloat(PROGRESS_INTERVAL_SETTING, 5.0)
        extension = cls(crawler, max(interval, 0.1), sys.stderr)
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.show, spider)
        self.loop.start(self.interval, now=False)

    def show(self, spider: Spider) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats is not None else {}
        line = progress_line(stats, int(getattr(spider, "skips", 0)), self.elapsed)
        self.stream.write(f"\r{line}\x1b[K" if self.tty else f"{line}\n")
        self.stream.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def closed(self, spider: Spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
            if self.tty and self.elapsed >= self.interval:
                self.stream.write("\r\x1b[K")  # the summary line takes its place
                self.stream.flush()
