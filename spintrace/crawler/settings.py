"""Scrapy settings for spintrace crawls: polite defaults, ``-s NAME=VALUE`` and settings files.

Precedence, lowest first: :data:`DEFAULTS`, then the command's own options (``--max-pages``,
``--depth``, ``--jobdir``), then ``--settings FILE``, then each ``-s NAME=VALUE``. Values are
what Scrapy itself accepts (``-s`` values are strings, and Scrapy's typed getters parse them).
"""

from __future__ import annotations

import json
import runpy
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from spintrace._version import __version__
from spintrace.crawler.errors import CrawlError

__all__ = ["DEFAULTS", "load_settings_file", "parse_overrides"]

CONTACT_SETTING = "SPINTRACE_CONTACT"
# Set by run_crawl for the components in pipelines.py and resume.py, not by users.
DB_URL_SETTING = "SPINTRACE_DB_URL"
RESUME_SINCE_SETTING = "SPINTRACE_RESUME_SINCE"
# --depth 0: fetch the start pages and follow nothing (Scrapy's DEPTH_LIMIT=0 means unlimited).
START_PAGES_ONLY_SETTING = "SPINTRACE_START_PAGES_ONLY"
# URL -> request headers (If-None-Match, If-Modified-Since) for the start URLs of a crawl that
# re-fetches known pages conditionally (watch rounds); a 304 answer is counted, not stored.
CONDITIONAL_SETTING = "SPINTRACE_CONDITIONAL"
# Progress lines on stderr (spintrace.crawler.progress), and how many seconds apart.
PROGRESS_SETTING = "SPINTRACE_PROGRESS"
PROGRESS_INTERVAL_SETTING = "SPINTRACE_PROGRESS_INTERVAL"
PAGE_META = "spintrace_page"
DEFAULT_CONTACT = "https://github.com/spintrace/spintrace"

# Polite by default: one site is never hit by more than 2 requests at once, AutoThrottle backs
# off when the server slows down, robots.txt is obeyed, and every crawl is bounded in size,
# depth and time. A crawl of many small sites still runs in parallel (CONCURRENT_REQUESTS).
DEFAULTS: dict[str, Any] = {
    "ROBOTSTXT_OBEY": True,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 1.0,
    "AUTOTHROTTLE_MAX_DELAY": 30.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
    "DOWNLOAD_DELAY": 0.5,
    CONTACT_SETTING: DEFAULT_CONTACT,
    "USER_AGENT": None,  # built from SPINTRACE_CONTACT when left unset
    # Articles are rarely over 1 MB of HTML; 10 MB leaves room for bloated pages while a gzip
    # bomb or a video served as a page is cut off (also after decompression).
    "DOWNLOAD_MAXSIZE": 10 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 2 * 1024 * 1024,
    "DOWNLOAD_TIMEOUT": 30,
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 2,
    "REDIRECT_MAX_TIMES": 10,
    "DEPTH_LIMIT": 5,
    "DEPTH_PRIORITY": 1,  # breadth-first: category pages near the start come first
    "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
    "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
    "CLOSESPIDER_PAGECOUNT": 0,
    "CLOSESPIDER_TIMEOUT": 3600,
    "URLLENGTH_LIMIT": 2083,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "HTTPCACHE_ENABLED": False,
}


def user_agent(contact: str) -> str:
    """An honest User-Agent: who we are and how to reach the operator of the crawl."""
    return f"spintrace/{__version__} (+{contact}; copy detection crawler)"


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (from ``-s``) as a dict; :class:`CrawlError` on a bad one."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CrawlError(f"-s {pair!r}: expected NAME=VALUE, e.g. -s DOWNLOAD_DELAY=2")
        result[name] = value
    return result


def load_settings_file(path: str | Path) -> dict[str, Any]:
    """Scrapy settings from a ``.toml``, ``.json`` or ``.py`` file.

    TOML and JSON: a top-level table/object of ``NAME = value``. Python: every upper-case
    top-level name of the module (as in a Scrapy project's ``settings.py``).
    """
    file = Path(path)
    if not file.is_file():
        raise CrawlError(f"settings file {file} does not exist")
    try:
        if file.suffix == ".toml":
            data: Mapping[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
        elif file.suffix == ".json":
            data = json.loads(file.read_text(encoding="utf-8"))
        elif file.suffix == ".py":
            data = {k: v for k, v in runpy.run_path(str(file)).items() if k.isupper()}
        else:
            raise CrawlError(f"settings file {file}: use a .toml, .json or .py file")
    except (ValueError, OSError, SyntaxError) as exc:
        raise CrawlError(f"settings file {file}: {exc}") from None
    if not isinstance(data, Mapping):
        raise CrawlError(f"settings file {file}: expected a table of NAME = value")
    return dict(data)
