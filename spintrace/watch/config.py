"""The watch list: a small TOML file naming what to watch, how often, and where alerts go.

::

    [alerts]
    to = ["alerts.jsonl", "https://hooks.example.org/spintrace"]   # files, "-", webhook URLs
    retry_seconds = 60

    [money]
    sellers = [{ system = "google.com", file = "sellers/google.json" },
               { url = "https://exchange.example/sellers.json" }]

    [[publisher]]                      # its articles are sources
    name = "Daily Planet"
    feeds = ["https://dailyplanet.example/feed.xml"]
    sitemaps = ["https://dailyplanet.example/sitemap.xml"]
    every = "1h"

    [[farm]]                           # its pages are suspects
    home = "https://farm.example/"
    feeds = ["https://farm.example/feed/"]
    every = "30m"

Every publisher and farm needs at least one of ``home``, ``feeds`` and ``sitemaps``; ``every``
is a number of seconds or a number with ``s``, ``m``, ``h`` or ``d`` (default ``1h``). Relative
file paths are read from the watch file's folder. A mistake is one :class:`WatchListError`
naming the entry and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spintrace.db.urls import site_domain
from spintrace.errors import SpintraceError
from spintrace.records import Role

__all__ = ["AlertSettings", "SellersFile", "Target", "WatchList", "WatchListError", "load"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_EVERY = 3600.0
MAX_EVERY = 366 * 86400.0
MAX_FILE_BYTES = 1_000_000


class WatchListError(SpintraceError):
    """A watch list that cannot be read: its message names the entry and the key."""


@dataclass(frozen=True)
class Target:
    """A publisher (``role`` source) or a farm (``role`` page) and the URLs that list its
    articles."""

    role: Role
    name: str
    home: str | None
    feeds: tuple[str, ...]
    sitemaps: tuple[str, ...]
    every: float

    @property
    def site(self) -> str:
        """The host the target stands for (its home page's, else its first list's)."""
        return site_domain(self.home or (self.feeds + self.sitemaps)[0])

    @property
    def hosts(self) -> frozenset[str]:
        """The hosts of its URLs: article URLs on other hosts are not followed."""
        urls = ([self.home] if self.home else []) + [*self.feeds, *self.sitemaps]
        return frozenset(site_domain(u) for u in urls)


@dataclass(frozen=True)
class AlertSettings:
    to: tuple[str, ...] = ()
    retry_seconds: float = 60.0


@dataclass(frozen=True)
class SellersFile:
    """A sellers.json: a local ``file`` (its ad system named by ``system``) or a ``url``."""

    system: str
    location: str
    is_url: bool


@dataclass(frozen=True)
class WatchList:
    targets: tuple[Target, ...]
    alerts: AlertSettings = field(default_factory=AlertSettings)
    sellers: tuple[SellersFile, ...] = ()


def _every(value: object, where: str) -> float:
    if isinstance(value, bool):
        raise WatchListError(f"{where}: every must be a duration like 30m or 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
        if not match:
            raise WatchListError(f"{where}: every must be a duration like 30m or 2h, not {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_EVERY:  # NaN fails too
        raise WatchListError(f"{where}: every must be more than 0s and at most 366d")
    return seconds


def _url(value: object, where: str) -> str:
    parts = urlsplit(str(value)) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WatchListError(f"{where}: {value!r} is not an http(s) URL")
    return str(value)


def _urls(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise WatchListError(f"{where}: {key} must be a list of URLs")
    return tuple(_url(v, f"{where}, {key}") for v in value)


def _target(entry: object, role: Role, number: int) -> Target:
    kind = "publisher" if role == "source" else "farm"
    where = f"{kind} {number}"
    if not isinstance(entry, dict):
        raise WatchListError(f"{where}: must be a table ([[{kind}]])")
    unknown = set(entry) - {"name", "home", "feeds", "sitemaps", "every"}
    if unknown:
        raise WatchListError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    home = _url(entry["home"], f"{where}, home") if "home" in entry else None
    feeds, sitemaps = _urls(entry, "feeds", where), _urls(entry, "sitemaps", where)
    if not (home or feeds or sitemaps):
        raise WatchListError(f"{where}: give at least one of home, feeds and sitemaps")
    every = _every(entry.get("every", DEFAULT_EVERY), where)
    target = Target(role, "", home, feeds, sitemaps, every)
    name = entry.get("name", target.site)
    return Target(role, str(name), home, feeds, sitemaps, every)


def _alerts(section: object, folder: Path) -> AlertSettings:
    if section is None:
        return AlertSettings()
    if not isinstance(section, dict):
        raise WatchListError("alerts: must be a table ([alerts])")
    unknown = set(section) - {"to", "retry_seconds"}
    if unknown:
        raise WatchListError(f"alerts: unknown key {sorted(unknown)[0]!r}")
    to = section.get("to", [])
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
        raise WatchListError("alerts: to must be a list of files, '-' or webhook URLs")
    return AlertSettings(tuple(_place(t, folder) for t in to), _retry(section))


def _place(where: str, folder: Path) -> str:
    """An alert place as given: ``-``, an http(s) URL, or a file (made absolute)."""
    if where == "-":
        return where
    if "://" in where:
        return _url(where, "alerts, to")
    path = folder / Path(where).expanduser()
    if path.is_dir():
        raise WatchListError(f"alerts, to: {where!r} is a folder; give a file such as alerts.jsonl")
    if not path.parent.is_dir():
        raise WatchListError(f"alerts, to: the folder of {where!r} does not exist")
    return str(path)


def _retry(section: dict[str, Any]) -> float:
    retry = section.get("retry_seconds", 60)
    if isinstance(retry, bool) or not isinstance(retry, int | float) or not 0 <= retry <= 86400:
        raise WatchListError("alerts: retry_seconds must be a number of seconds (at most 86400)")
    return float(retry)


def _sellers(section: object, folder: Path) -> tuple[SellersFile, ...]:
    if section is None:
        return ()
    if not isinstance(section, dict) or set(section) - {"sellers"}:
        raise WatchListError("money: the only key is sellers, a list of {system, file} or {url}")
    files = []
    for number, item in enumerate(section.get("sellers", []), 1):
        where = f"money, sellers {number}"
        if not isinstance(item, dict) or set(item) - {"system", "file", "url"}:
            raise WatchListError(f"{where}: give {{system = ..., file = ...}} or {{url = ...}}")
        if "url" in item:
            url = _url(item["url"], where)
            system = item.get("system") or (urlsplit(url).hostname or "").removeprefix("www.")
            files.append(SellersFile(str(system).lower(), url, True))
        elif "file" in item and "system" in item:
            path = folder / Path(str(item["file"])).expanduser()
            files.append(SellersFile(str(item["system"]).lower(), str(path), False))
        else:
            raise WatchListError(f"{where}: a file needs the ad system it belongs to (system)")
    return tuple(files)


def load(path: str | Path) -> WatchList:
    """Read and check the watch list at ``path``; relative paths in it are made absolute
    against its folder (a list queued for workers must not depend on a working directory)."""
    path = Path(path).expanduser().resolve()
    try:
        data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise WatchListError(f"cannot read the watch list {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise WatchListError(f"{path}: a watch list is at most {MAX_FILE_BYTES} bytes")
    try:
        document = tomllib.loads(data.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WatchListError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(document) - {"publisher", "farm", "alerts", "money"}
    if unknown:
        raise WatchListError(f"{path}: unknown section {sorted(unknown)[0]!r}")
    targets: list[Target] = []
    for key, role in (("publisher", "source"), ("farm", "page")):
        entries = document.get(key, [])
        if not isinstance(entries, list):
            raise WatchListError(f"{path}: write [[{key}]] for each {key}")
        targets += [_target(entry, role, n) for n, entry in enumerate(entries, 1)]  # type: ignore[arg-type]
    if not targets:
        raise WatchListError(f"{path}: nothing to watch: add a [[publisher]] or a [[farm]]")
    return WatchList(
        tuple(targets),
        _alerts(document.get("alerts"), path.parent),
        _sellers(document.get("money"), path.parent),
    )
