"""``spintrace demo``: generated demo sites, the loopback host map, and the whole crawl demo."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from click.testing import CliRunner, Result

from spintrace.cli import cli
from spintrace.crawler.discovery import feed_links, robots_sitemaps, sitemap_links, sniff
from spintrace.crawler.hostmap import (
    LoopbackHostsHandler,
    loopback_hosts,
    loopback_target,
    map_request,
)
from spintrace.demo.farm import FARMS
from spintrace.demo.sites import DemoServers, build_sites, crawl_settings, load_jsonl

SOURCES = load_jsonl("sources.jsonl")
PAGES = load_jsonl("pages.jsonl") + load_jsonl("network.jsonl")
OPERATORS = {
    frozenset(host for host, farm in FARMS.items() if farm.operator == name)
    for name in {farm.operator for farm in FARMS.values()}
}
HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"'#]+)""", re.IGNORECASE)


@pytest.fixture(scope="module")
def sites() -> list[Any]:
    return build_sites()


# --- the generated sites (no crawl) --------------------------------------------------------------


def test_one_site_per_domain_with_every_demo_article(sites: list[Any]) -> None:
    by_role = {role: {s.host for s in sites if s.role == role} for role in ("source", "page")}
    assert by_role["source"] == {urlsplit(r["url"]).hostname for r in SOURCES}
    assert by_role["page"] == set(FARMS)
    served = {s.base + path for s in sites for path in s.articles}
    assert served == {r["url"] for r in SOURCES + PAGES}
    for site in sites:
        assert set(site.articles) <= set(site.routes)


def test_farm_html_pages_are_served_as_they_are(sites: list[Any]) -> None:
    routes = {s.base + path: reply for s in sites for path, reply in s.routes.items()}
    for record in PAGES:
        if record.get("html"):
            assert routes[record["url"]].body == record["html"].encode("utf-8")


def test_text_pages_are_rendered_into_the_farm_template(sites: list[Any]) -> None:
    routes = {s.base + path: reply.body.decode() for s in sites for path, reply in s.routes.items()}
    for record in PAGES:
        if record.get("text"):
            page = routes[record["url"]]
            first = " ".join(record["text"].split("\n\n")[0].split())
            assert first.replace("'", "&#x27;") in page
            assert "adsbygoogle" in page and "Related articles" in page
            farm = FARMS[urlsplit(record["url"]).hostname or ""]
            assert farm.analytics in page and farm.adsense in page  # the farm's own IDs
            assert f"<title>{record['title']}" in page.replace("&#x27;", "'").replace("&amp;", "&")


def test_every_same_site_link_leads_to_a_page(sites: list[Any]) -> None:
    for site in sites:
        for path, reply in site.routes.items():
            if not reply.headers[0][1].startswith("text/html"):
                continue
            for href in HREF.findall(reply.body.decode("utf-8")):
                target = urljoin(site.base + path, href)
                parts = urlsplit(target)
                if parts.hostname == site.host:
                    assert parts.path in site.routes, f"{site.base}{path} links to {target}"
                else:
                    # Pages link to no other site: a crawl with --follow would stay put too.
                    assert parts.scheme not in ("http", "https"), f"{path} links to {target}"


def test_robots_sitemaps_and_feeds_lead_to_the_articles(sites: list[Any]) -> None:
    for site in sites:
        robots = site.routes["/robots.txt"].body.decode()
        pending = robots_sitemaps(robots, site.base) or [f"{site.base}/sitemap.xml"]
        found: set[str] = set()
        while pending:
            body = site.routes[urlsplit(pending.pop()).path].body
            assert sniff(body, "application/xml") in ("sitemap", "sitemap-index")
            for url in sitemap_links(body):
                if url.endswith(".xml"):
                    pending.append(url)
                else:
                    found.add(url)
        assert {site.base + p for p in site.articles} <= found
        feed = next(r for p, r in site.routes.items() if "rss" in r.headers[0][1])
        assert feed_links(feed.body, site.start_url)


# --- the loopback host map -----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["127.0.0.1:8080", "localhost:1", "[::1]:443", "127.3.2.1:9"])
def test_loopback_targets_are_accepted(target: str) -> None:
    assert loopback_target(target) == target


@pytest.mark.parametrize(
    "target", ["10.0.0.1:80", "example.org:80", "8.8.8.8:53", "127.0.0.1", "127.0.0.1:0", ""]
)
def test_other_targets_are_refused(target: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        loopback_target(target)


def test_requests_go_to_their_host_s_loopback_server_and_nowhere_else() -> None:
    from scrapy import Request
    from scrapy.exceptions import IgnoreRequest

    hosts = loopback_hosts({"Farm.example": "127.0.0.1:4321"})
    request = Request("https://farm.example/a/b.html?x=1#top", meta={"proxy": "http://p:3128"})
    mapped = map_request(request, hosts)
    assert mapped.url == "http://127.0.0.1:4321/a/b.html?x=1"
    assert "proxy" not in mapped.meta
    assert request.url == "https://farm.example/a/b.html?x=1#top"  # what Scrapy keeps
    for url in (
        "https://elsewhere.example/",
        "http://127.0.0.1:4321/",
        "https://farm.example.org/",
    ):
        with pytest.raises(IgnoreRequest):
            map_request(Request(url), hosts)


def test_a_non_loopback_target_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        loopback_hosts({"farm.example": "192.0.2.1:80"})
    assert crawl_settings({"a.example": "127.0.0.1:1"})["DOWNLOAD_HANDLERS"]["https"] == (
        f"{LoopbackHostsHandler.__module__}.{LoopbackHostsHandler.__name__}"
    )


def test_servers_listen_on_loopback_only(sites: list[Any]) -> None:
    import urllib.request

    with DemoServers(sites[:1]) as servers:
        (address,) = servers.hosts.values()
        assert address.startswith("127.0.0.1:")
        with urllib.request.urlopen(f"http://{address}/robots.txt", timeout=5) as answer:
            assert b"Sitemap:" in answer.read()


# --- the whole demo ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("demo") / "out"
    result = CliRunner().invoke(cli, ["demo", "--output", str(folder)], catch_exceptions=False)
    return SimpleNamespace(result=result, folder=folder)


def test_demo_command(demo_run: SimpleNamespace) -> None:
    result: Result = demo_run.result
    assert result.exit_code == 0, result.output
    summary = (
        "16 of 16 copies linked to their true source, 0 links to a wrong source, 0 false links"
    )
    assert summary in result.output
    assert "crawl --as source:" in result.output and "crawl --as page:" in result.output
    # Every article and nothing else: listings, service and teaser pages are non-articles.
    assert "extracted: 8 new documents" in result.output
    assert f"extracted: {len(PAGES)} new documents" in result.output
    assert "0 skipped (finished)" in result.output
    assert "spinner substitutions learned (top 5):" in result.output
    assert "stated -> said" in result.output
    assert "dailytrendwire.example: ca-pub-1234567890123456 (adsense), G-DEMO12345" in (
        result.output
    )
    assert "newsbuzzhub.example: ca-pub-6543210987654321 (adsense), G-DEMO67890" in result.output
    for host, farm in FARMS.items():
        assert f"{host}: {farm.adsense} (adsense), {farm.analytics} (google-analytics)" in (
            result.output
        )
    assert "WARNING" not in result.output
    assert (demo_run.folder / "matches.csv").is_file()


def test_demo_stores_real_names_not_loopback_addresses(demo_run: SimpleNamespace) -> None:
    assert demo_run.result.exit_code == 0
    with sqlite3.connect(demo_run.folder / "demo.db") as db:
        captured = [row[0] for row in db.execute("select url from captures")]
        documents = {(role, url) for role, url in db.execute("select role, url from documents")}
        domains = {row[0] for row in db.execute("select domain from sites")}
    assert captured and all(u.startswith("https://") and ".example/" in u for u in captured)
    assert documents == {("source", r["url"]) for r in SOURCES} | {
        ("page", r["url"]) for r in PAGES
    }
    assert domains == {urlsplit(r["url"]).hostname for r in SOURCES + PAGES}
    settings = json.loads((demo_run.folder / "crawl-settings.json").read_text())
    assert all(t.startswith("127.0.0.1:") for t in settings["SPINTRACE_LOOPBACK_HOSTS"].values())


def test_the_network_report_finds_the_two_operators(demo_run: SimpleNamespace) -> None:
    from spintrace.db import open_engine
    from spintrace.reports.network.graph import build_network

    assert demo_run.result.exit_code == 0
    engine = open_engine(f"sqlite:///{demo_run.folder / 'demo.db'}")
    try:
        graph = build_network(engine)
        everything = build_network(engine, min_strength=0)
    finally:
        engine.dispose()
    groups: dict[int, set[str]] = {}
    for node, data in graph.nodes(data=True):
        groups.setdefault(data["community"], set()).add(node)
    assert {frozenset(group) for group in groups.values()} == OPERATORS
    assert all(len(group) >= 3 for group in OPERATORS)
    for a, b, data in everything.edges(data=True):
        same = any({a, b} <= group for group in OPERATORS)
        if same:  # one operator: shared account IDs, its spinner's own pairs, copies a day apart
            assert data["tier"] == "strong" and data["rare_spins_strength"] > 0, (a, b)
            assert graph.has_edge(a, b)
        else:  # two operators: nothing but common synonyms, under the default minimum
            assert data["tier"] == "weak", (a, b)
            assert data["ids_strength"] == data["template_strength"] == 0
            assert data["timing_strength"] == data["rare_spins_strength"] == 0
            assert data["same_spin_strength"] == 0 and not data["evidence"].same_spins
            assert not graph.has_edge(a, b)
    # Each operator's farms republish one spinner's output: same-spin edges inside it, only.
    spun_alike = {
        frozenset((a, b))
        for a, b, data in everything.edges(data=True)
        if data["evidence"].same_spins
    }
    for group in OPERATORS:
        assert any(pair <= group for pair in spun_alike), group
    assert all(any(pair <= group for group in OPERATORS) for pair in spun_alike)
    for farm in FARMS.values():  # the demo's farms share one Analytics or AdSense account each
        sharing = [f for f in FARMS.values() if f.operator == farm.operator]
        assert all(f.adsense == farm.adsense for f in sharing) or all(
            f.analytics == farm.analytics for f in sharing
        )


@pytest.mark.slow
def test_demo_runs_again_from_a_fresh_database(demo_run: SimpleNamespace) -> None:
    again = CliRunner().invoke(cli, ["demo", "--output", str(demo_run.folder)])
    assert again.exit_code == 0, again.output
    assert "16 of 16 copies linked" in again.output
    assert "extracted: 8 new documents" in again.output


def _serve(tmp_path: Path) -> subprocess.Popen[str]:
    """``spintrace demo --serve`` in a child process, killed after two minutes whatever happens
    (so a stalled child fails the test instead of hanging it)."""
    serving = subprocess.Popen(
        [sys.executable, "-m", "spintrace", "demo", "--serve", "-o", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(120, serving.kill)
    watchdog.daemon = True
    watchdog.start()
    return serving


def _stopped_cleanly(serving: subprocess.Popen[str]) -> None:
    _, err = serving.communicate(timeout=30)
    assert serving.returncode == 0, err
    assert re.search(r"stopped; \d+ requests? answered", err), err
    assert "Traceback" not in err and "Aborted" not in err, err


def test_demo_serve_serves_the_sites_for_a_users_own_crawl(tmp_path: Path) -> None:
    """`demo --serve` serves the demo sites until stopped and prints crawl commands that
    reach them (a user could not try a crawl, queued or not, without writing a script)."""
    serving = _serve(tmp_path)
    try:
        assert serving.stdout is not None
        lines = [serving.stdout.readline() for _ in range(4)]
        command = next(shlex.split(ln) for ln in lines if " crawl --as source " in ln)
        assert command[1:5] == ["crawl", "--as", "source", "--settings"]
        settings, first = Path(command[5]), command[6]
        assert settings.is_absolute() and settings.name == "serve-settings.json"
        assert first == "https://harbourgazette.example/"
        db = f"sqlite:///{tmp_path / 'own.db'}"
        farm = "https://buzzlinetoday.example/"  # listing pages trafilatura discards
        for args in (
            ["db", "upgrade"],
            ["crawl", "--as", "source", "--settings", settings, first],
            ["crawl", "--as", "page", "--settings", settings, farm],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "spintrace", "--db", db, *map(str, args)],
                capture_output=True,
                text=True,
                timeout=300,
                cwd=tmp_path,  # not where the settings file is: its path is absolute
            )
            assert done.returncode == 0, done.stderr
            # Regression (README tester): one "WARNING trafilatura.core: discarding data"
            # line per non-article page, which the crawl's summary counts anyway.
            assert "discarding data" not in done.stderr, done.stderr
        with sqlite3.connect(tmp_path / "own.db") as connection:
            urls = [u for (u,) in connection.execute("SELECT url FROM captures")]
        articles = [s for s in SOURCES if s["url"].startswith(first)]
        assert {a["url"] for a in articles} <= set(urls), urls
        assert all(url.startswith((first, farm)) for url in urls)  # real names, not loopback
    finally:
        serving.send_signal(signal.SIGINT)
    _stopped_cleanly(serving)


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT], [signal.SIGINT, signal.SIGTERM]],
    ids=["SIGTERM", "SIGINT twice", "SIGINT then SIGTERM"],
)
def test_demo_serve_stops_cleanly_on_signals_at_any_moment(
    tmp_path: Path, signals: list[int]
) -> None:
    """Review: a signal just after the servers started (before the handlers were installed),
    or a second one while stopping, ended `demo --serve` with "Aborted!" or killed it."""
    serving = _serve(tmp_path)
    assert serving.stderr is not None
    assert "serving 13 demo sites" in serving.stderr.readline()
    for number in signals:
        serving.send_signal(number)
    _stopped_cleanly(serving)


def test_the_demo_counts_every_stored_link_of_a_page() -> None:
    """Regression: the demo's comparison kept one link per page (the last by source URL), so a
    page linked to its true source and to a wrong one counted as found or as wrong, not both."""
    from spintrace.demo.run import DemoResult, _compare_with_truth

    truth = {"https://farm.example/a": "https://pub.example/1", "https://farm.example/b": ""}
    result = DemoResult(folder=Path("."), database_url="sqlite://")
    result.links = [
        {"page_url": "https://farm.example/a", "source_url": "https://pub.example/1"},
        {"page_url": "https://farm.example/a", "source_url": "https://pub.example/9"},
        {"page_url": "https://farm.example/b", "source_url": "https://pub.example/1"},
        {"page_url": "https://farm.example/c", "source_url": "https://pub.example/2"},
    ]
    _compare_with_truth(result, truth)
    assert (result.copies, result.found, result.wrong, result.false_links) == (1, 1, 1, 2)
