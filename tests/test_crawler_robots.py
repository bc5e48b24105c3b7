"""robots.txt holds for every queued URL of a host, and its fetch outcomes follow RFC 9309.

Real Scrapy crawls (in subprocesses) of servers on 127.0.0.1 that the tests start.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_crawler import FAST, run_cli

from spintrace.db import Capture, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply, article_html

TEXT = (("Content-Type", "text/plain"),)
PRIVATE = ("/private/secret.html", "/private/other.html")
PUBLIC = ("/a1.html", "/a2.html", "/a3.html")


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'robots.db'}"
    engine = open_engine(url, create=True)
    upgrade(engine)
    engine.dispose()
    return url


def _captured(db_url: str) -> set[str]:
    engine = open_engine(db_url)
    with Session(engine) as session:
        urls = set(session.scalars(select(Capture.url)))
    engine.dispose()
    return urls


@pytest.mark.parametrize("mode", ["--list", "site"])
def test_robots_txt_holds_for_the_third_and_later_urls_of_a_host(tmp_path: Path, mode: str) -> None:
    """Regression (issue 9.8): Scrapy's middleware gave every waiter after the first a ``None``
    parser ("no robots.txt"), so the third queued URL of a host was fetched though disallowed."""
    db_url = _db(tmp_path)
    with LoopbackServer() as server:
        server.routes["/robots.txt"] = Reply(b"User-agent: *\nDisallow: /private/\n", headers=TEXT)
        for number, path in enumerate(PUBLIC + PRIVATE):
            server.routes[path] = Reply(article_html(number, server.url))
        # Public and private interleaved, all queued at once: a2 waits for robots.txt, and
        # secret.html is the third URL of the host.
        order = [PUBLIC[0], PUBLIC[1], PRIVATE[0], PUBLIC[2], PRIVATE[1]]
        urls = [server.url + path for path in order]
        args = ["--list"] if mode == "--list" else ["--depth", "0"]
        result = run_cli(db_url, "crawl", *args, "--no-extract", *urls, *FAST)
        assert result.returncode == 0, result.stderr
        assert all(server.hits[path] == 0 for path in PRIVATE), dict(server.hits)
        assert all(server.hits[path] == 1 for path in PUBLIC), dict(server.hits)
        # Once for the rules; in site mode once more for its sitemaps (not once per start URL).
        assert server.hits["/robots.txt"] == (1 if mode == "--list" else 2)
    assert _captured(db_url) == {server.url + path for path in PUBLIC}
    for path in PRIVATE:
        assert f"{path}: Forbidden by robots.txt" in result.stderr


def _pages(server: LoopbackServer) -> None:
    for number, path in enumerate(PUBLIC):
        server.routes[path] = Reply(article_html(number, server.url))


def test_robots_txt_fetch_outcomes_follow_rfc_9309(tmp_path: Path) -> None:
    """A 4xx robots.txt allows everything; a 5xx one, one over DOWNLOAD_MAXSIZE and one that
    is not text disallow the whole host, with the reason logged and given for each page."""
    db_url = _db(tmp_path)
    maxsize = 20_000
    oversize = b"User-agent: *\nAllow: /\n" + b"# a comment line to pad the file\n" * 2_000
    assert len(oversize) > maxsize
    rng = random.Random(9)
    binary = bytes(rng.randrange(256) for _ in range(4_000))
    with (
        LoopbackServer() as missing,
        LoopbackServer() as failing,
        LoopbackServer() as huge,
        LoopbackServer() as garbage,
    ):
        for server in (missing, failing, huge, garbage):
            _pages(server)
        failing.routes["/robots.txt"] = Reply(b"Service Unavailable", status=503, headers=TEXT)
        huge.routes["/robots.txt"] = Reply(oversize, headers=TEXT)
        garbage.routes["/robots.txt"] = Reply(binary, headers=TEXT)
        urls = [s.url + path for s in (missing, failing, huge, garbage) for path in PUBLIC]
        result = run_cli(
            db_url,
            "crawl",
            "--list",
            "--no-extract",
            *urls,
            *FAST,
            *("-s", f"DOWNLOAD_MAXSIZE={maxsize}", "-s", "DOWNLOAD_WARNSIZE=0"),
        )
        assert result.returncode == 0, result.stderr
        assert missing.hits["/robots.txt"] == 1
        for server in (failing, huge, garbage):
            assert server.hits["/robots.txt"] == 1
            assert not any(server.hits[path] for path in PUBLIC), dict(server.hits)
    assert _captured(db_url) == {missing.url + path for path in PUBLIC}
    log = result.stderr
    for server, reason in (
        (failing, "answered HTTP 503"),
        (huge, "larger than download max size"),
        (garbage, "is not a text file"),
    ):
        host = server.url.removeprefix("http://")
        # Logged once per host...
        ours = "WARNING spintrace.crawler.robots: "
        warning = [ln for ln in log.splitlines() if ln.startswith(ours) and host in ln]
        assert len(warning) == 1 and reason in warning[0], warning
        assert f"every page of {host} is disallowed (RFC 9309)" in warning[0]
        # ... and repeated by every page it kept from being fetched.
        for path in PUBLIC:
            line = next(ln for ln in log.splitlines() if f"skipped {server.url}{path}:" in ln)
            # Not "forbidden": the site may have no rules at all (regression: it said so).
            assert "its robots.txt could not be read" in line and reason in line, line
            assert "Forbidden" not in line, line


def test_an_unreachable_robots_txt_is_not_called_forbidden(tmp_path: Path) -> None:
    """Regression: a start URL whose server refused the robots.txt connection failed with
    "IgnoreRequest: Forbidden by robots.txt: ...", as if the site's rules forbade it."""
    db_url = _db(tmp_path)
    url = "http://127.0.0.1:9"  # the discard port: nothing listens there
    result = run_cli(db_url, "crawl", "--no-extract", url + "/a1.html", *FAST)
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: could not fetch {url}/a1.html: its robots.txt could not")
    assert "be read: " in error and "robots.txt could not be fetched (" in error, error
    assert "Forbidden" not in error and "IgnoreRequest" not in error, error
