"""``spintrace demo``: crawl bundled demo websites on loopback, match, export, compare.

1. A fresh SQLite database in the output folder, migrated.
2. The demo websites (:mod:`spintrace.demo.sites`, generated from the bundled public-domain
   demo data) served on 127.0.0.1: one publisher site per source domain and six content farms
   run by two operators (:data:`spintrace.demo.farm.FARMS`).
3. Two real crawls, exactly as ``spintrace crawl`` runs them (the same command, in a child
   process: Twisted's reactor runs once per process): the publishers ``--as source``, the farms
   ``--as page``. The crawl settings (``crawl-settings.json`` in the output folder) route each
   ``*.example`` host to its loopback server (:mod:`spintrace.crawler.hostmap`), so the stored
   URLs and sites keep their real names and nothing can leave the machine. Each crawl stores
   captures, extracts the articles and stores the sites' tracking IDs.
4. ``match``, ``matches.csv``, and a comparison of the links with ``demo/data/truth.csv``.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.engine import open_engine
from spintrace.db.migrate import upgrade
from spintrace.db.models import Site, SiteIndicator
from spintrace.demo.sites import DemoServers, DemoSite, build_sites, write_crawl_settings
from spintrace.demo.watching import money_trail, watch_round
from spintrace.errors import SpintraceError
from spintrace.linking.match import MatchReport, match_pages
from spintrace.linking.substitutions import LearnedPair, iter_learned
from spintrace.records import INDICATOR_KINDS, Role
from spintrace.reports.export import export_table, iter_rows
from spintrace.watch import RoundReport

__all__ = ["CrawlRun", "DemoError", "DemoResult", "run_demo"]

# Indicator kinds that are tracking or advertising account IDs (not themes or links).
TRACKING_KINDS = tuple(kind.name for kind in INDICATOR_KINDS if kind.rule == "id")
TOP_SUBSTITUTIONS = 5
CRAWL_TIMEOUT = 300  # seconds; the demo crawls take a few seconds


class DemoError(SpintraceError):
    """A step of the demo failed (its crawl, most likely); the message says which."""


@dataclass
class CrawlRun:
    """One demo crawl: its role, start URLs, the command's output lines and wall time."""

    role: Role
    urls: list[str]
    output: list[str]
    seconds: float


@dataclass
class DemoResult:
    """What the demo did and how its links compare with the demo's known truth."""

    folder: Path
    database_url: str
    sites: list[DemoSite] = field(default_factory=list)
    crawls: list[CrawlRun] = field(default_factory=list)
    requests: int = 0
    match: MatchReport | None = None
    links: list[dict[str, Any]] = field(default_factory=list)
    copies: int = 0
    found: int = 0
    wrong: int = 0
    false_links: int = 0
    substitutions: list[LearnedPair] = field(default_factory=list)
    tracking: dict[str, list[str]] = field(default_factory=dict)
    watch: RoundReport | None = None
    money: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


def _truth() -> dict[str, str]:
    """The demo's known truth (demo/data/truth.csv): page URL -> source URL, empty for a
    page that copies no source."""
    text = (resources.files("spintrace.demo") / "data" / "truth.csv").read_text(encoding="utf-8")
    return {row["page_url"]: row["source_url"] for row in csv.DictReader(io.StringIO(text))}


def _crawl(db_url: str, role: Role, urls: list[str], settings_file: Path) -> CrawlRun:
    """``spintrace crawl URL... --as ROLE --settings FILE`` in a child process."""
    command = [
        sys.executable,
        "-c",
        "from spintrace.cli import main; main()",
        "--db",
        db_url,
        "crawl",
        *urls,
        "--as",
        role,
        "--settings",
        str(settings_file),
    ]
    env = {k: v for k, v in os.environ.items() if k != "SPINTRACE_DB"}
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CRAWL_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"the demo's {role} crawl took over {CRAWL_TIMEOUT} s") from None
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error:")]
        reason = (errors or lines or [f"exit status {done.returncode}"])[-1]
        raise DemoError(f"the demo's {role} crawl failed: {reason.removeprefix('Error: ')}")
    # The command's summary, and its list of skipped URLs (stderr), not library log lines.
    lines = [line for line in done.stdout.splitlines() if line.strip()] + [
        line.strip()
        for line in done.stderr.splitlines()
        if line.strip().startswith(("skipped ", "... and "))
    ]
    return CrawlRun(role, urls, lines, time.monotonic() - started)


def _tracking(session: Session, domains: list[str]) -> dict[str, list[str]]:
    """The tracking and ad account IDs stored for each of ``domains``, as ``VALUE (KIND)``."""
    found: dict[str, list[str]] = {domain: [] for domain in domains}
    query = (
        select(Site.domain, SiteIndicator.kind, SiteIndicator.value)
        .join(Site, Site.id == SiteIndicator.site_id)
        .where(Site.domain.in_(domains), SiteIndicator.kind.in_(TRACKING_KINDS))
        .order_by(Site.domain, SiteIndicator.kind, SiteIndicator.value)
    )
    for domain, kind, value in session.execute(query):
        found[domain].append(f"{value} ({kind})")
    return found


def _replace_database(folder: Path) -> str:
    """Creates ``folder`` if need be, deletes its previous demo database (and the database's
    WAL files), and returns the URL of the new one (not created yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "demo.db"
    for stale in (db_path, folder / "demo.db-wal", folder / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    return f"sqlite:///{db_path.resolve()}"


def _migrate(url: str) -> None:
    """Creates the database at ``url`` and migrates it to the newest schema."""
    engine = open_engine(url, create=True)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _serve_crawl_match_watch(result: DemoResult, settings: Settings | None) -> None:
    """Serves the demo sites, writes the crawl settings that reach them, crawls the
    publishers (``--as source``) then the farms (``--as page``) into the demo database,
    matches, and runs one watch round over the same sites (:mod:`spintrace.demo.watching`)."""
    with DemoServers(result.sites) as servers:
        settings_file = write_crawl_settings(result.folder, servers.hosts)
        for role in ("source", "page"):
            urls = [site.start_url for site in result.sites if site.role == role]
            result.crawls.append(_crawl(result.database_url, role, urls, settings_file))
        _match_and_export(result, settings)
        result.watch = watch_round(result.folder, result.database_url, result.sites, servers.hosts)
        farms = [site.host for site in result.sites if site.role == "page"]
        result.money = money_trail(result.database_url, farms)
        result.requests = servers.requests


def _match_and_export(result: DemoResult, settings: Settings | None) -> None:
    """Matches the crawled pages to the sources, writes ``matches.csv``, and reads back the
    links, the top learned substitutions and the farms' tracking IDs."""
    engine = open_engine(result.database_url)
    try:
        result.match = match_pages(engine, settings)
        with (result.folder / "matches.csv").open("w", newline="", encoding="utf-8") as out:
            export_table(engine, "matches", "csv", out)
        # By URL: the crawl stores pages in whatever order they arrive, and the output should
        # read the same every run.
        result.links = sorted(
            iter_rows(engine, "matches"), key=lambda row: (row["page_url"], row["source_url"])
        )
        result.substitutions = list(iter_learned(engine))[:TOP_SUBSTITUTIONS]
        with Session(engine) as session:
            farms = [site.host for site in result.sites if site.role == "page"]
            result.tracking = _tracking(session, farms)
    finally:
        engine.dispose()


def _compare_with_truth(result: DemoResult, truth: dict[str, str]) -> None:
    """Counts the copies in ``truth`` (page URL -> source URL, empty for a non-copy) and how
    ``result.links`` found them, every stored link counted (a page may have several): copies
    linked to their true source, links to a wrong source, and links of pages that copy
    nothing (or that the truth does not know: a crawled non-copy)."""
    result.copies = sum(1 for source in truth.values() if source)
    found: set[str] = set()
    for row in result.links:
        page, source = str(row["page_url"]), str(row["source_url"])
        true = truth.get(page, "")
        if not true:
            result.false_links += 1
        elif source == true:
            found.add(page)
        else:
            result.wrong += 1
    result.found = len(found)


def run_demo(folder: Path, settings: Settings | None = None) -> DemoResult:
    """Serve, crawl, match and export into ``folder`` (its previous demo database is replaced)."""
    started = time.monotonic()
    url = _replace_database(folder)
    result = DemoResult(folder=folder, database_url=url, sites=build_sites())
    _migrate(url)
    _serve_crawl_match_watch(result, settings)
    _compare_with_truth(result, _truth())
    result.seconds = time.monotonic() - started
    return result
