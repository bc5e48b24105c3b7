"""Running a crawl in this process with Scrapy's ``CrawlerProcess``.

Twisted's reactor cannot be restarted: :func:`run_crawl` can run once per process (the CLI
command is one process; tests run each crawl in a subprocess).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from spintrace.crawler.errors import CrawlError
from spintrace.crawler.settings import (
    CONTACT_SETTING,
    DB_URL_SETTING,
    DEFAULTS,
    PROGRESS_SETTING,
    RESUME_SINCE_SETTING,
    START_PAGES_ONLY_SETTING,
    user_agent,
)
from spintrace.db.models import utcnow
from spintrace.records import Role

if TYPE_CHECKING:
    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.settings import Settings

__all__ = ["CrawlOptions", "CrawlReport", "check_start_url", "run_crawl"]

logger = logging.getLogger(__name__)

JOB_FILE = "spintrace-job.json"
SCRAPY_ROBOTS_MIDDLEWARE = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"
ROBOTS_MIDDLEWARE = "spintrace.crawler.robots.RobotsTxtMiddleware"


@dataclass(frozen=True)
class CrawlOptions:
    """What to crawl and how. ``follow``: leave the start sites' domains; ``depth`` and
    ``max_pages`` of 0 mean unlimited; ``settings`` are Scrapy settings applied last."""

    urls: tuple[str, ...]
    db_url: str
    role: Role = "page"
    mode: Literal["site", "list"] = "site"
    max_pages: int = 0
    depth: int | None = None
    follow: bool = False
    jobdir: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    """Show progress on standard error while crawling (:mod:`spintrace.crawler.progress`)."""
    resume_since: datetime | None = None
    """Without ``jobdir``: resume the job that started then (a queued crawl job passes the
    time it was queued, so a retry on any machine replays what an earlier attempt stored)."""


@dataclass
class CrawlReport:
    """What a crawl did. ``replayed``: pages a resumed crawl read back from its own captures."""

    new: int = 0
    unchanged: int = 0
    replayed: int = 0
    not_modified: int = 0
    """Known pages re-fetched conditionally that answered 304 (their capture is current)."""
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    failed_urls: dict[str, str] = field(default_factory=dict)
    """Start URLs that could not be fetched, with why (list mode: which given URLs failed)."""
    answered_urls: list[str] = field(default_factory=list)
    """Start URLs the sites answered (a page, a skip or a 304), as given."""
    finish_reason: str = ""
    resumed: bool = False
    seconds: float = 0.0

    @property
    def pages(self) -> int:
        return self.new + self.unchanged + self.replayed


def check_start_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else :class:`CrawlError`."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    host_ok = bool(parts.hostname) and not _BAD_HOST.search(parts.hostname or "")
    if parts.scheme not in ("http", "https") or not host_ok or not port_ok:
        raise CrawlError(f"{url!r} is not an http(s) URL, e.g. https://example.com/", url=url)
    return url


# Characters no host name holds (spaces, controls, URL delimiters); letters of any script may.
_BAD_HOST = re.compile(r'[\s\x00-\x1f\x7f<>"{}|\\^`%]')


def _job_start(jobdir: Path) -> datetime | None:
    """The start of the unfinished job in ``jobdir`` (to resume), or ``None`` for a new job.

    Written before the crawl starts, so even a killed crawl leaves it behind; it also says
    that a run is under way (``running``) until the crawl closes, so the next run knows when
    the last one was killed.
    """
    jobdir.mkdir(parents=True, exist_ok=True)
    file = jobdir / JOB_FILE
    state: dict[str, Any] = {}
    if file.is_file():
        try:
            state = dict(json.loads(file.read_text(encoding="utf-8")))
            datetime.fromisoformat(state["started_at"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable %s", file)
            state = {}
    _drop_stale_queue(jobdir, killed=bool(state.get("running")))
    resume = bool(state) and not state.get("finished")
    if not resume:
        state = {"started_at": utcnow().isoformat(), "finished": False}
    file.write_text(json.dumps({**state, "running": True}))
    return datetime.fromisoformat(state["started_at"]) if resume else None


def _drop_stale_queue(jobdir: Path, killed: bool) -> None:
    """Delete the request queue a killed crawl left in ``jobdir``.

    Scrapy saves its queue's state (``active.json``, queuelib's ``info.json``) only when the
    crawl closes. After a SIGKILL the queue files stay without it, and queuelib then opens
    them as an empty queue that appends to the old file but reads from its start: the resumed
    crawl popped the dead run's requests in place of its own and lost the pages those stood
    for (283 of 1,000 in tests/test_crawler_resume.py). The same holds with an ``active.json``
    when it is a pause's, older than the killed run (``killed``: the job file says a run was
    under way). The resumed walk starts again from the start URLs and replays stored pages
    (spintrace.crawler.resume), so nothing is lost with the queue.
    """
    queue = jobdir / "requests.queue"
    if queue.is_dir() and (killed or not (queue / "active.json").is_file()):
        logger.info("discarding the request queue of a killed crawl in %s", jobdir)
        shutil.rmtree(queue, ignore_errors=True)


def _close_job(jobdir: Path, finished: bool) -> None:
    """The crawl closed (its queue state saved): no run under way; ``finished`` when done."""
    file = jobdir / JOB_FILE
    state = json.loads(file.read_text(encoding="utf-8"))
    state["running"] = False
    state["finished"] = bool(state.get("finished")) or finished
    file.write_text(json.dumps(state))


def _middlewares_base() -> dict[str, int | None]:
    """Scrapy's built-in downloader middlewares, with its robots.txt middleware replaced by
    :class:`spintrace.crawler.robots.RobotsTxtMiddleware` at the same priority.

    Replaced in the ``_BASE`` setting rather than in ``DOWNLOADER_MIDDLEWARES``, which a user's
    ``--settings`` file or a resumed crawl sets as a whole: the fix must not drop out with it.
    """
    from scrapy.settings import default_settings

    base: dict[str, int | None] = dict(default_settings.DOWNLOADER_MIDDLEWARES_BASE)
    priority = base.pop(SCRAPY_ROBOTS_MIDDLEWARE, 100)
    base[ROBOTS_MIDDLEWARE] = priority
    return base


def build_settings(options: CrawlOptions, resume_since: datetime | None) -> dict[str, Any]:
    """The Scrapy settings of a crawl: defaults, then the options, then ``options.settings``."""
    values: dict[str, Any] = dict(DEFAULTS)
    values.update(
        {
            "ITEM_PIPELINES": {"spintrace.crawler.pipelines.CapturePipeline": 300},
            "LOG_INSTALL_ROOT_HANDLER": False,
            "DUPEFILTER_CLASS": "spintrace.crawler.resume.MemoryDupeFilter",
            "DOWNLOADER_MIDDLEWARES_BASE": _middlewares_base(),
            DB_URL_SETTING: options.db_url,
        }
    )
    if options.progress:
        values["EXTENSIONS"] = {"spintrace.crawler.progress.CrawlProgress": 500}
        values[PROGRESS_SETTING] = True
    if options.depth == 0:
        values[START_PAGES_ONLY_SETTING] = True
    elif options.depth is not None:
        values["DEPTH_LIMIT"] = options.depth
    if options.jobdir is not None:
        values["JOBDIR"] = str(options.jobdir)
    if resume_since is not None:
        values[RESUME_SINCE_SETTING] = resume_since.isoformat()
        # After RobotsTxtMiddleware (100): placed before it, resumed crawls were seen to fetch
        # a robots.txt-disallowed page and, under load, to miss queued pages
        # (tests/test_crawler_resume.py); robots.txt rules come first either way.
        values["DOWNLOADER_MIDDLEWARES"] = {"spintrace.crawler.resume.ReplayMiddleware": 150}
    values.update(options.settings)
    if not values.get("USER_AGENT"):
        values["USER_AGENT"] = user_agent(str(values.get(CONTACT_SETTING) or ""))
    return values


def _process(settings: Settings) -> CrawlerProcess:
    """A Scrapy process logging at spintrace's level (-v), not at Scrapy's pinned DEBUG."""
    from scrapy.crawler import CrawlerProcess

    root = logging.getLogger()
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level)
    try:
        process = CrawlerProcess(settings)
    except (ValueError, TypeError, ImportError) as exc:
        raise CrawlError(f"bad crawl setting: {exc}") from None
    if root.getEffectiveLevel() > logging.INFO:
        # Both log every failed URL (robots.txt with a traceback) at ERROR; without -v the
        # failures are reported once, as skips, by the command. Set after CrawlerProcess:
        # its logging setup resets the levels of Scrapy's loggers.
        for name in ("downloadermiddlewares.robotstxt", "downloadermiddlewares.retry"):
            logging.getLogger(f"scrapy.{name}").setLevel(logging.CRITICAL)
    return process


def _report(crawler: Crawler, urls: list[str], resumed: bool, seconds: float) -> CrawlReport:
    """What the finished crawl did; :class:`CrawlError` when it never got going."""
    from spintrace.crawler.spider import SiteSpider

    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    spider = crawler.spider
    report = CrawlReport(
        new=int(stats.get("spintrace/captures_new", 0)),
        unchanged=int(stats.get("spintrace/captures_unchanged", 0)),
        replayed=int(stats.get("spintrace/captures_replayed", 0)),
        not_modified=int(stats.get("spintrace/not_modified", 0)),
        finish_reason=str(stats.get("finish_reason", "")),
        resumed=resumed,
        seconds=seconds,
    )
    if isinstance(spider, SiteSpider):
        report.skipped = spider.skips
        report.skip_reasons = list(spider.skip_reasons)
        report.failed_urls = dict(spider.start_failures)
        report.answered_urls = sorted(spider.start_answered)
        if report.pages == 0 and spider.start_failures and len(spider.start_failures) == len(urls):
            url, reason = next(iter(spider.start_failures.items()))
            raise CrawlError(f"could not fetch {url}: {reason}", url=url)
    if not report.finish_reason:
        raise CrawlError("the crawl did not start; see the message above (a -s setting?)")
    return report


def run_crawl(options: CrawlOptions) -> CrawlReport:
    """Crawl ``options.urls`` and store every HTML page as a capture; once per process.

    Raises :class:`CrawlError` for a bad start URL or setting, or when no start URL could be
    fetched at all (unreachable host, refused connection, robots.txt disallow).
    """
    import time

    from scrapy.settings import Settings

    from spintrace.crawler.resume import stored_since
    from spintrace.crawler.spider import SiteSpider

    urls = [check_start_url(url) for url in options.urls]
    if not urls:
        raise CrawlError("no URL to crawl")
    sites: list[str] | None = None
    if options.jobdir is not None:
        resume_since = _job_start(options.jobdir)
    else:
        resume_since, sites = options.resume_since, urls
    stored = 0
    if resume_since is not None and options.max_pages:
        stored = stored_since(options.db_url, resume_since, options.role, sites)
    settings = Settings()
    settings.setdict(build_settings(options, resume_since), priority="cmdline")
    _check_types(settings, options.settings)
    process = _process(settings)
    crawler = process.create_crawler(SiteSpider)
    allowed = None if options.follow else [urlsplit(u).hostname or "" for u in urls]
    started = time.monotonic()
    process.crawl(
        crawler,
        urls=urls,
        mode=options.mode,
        role=options.role,
        allowed=allowed,
        max_pages=options.max_pages,
        stored=stored,
    )
    try:
        process.start()
    finally:
        if options.jobdir is not None:
            reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
            _close_job(options.jobdir, finished=reason in ("finished", "max_pages"))
    return _report(crawler, urls, resume_since is not None, time.monotonic() - started)


# Scrapy settings whose default is written as an int but which Scrapy reads as a float
# (``settings.getfloat``), so a fraction is meaningful: DOWNLOAD_DELAY = 0 by default.
FLOAT_SETTINGS = frozenset(
    {
        "AUTOTHROTTLE_MAX_DELAY",
        "AUTOTHROTTLE_START_DELAY",
        "AUTOTHROTTLE_TARGET_CONCURRENCY",
        "CLOSESPIDER_TIMEOUT",
        "DNS_TIMEOUT",
        "DOWNLOAD_DELAY",
        "DOWNLOAD_DELAY_JITTER",
        "DOWNLOAD_TIMEOUT",
        "LOGSTATS_INTERVAL",
    }
)


def _check_types(settings: Settings, overrides: dict[str, Any]) -> None:
    """A user's setting must parse as the type of Scrapy's default for it (one clear error).

    Numbers given as text (``-s DOWNLOAD_DELAY=0.5``) are stored as numbers: a whole number
    for an integer setting, any number for a float one (:data:`FLOAT_SETTINGS` too, whose
    defaults Scrapy writes as ints).
    """
    from scrapy.settings import default_settings

    for name in overrides:
        default = getattr(default_settings, name, None)
        value = settings.get(name)
        if isinstance(default, bool):
            try:
                settings.getbool(name)
            except (ValueError, TypeError):
                raise CrawlError(
                    f"bad crawl setting {name}={value!r}: Scrapy expects true or false"
                ) from None
        elif isinstance(default, int | float):
            number = _number(value)
            if number is None:
                raise CrawlError(f"bad crawl setting {name}={value!r}: Scrapy expects a number")
            fractional = isinstance(default, float) or name in FLOAT_SETTINGS
            if isinstance(number, float) and not fractional:
                if not number.is_integer():
                    raise CrawlError(
                        f"bad crawl setting {name}={value!r}: Scrapy expects a whole number"
                    )
                number = int(number)
            settings.set(name, number, priority="cmdline")


def _number(value: object) -> int | float | None:
    """``value`` as an int when it is integral, else as a float; ``None`` if not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None
