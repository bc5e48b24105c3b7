"""Serving the demo websites on loopback, and the crawl settings that reach them there.

:class:`DemoServers` serves each :class:`~spintrace.demo.content.DemoSite` from its own
:class:`~spintrace.demo.loopback.LoopbackServer` on 127.0.0.1 (an ephemeral port);
:func:`crawl_settings` routes the crawl's requests for the sites' real ``https://*.example``
names there, through :class:`spintrace.crawler.hostmap.LoopbackHostsHandler`.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from spintrace.crawler.hostmap import HOSTS_SETTING
from spintrace.demo.content import DemoSite
from spintrace.demo.loopback import LoopbackServer

__all__ = [
    "CRAWL_SETTINGS_FILE",
    "SERVE_SETTINGS_FILE",
    "DemoServers",
    "crawl_settings",
    "write_crawl_settings",
]

CRAWL_SETTINGS_FILE = "crawl-settings.json"
"""The settings of ``spintrace demo``'s own crawls, in its output folder."""
SERVE_SETTINGS_FILE = "serve-settings.json"
"""Those of ``demo --serve`` (its own file: a demo run beside it must not replace its ports)."""


class DemoServers:
    """Serves each demo site from its own loopback server (127.0.0.1, an ephemeral port).

    ``hosts`` maps each site's host name to its ``127.0.0.1:PORT`` once started.
    """

    def __init__(self, sites: list[DemoSite]) -> None:
        self.sites = sites
        self.servers: dict[str, LoopbackServer] = {}
        self._stack = ExitStack()

    @property
    def hosts(self) -> dict[str, str]:
        """Each site's host name -> the ``127.0.0.1:PORT`` of its server."""
        return {host: s.url.removeprefix("http://") for host, s in self.servers.items()}

    @property
    def requests(self) -> int:
        """How many requests the servers have answered, all sites together."""
        return sum(sum(s.hits.values()) for s in self.servers.values())

    def __enter__(self) -> DemoServers:
        """Starts a server per site (all or none: a failed start stops those started)."""
        try:
            for site in self.sites:
                server = self._stack.enter_context(LoopbackServer(site.routes))
                self.servers[site.host] = server
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stops every server."""
        self._stack.close()


def crawl_settings(hosts: dict[str, str]) -> dict[str, Any]:
    """Scrapy settings of the demo crawls: the loopback host map, and no waiting between
    requests (the servers are the demo's own, on this machine; a real crawl stays polite)."""
    handler = "spintrace.crawler.hostmap.LoopbackHostsHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        HOSTS_SETTING: dict(hosts),
        "HTTPPROXY_ENABLED": False,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_TIMEOUT": 15,
        "RETRY_TIMES": 1,
        "CLOSESPIDER_TIMEOUT": 120,
    }


def write_crawl_settings(
    folder: Path, hosts: dict[str, str], name: str = CRAWL_SETTINGS_FILE
) -> Path:
    """Writes :func:`crawl_settings` for ``hosts`` to ``name`` in ``folder`` (made if
    missing) for ``spintrace crawl --settings``; returns the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    file.write_text(json.dumps(crawl_settings(hosts), indent=2) + "\n", encoding="utf-8")
    return file
