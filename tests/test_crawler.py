"""Real Scrapy crawls of loopback sites, each in a subprocess (Twisted's reactor cannot restart).

Every server here listens on 127.0.0.1 (or 127.0.0.2); nothing goes to the internet.
"""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.db import Capture, Document, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply, article_html, news_site

# Fast and deterministic on loopback: no politeness delays, no retries, bounded timeouts.
# Fractional values on purpose: Scrapy reads these as floats (issue 9.6 rejected them).
FAST = [
    *("-s", "DOWNLOAD_DELAY=0.0"),
    *("-s", "AUTOTHROTTLE_ENABLED=False"),
    *("-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16"),
    *("-s", "RETRY_TIMES=0"),
    *("-s", "DOWNLOAD_TIMEOUT=7.5"),
]


def run_cli(db_url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from spintrace.cli import main; main()", "--db", db_url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    engine = open_engine(url, create=True)
    upgrade(engine)
    try:
        yield url, engine
    finally:
        engine.dispose()


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        server.routes.update(news_site(server.url, articles=30, per_page=10))
        yield server


def captured(engine: Engine) -> dict[str, int]:
    """Captured path -> how many captures it has."""
    with Session(engine) as session:
        rows = session.execute(select(Capture.url, func.count()).group_by(Capture.url)).all()
    return {url.split(":", 2)[2].split("/", 1)[1]: n for url, n in rows}


def article_paths(n: int) -> set[str]:
    return {f"news/article-{i}.html" for i in range(n)}


def test_a_site_is_crawled_completely_and_recrawls_are_idempotent(
    db: tuple[str, Engine], site: LoopbackServer
) -> None:
    url, engine = db
    result = run_cli(url, "crawl", site.url + "/", *FAST)
    assert result.returncode == 0, result.stderr
    listing = {"", "category/news/", "category/news/page/2/", "category/news/page/3/"}
    # Every article, whichever way it is reachable (sitemap, feed, pagination), exactly once.
    assert captured(engine) == dict.fromkeys(article_paths(30) | listing, 1)
    assert "34 new captures" in result.stdout
    assert "30 new documents" in result.stdout and "4 non-articles" in result.stdout
    # Counted, so not also one trafilatura warning each (README tester: 24 such lines).
    assert "discarding data" not in result.stderr
    assert all(site.hits[f"/{p}"] == 1 for p in article_paths(30))
    # robots.txt disallows /private/: not fetched, reported as a skip.
    assert site.hits["/private/secret.html"] == 0
    assert "private/secret.html: Forbidden by robots.txt" in result.stderr
    with Session(engine) as session:
        docs = session.scalars(select(Document)).all()
        assert {d.role for d in docs} == {"page"}
        assert all(d.capture_id is not None and d.title for d in docs)
        capture = session.scalars(select(Capture).where(Capture.url.like("%article-3.html"))).one()
        assert capture.status == 200 and capture.role == "page" and capture.depth in (2, 3)
        assert capture.processed_at is not None and capture.outcome == "document"
        assert capture.headers and "text/html" in capture.headers["Content-Type"]

    again = run_cli(url, "crawl", site.url + "/", *FAST)
    assert again.returncode == 0, again.stderr
    assert "0 new captures, 34 unchanged" in again.stdout
    assert "0 new documents" in again.stdout
    assert sum(captured(engine).values()) == 34

    # A changed article adds one capture and one document; the old ones stay (history).
    site.routes["/news/article-5.html"] = Reply(
        article_html(5, site.url, extra="<p>Correction: the council met on Tuesday.</p>")
    )
    changed = run_cli(url, "crawl", site.url + "/", "--as", "page", *FAST)
    assert "1 new capture, 33 unchanged" in changed.stdout
    assert "1 new document," in changed.stdout
    assert captured(engine)["news/article-5.html"] == 2


def test_max_pages_and_depth_limits_hold(
    tmp_path: Path, db: tuple[str, Engine], site: LoopbackServer
) -> None:
    url, engine = db
    result = run_cli(url, "crawl", site.url + "/", "--max-pages", "5", "--no-extract", *FAST)
    assert result.returncode == 0, result.stderr
    assert sum(captured(engine).values()) == 5

    other = f"sqlite:///{tmp_path / 'depth.db'}"
    deep = open_engine(other, create=True)
    upgrade(deep)
    result = run_cli(other, "crawl", site.url + "/", "--depth", "1", "--no-extract", *FAST)
    assert result.returncode == 0, result.stderr
    # Depth 1: the home page and what it links to; sitemap and feed articles are deeper.
    assert set(captured(deep)) == {"", "category/news/"}
    deep.dispose()

    # Regression (issue 9.15): --depth 0 meant unlimited (Scrapy's DEPTH_LIMIT=0); it is the
    # start pages only.
    start_only = f"sqlite:///{tmp_path / 'start.db'}"
    shallow = open_engine(start_only, create=True)
    upgrade(shallow)
    result = run_cli(start_only, "crawl", site.url + "/", "--depth", "0", "--no-extract", *FAST)
    assert result.returncode == 0, result.stderr
    assert set(captured(shallow)) == {""}
    shallow.dispose()


def test_the_crawl_stays_on_its_domain_unless_follow(db: tuple[str, Engine]) -> None:
    url, engine = db
    with LoopbackServer() as home, LoopbackServer(host="127.0.0.2") as elsewhere:
        elsewhere.routes["/copied.html"] = Reply(article_html(1, elsewhere.url))
        home.routes["/"] = Reply(
            f"<html><body><a href='/a.html'>a</a> <a href='{elsewhere.url}/copied.html'>b</a>"
            "</body></html>".encode()
        )
        home.routes["/a.html"] = Reply(article_html(2, home.url))
        result = run_cli(url, "crawl", home.url + "/", "--no-extract", *FAST)
        assert result.returncode == 0, result.stderr
        assert elsewhere.hits["/copied.html"] == 0
        assert set(captured(engine)) == {"", "a.html"}

        result = run_cli(url, "crawl", home.url + "/", "--follow", "--no-extract", *FAST)
        assert result.returncode == 0, result.stderr
        assert elsewhere.hits["/copied.html"] == 1
        assert "copied.html" in captured(engine)


def test_list_mode_fetches_exactly_the_given_urls(
    db: tuple[str, Engine], site: LoopbackServer
) -> None:
    url, engine = db
    urls = [f"{site.url}/news/article-2.html", f"{site.url}/news/article-7.html"]
    result = run_cli(url, "crawl", "--list", "--as", "source", *urls, *FAST)
    assert result.returncode == 0, result.stderr
    assert set(captured(engine)) == {"news/article-2.html", "news/article-7.html"}
    assert site.hits["/sitemap_index.xml"] == 0 and site.hits["/category/news/"] == 0
    with Session(engine) as session:
        assert set(session.scalars(select(Document.role))) == {"source"}


def _hostile_routes(base: str) -> tuple[dict[str, Reply], list[str]]:
    rng = random.Random(4)
    html = (("Content-Type", "text/html; charset=utf-8"),)
    routes: dict[str, Reply] = {}
    links: list[str] = []
    for i in range(20):
        links.append(f"/gone-{i}.html")
    for i in range(10):
        links.append(f"/broken-{i}.html")
        routes[f"/broken-{i}.html"] = Reply(b"<html>oops</html>", status=500)
    routes["/loop-a"] = Reply(status=302, headers=(("Location", "/loop-b"),))
    routes["/loop-b"] = Reply(status=302, headers=(("Location", "/loop-a"),))
    routes["/big.html"] = Reply(b"<html><body>" + b"<p>big page</p>" * 200_000 + b"</body></html>")
    routes["/bomb.html"] = Reply(
        gzip.compress(b"<html>" + b" " * 50_000_000, 9),
        headers=(*html, ("Content-Encoding", "gzip")),
    )
    routes["/binary.html"] = Reply(bytes(rng.randrange(256) for _ in range(20_000)), headers=html)
    routes["/slow.html"] = Reply(article_html(40, base), delay=6)
    routes["/wrong-charset.html"] = Reply(
        article_html(41, base, extra="<p>Le café était fermé.</p>").decode().encode("latin-1"),
        headers=html,
    )
    routes["/no-charset.html"] = Reply(
        article_html(42, base, extra="<p>A naïve reader.</p>").replace(
            b"<meta charset='utf-8'>", b""
        ),
        headers=(("Content-Type", "text/html"),),
    )
    routes["/malformed.html"] = Reply(
        article_html(43, base).replace(b"</p>", b"").replace(b"</article>", b"<div><span><b")
        + b"\x00<<<>>>&&&#;"
    )
    routes["/robots.txt"] = Reply(
        b"User-agent: *\nDisallow: /private/\n", headers=(("Content-Type", "text/plain"),)
    )
    links += [
        "/loop-a",
        "/big.html",
        "/bomb.html",
        "/binary.html",
        "/slow.html",
        "/wrong-charset.html",
        "/no-charset.html",
        "/malformed.html",
        "/private/hidden.html",
        "/calendar/2024/1/",
    ]
    routes["/"] = Reply(
        "<html><body>{}</body></html>".format(
            "".join(f"<a href='{link}'>{link}</a> " for link in links)
        ).encode()
    )
    return routes, links


def _calendar(path: str) -> Reply | None:
    # An endless trap: every month links to the next one, forever.
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "calendar":
        return None
    year, month = int(parts[1]), int(parts[2])
    nxt = f"/calendar/{year + month // 12}/{month % 12 + 1}/"
    return Reply(
        f"<html><body><h1>{year}-{month}</h1><a href='{nxt}'>next</a></body></html>".encode()
    )


def test_hostile_responses_are_logged_skips_and_the_crawl_goes_on(
    db: tuple[str, Engine],
) -> None:
    url, engine = db
    with LoopbackServer(fallback=_calendar) as server:
        routes, _ = _hostile_routes(server.url)
        server.routes.update(routes)
        result = run_cli(
            url,
            "-v",
            "crawl",
            server.url + "/",
            "--depth",
            "4",
            *FAST,
            *("-s", "DOWNLOAD_MAXSIZE=1000000"),
            *("-s", "DOWNLOAD_TIMEOUT=2"),
            timeout=90,
        )
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert "Traceback" not in log
    for i in range(20):
        assert f"gone-{i}.html: HTTP 404" in log
    for i in range(10):
        assert f"broken-{i}.html: HTTP 500" in log
    assert "loop-a: redirect loop" in log
    for name, reason in (
        ("big.html", "max size"),
        ("bomb.html", "1000000"),
        ("binary.html", "binary data"),
        ("slow.html", "Timeout"),
        ("private/hidden.html", "Forbidden by robots.txt"),
    ):
        line = next((ln for ln in log.splitlines() if "skipped http" in ln and name in ln), "")
        assert reason.lower() in line.lower(), f"{name}: {line!r}"
    paths = captured(engine)
    assert {"wrong-charset.html", "no-charset.html", "malformed.html"} <= set(paths)
    assert not {"big.html", "bomb.html", "binary.html", "slow.html"} & set(paths)
    # The calendar trap ends at the depth limit.
    assert 1 <= sum(1 for p in paths if p.startswith("calendar/")) <= 4
    with Session(engine) as session:
        texts = {d.url.rsplit("/", 1)[1]: d.text for d in session.scalars(select(Document)).all()}
    assert "naïve" in texts["no-charset.html"]
    assert "café" in texts["wrong-charset.html"]
    assert "Story 43 part 3" in texts["malformed.html"]


def test_bad_start_urls_are_one_error_line(db: tuple[str, Engine]) -> None:
    url, _ = db
    for bad in ("not-a-url", "ftp://127.0.0.1/x", "http://"):
        result = run_cli(url, "crawl", bad, *FAST)
        assert result.returncode == 1
        assert result.stderr.strip().startswith("Error:") and "http(s) URL" in result.stderr
        assert "Traceback" not in result.stderr
    # A port nobody listens on: the crawl reaches nothing and says so in one line.
    result = run_cli(url, "crawl", "http://127.0.0.1:9/", *FAST)
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("Error: could not fetch")
    assert "Traceback" not in result.stderr


def test_user_agent_settings_file_and_overrides(
    tmp_path: Path, db: tuple[str, Engine], site: LoopbackServer
) -> None:
    url, _ = db
    page = f"{site.url}/news/article-1.html"
    result = run_cli(
        url, "crawl", "--list", page, "-s", "SPINTRACE_CONTACT=mailto:a@b.example", *FAST
    )
    assert result.returncode == 0, result.stderr
    assert any("spintrace/" in ua and "mailto:a@b.example" in ua for ua in site.user_agents)

    toml = tmp_path / "crawl.toml"
    toml.write_text('USER_AGENT = "from-file/1"\nDOWNLOAD_DELAY = 0\n', encoding="utf-8")
    site.user_agents.clear()
    result = run_cli(url, "crawl", "--list", page, "--settings", str(toml), *FAST)
    assert result.returncode == 0, result.stderr
    assert site.user_agents == {"from-file/1"}

    site.user_agents.clear()
    result = run_cli(
        url, "crawl", "--list", page, "--settings", str(toml), "-s", "USER_AGENT=cli/2", *FAST
    )
    assert site.user_agents == {"cli/2"}

    for bad in (["-s", "NOVALUE"], ["--settings", str(tmp_path / "missing.toml")]):
        result = run_cli(url, "crawl", page, *bad)
        assert result.returncode == 1 and result.stderr.startswith("Error:"), result.stderr


def test_a_mistyped_setting_is_one_error_line(db: tuple[str, Engine]) -> None:
    url, _ = db
    result = run_cli(url, "crawl", "http://127.0.0.1:9/", "-s", "DOWNLOAD_DELAY=abc")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad crawl setting DOWNLOAD_DELAY='abc': Scrapy expects a number" in result.stderr
    result = run_cli(url, "crawl", "http://127.0.0.1:9/", "-s", "CONCURRENT_REQUESTS=2.5")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "CONCURRENT_REQUESTS='2.5': Scrapy expects a whole number" in result.stderr


def test_urls_from_stdin(db: tuple[str, Engine], site: LoopbackServer) -> None:
    """``--from-file -`` reads the URLs from standard input (issue 9.7: '-' everywhere)."""
    url, engine = db
    command = [sys.executable, "-c", "from spintrace.cli import main; main()", "--db", url]
    result = subprocess.run(
        [*command, "crawl", "--list", "--from-file", "-", "--no-extract", *FAST],
        input=f"# one article\n{site.url}/news/article-1.html\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert set(captured(engine)) == {"news/article-1.html"}


@pytest.mark.parametrize("quiet", [False, True])
def test_a_crawl_shows_its_progress_unless_quiet(db: tuple[str, Engine], quiet: bool) -> None:
    """Issue 14: between -q's silence and -v's Scrapy dump, lines of pages, new captures,
    skips and rate on stderr (one per interval when stderr is not a terminal)."""
    url, _ = db
    with LoopbackServer() as slow:
        routes = news_site(slow.url, articles=6, per_page=10)
        slow.routes.update({p: replace(r, delay=0.25) for p, r in routes.items()})
        flags = ["-q"] if quiet else []
        cmd = [*flags, "crawl", slow.url + "/", *FAST, "-s", "SPINTRACE_PROGRESS_INTERVAL=0.2"]
        result = subprocess.run(
            [sys.executable, "-m", "spintrace", "--db", url, *cmd],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("crawling: ")]
    if quiet:
        assert lines == [] and result.stdout == ""
        return
    assert len(lines) >= 2, result.stderr
    assert all(" skipped, " in ln and " pages/s, " in ln for ln in lines)
    assert "new capture" in lines[-1]
