"""Crawl throughput on loopback: spintrace's crawl with storage and extraction, next to Scrapy
alone on the same site in the same run.

A generated news site (``spintrace.demo.loopback.news_site``: robots.txt, sitemap index,
RSS feed, paginated categories, ``--articles`` articles) is served on 127.0.0.1. Variants, each
in its own process (Twisted's reactor cannot restart) and on a fresh SQLite database:

- ``scrapy alone``: the same spider and settings, no item pipeline (pages are discarded);
- ``crawl + store``: ``spintrace crawl --no-extract`` (captures written, one transaction each);
- ``extract``: ``spintrace captures process`` on those captures (trafilatura, documents);
- ``crawl + store + extract``: ``spintrace crawl``, end to end.

Politeness is off for all of them (no delay, no AutoThrottle, 16 requests at a time): the
numbers are the software's cost, not a real crawl's speed. Times are medians of ``--repeats``
runs: wall clock (process start-up included, printed separately) and the crawl phase alone
(reactor start to stop, as the crawl itself reports it).

Usage: ``python bench/crawl.py [--articles N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from spintrace.demo.loopback import LoopbackServer, news_site

FAST = [
    *("-s", "DOWNLOAD_DELAY=0"),
    *("-s", "AUTOTHROTTLE_ENABLED=False"),
    *("-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"),
    *("-s", "RETRY_TIMES=0"),
]
CLI = [sys.executable, "-c", "from spintrace.cli import main; main()"]

SCRAPY_ALONE = """
import json, sys, time
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from spintrace.crawler.process import CrawlOptions, build_settings
from spintrace.crawler.spider import SiteSpider
url, depth = sys.argv[1], int(sys.argv[2])
values = build_settings(CrawlOptions(urls=(url,), db_url="unused", depth=depth), None)
values.update(ITEM_PIPELINES={}, DOWNLOAD_DELAY=0, AUTOTHROTTLE_ENABLED=False,
              CONCURRENT_REQUESTS_PER_DOMAIN=16, RETRY_TIMES=0)
settings = Settings(); settings.setdict(values, priority="cmdline")
process = CrawlerProcess(settings)
crawler = process.create_crawler(SiteSpider)
host = url.split("//")[1].split(":")[0]
process.crawl(crawler, urls=[url], allowed=[host])
start = time.monotonic(); process.start()
print(json.dumps({"pages": crawler.stats.get_value("item_scraped_count", 0),
                  "seconds": time.monotonic() - start}))
"""


def _run(command: list[str]) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"failed: {shlex.join(command)}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    depth = args.articles // 50 + 10  # the category pagination is 50 articles a page

    print(f"$ python {shlex.join(sys.argv)}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; python {platform.python_version()}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"commit: {commit or '?'}; site: {args.articles} articles on 127.0.0.1")
    times: dict[str, list[float]] = {}
    phase: dict[str, list[float]] = {}
    pages = 0
    startup: list[float] = []
    with LoopbackServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.routes.update(news_site(server.url, articles=args.articles, per_page=50))
        start_url = server.url + "/"
        for repeat in range(args.repeats):
            startup.append(_run([*CLI, "--version"])[0])
            elapsed, out = _run([sys.executable, "-c", SCRAPY_ALONE, start_url, str(depth)])
            pages = json.loads(out)["pages"]
            times.setdefault("scrapy alone", []).append(elapsed)
            phase.setdefault("scrapy alone", []).append(json.loads(out)["seconds"])
            for name in ("store", "full"):
                db = f"sqlite:///{Path(tmp) / f'{name}-{repeat}.db'}"
                _run([*CLI, "--db", db, "db", "upgrade"])
                extra = ["--no-extract"] if name == "store" else []
                crawl = [*CLI, "--db", db, "crawl", start_url, "--depth", str(depth), *extra]
                elapsed, out = _run([*crawl, *FAST])
                key = "crawl + store" if name == "store" else "crawl + store + extract"
                times.setdefault(key, []).append(elapsed)
                found = re.search(r"crawled \d+ pages in ([\d.]+) s", out)
                if found:
                    phase.setdefault(key, []).append(float(found.group(1)))
                if name == "store":
                    elapsed, _ = _run([*CLI, "--db", db, "captures", "process"])
                    times.setdefault("extract (captures process)", []).append(elapsed)
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    base = statistics.median(times["scrapy alone"])
    print(f"pages per crawl: {pages}; process start-up: {statistics.median(startup):.2f} s")
    print()
    crawl_base = statistics.median(phase["scrapy alone"])
    print("| variant | wall s | pages/s | vs Scrapy alone | crawl phase s | pages/s | vs Scrapy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        row = f"| {name} | {median:.2f} | {pages / median:.0f} | {median / base:.2f}x |"
        if name in phase:
            inner = statistics.median(phase[name])
            row += f" {inner:.2f} | {pages / inner:.0f} | {inner / crawl_base:.2f}x |"
        else:
            row += " | | |"
        print(row)


if __name__ == "__main__":
    main()
