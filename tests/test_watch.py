"""Watch rounds (issue 13, items 1-2): three rounds against loopback publishers and farms that
change between rounds. Alerts are exactly the new links, each once; unchanged lists answer 304;
no unchanged page is fetched in full again; a site that is down is skipped and caught up."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db import Alert
from spintrace.db.models import utcnow
from spintrace.demo.loopback import LoopbackServer, Reply
from spintrace.watch import WatchListError, due_targets, load, run_round

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "RETRY_TIMES": 0}
SOURCES = [json.loads(line) for line in (DEMO / "sources.jsonl").read_text("utf-8").splitlines()]


def _article(title: str, text: str, published: str | None = None) -> Reply:
    meta = f"<meta property='article:published_time' content='{published}'>" if published else ""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return Reply(
        (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>{meta}</head><body><article><h1>{html.escape(title)}</h1>{paragraphs}"
            "</article></body></html>"
        ).encode()
    )


def _spun(text: str) -> str:
    swaps = {" said ": " stated ", " will ": " shall ", " new ": " recent ", " council ": " board "}
    for a, b in swaps.items():
        text = text.replace(a, b)
    return text


def _rss(base: str, paths: list[str], dates: dict[str, str] | None = None) -> Reply:
    items = "".join(
        f"<item><title>{p}</title><link>{base}{p}</link>"
        + (f"<pubDate>{(dates or {})[p]}</pubDate>" if p in (dates or {}) else "")
        + "</item>"
        for p in paths
    )
    body = (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>{items}</channel></rss>"
    )
    return Reply(body.encode(), headers=(("Content-Type", "application/rss+xml"),))


def _sitemap(base: str, lastmods: dict[str, str]) -> Reply:
    urls = "".join(
        f"<url><loc>{base}{p}</loc><lastmod>{d}</lastmod></url>" for p, d in lastmods.items()
    )
    body = f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>"
    return Reply(body.encode(), headers=(("Content-Type", "application/xml"),))


def _home(paths: list[str]) -> Reply:
    links = "".join(f"<li><a href='{p}'>story</a></li>" for p in paths)
    return Reply(
        f"<!DOCTYPE html><html><body><h1>Latest</h1><ul>{links}</ul></body></html>".encode()
    )


def _alert_pairs(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(Alert.page_url, Alert.source_url).order_by(Alert.id)).all()
    return [(page.rsplit("/", 1)[-1], source.rsplit("/", 1)[-1]) for page, source in rows]


def test_three_rounds_alert_exactly_the_new_copies(migrated: Engine, tmp_path: Path) -> None:
    with (
        LoopbackServer() as publisher,
        LoopbackServer() as farm,
        LoopbackServer() as sister,
    ):
        p, f, s = publisher.url, farm.url, sister.url
        for i, source in enumerate(SOURCES[:4]):  # a2 and a3 are listed in later rounds
            publisher.routes[f"/news/a{i}"] = _article(
                source["title"], source["text"], f"{source['published']}T08:00:00Z"
            )
        publisher.routes["/feed.xml"] = _rss(p, ["/news/a0", "/news/a1"])
        publisher.routes["/sitemap.xml"] = _sitemap(p, {"/news/a0": "2026-03-14"})
        farm.routes["/"] = _home(["/c0"])
        farm.routes["/c0"] = _article("copy", _spun(SOURCES[0]["text"]))
        sister.routes["/feed.xml"] = _rss(s, [])
        watch_file = tmp_path / "watch.toml"
        alerts_file = tmp_path / "alerts.jsonl"
        watch_file.write_text(
            f'[alerts]\nto = ["alerts.jsonl"]\n\n'
            f'[[publisher]]\nname = "Victim"\nfeeds = ["{p}/feed.xml"]\n'
            f'sitemaps = ["{p}/sitemap.xml"]\nevery = "1h"\n\n'
            f'[[farm]]\nhome = "{f}/"\nevery = "30m"\n\n'
            f'[[farm]]\nfeeds = ["{s}/feed.xml"]\n',
            encoding="utf-8",
        )
        watch = load(watch_file)

        # Round 1: two sources, one copy.
        one = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert not one.failed, one.failed
        assert _alert_pairs(migrated) == [("c0", "a0")]
        assert one.alerts == 1 and one.delivered == 1

        # Round 2: a new source, a copy of it and of a1 (spun) on the farm; the sister farm
        # is down; the sitemap is unchanged (304).
        publisher.routes["/feed.xml"] = _rss(p, ["/news/a0", "/news/a1", "/news/a2"])
        farm.routes["/"] = _home(["/c0", "/c1", "/c2"])
        farm.routes["/c1"] = _article("copy 1", _spun(SOURCES[1]["text"]))
        farm.routes["/c2"] = _article("copy 2", SOURCES[2]["text"])
        sister.down = True
        two = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert set(two.failed) == {s.removeprefix("http://")}, two.failed
        assert two.lists_not_modified >= 1  # the sitemap
        assert sorted(_alert_pairs(migrated)[1:]) == [("c1", "a1"), ("c2", "a2")]
        assert two.alerts == 2

        # Round 3: the sister farm is back with a copy of a3 (a new source too); the
        # publisher's sitemap says a0 changed (it did not: the conditional re-fetch gets 304);
        # nothing else changed.
        sister.down = False
        sister.routes["/feed.xml"] = _rss(s, ["/d3"])
        sister.routes["/d3"] = _article("sister copy", SOURCES[3]["text"])
        publisher.routes["/feed.xml"] = _rss(p, ["/news/a0", "/news/a1", "/news/a2", "/news/a3"])
        changed = utcnow().isoformat()  # after round 1 fetched it
        publisher.routes["/sitemap.xml"] = _sitemap(p, {"/news/a0": changed})
        full_before = {path: n for path, n in publisher.full.items() if path.startswith("/news/")}
        three = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert not three.failed, three.failed
        assert _alert_pairs(migrated)[3:] == [("d3", "a3")]
        assert three.pages_not_modified == 1  # a0, asked conditionally

    # Every alert once, in the file too.
    pairs = _alert_pairs(migrated)
    assert len(pairs) == len(set(pairs)) == 4
    lines = [json.loads(line) for line in alerts_file.read_text("utf-8").splitlines()]
    assert len(lines) == 4 and len({line["id"] for line in lines}) == 4
    # No page was fetched in full twice: a0's re-fetch answered 304.
    full = {path: n for path, n in publisher.full.items() if path.startswith("/news/")}
    assert full == {"/news/a0": 1, "/news/a1": 1, "/news/a2": 1, "/news/a3": 1}
    assert full_before["/news/a0"] == 1
    assert all(n == 1 for path, n in farm.full.items() if path.startswith("/c"))
    # The farm's home page changed in round 2 only: it was sent in full twice, and 304 once.
    assert farm.full["/"] == 2 and farm.hits["/"] == 3


def test_a_round_that_died_after_listing_fetches_the_entries_next_time(
    migrated: Engine, tmp_path: Path
) -> None:
    """Entries are stored with their list's validators: a round killed before the page
    fetches finds them next time even though the list now answers 304."""
    from spintrace.watch import rounds

    with LoopbackServer() as publisher:
        p = publisher.url
        publisher.routes["/news/a0"] = _article(SOURCES[0]["title"], SOURCES[0]["text"])
        publisher.routes["/feed.xml"] = _rss(p, ["/news/a0"])
        (tmp_path / "w.toml").write_text(f'[[publisher]]\nfeeds = ["{p}/feed.xml"]\n', "utf-8")
        watch = load(tmp_path / "w.toml")
        original = rounds.fetch_pages

        def killed(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        rounds.fetch_pages = killed  # type: ignore[assignment]
        try:
            with pytest.raises(KeyboardInterrupt):
                run_round(migrated, watch, crawl_settings=FAST, force=True)
        finally:
            rounds.fetch_pages = original
        report = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert report.lists_not_modified == 1 and report.entries_due == 1
        assert report.pages_new == 1 and publisher.full["/news/a0"] == 1


def test_due_targets_follow_each_interval(migrated: Engine, tmp_path: Path) -> None:
    with LoopbackServer() as site:
        site.routes["/feed.xml"] = _rss(site.url, [])
        (tmp_path / "w.toml").write_text(
            f'[[publisher]]\nfeeds = ["{site.url}/feed.xml"]\nevery = "1h"\n', "utf-8"
        )
        watch = load(tmp_path / "w.toml")
        now = utcnow()
        assert len(due_targets(migrated, watch, now)) == 1  # never checked
        run_round(migrated, watch, crawl_settings=FAST, now=now)
        assert due_targets(migrated, watch, now + timedelta(minutes=59)) == []
        assert len(due_targets(migrated, watch, now + timedelta(minutes=61))) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[farm]]\nname = 'x'\n", "farm 1: give at least one of home, feeds and sitemaps"),
        ("[[farm]]\nhome = 'ftp://x/'\n", "farm 1, home: 'ftp://x/' is not an http(s) URL"),
        ("[[publisher]]\nfeeds = ['https://a.example/f']\nevery = 'soon'\n", "every must be"),
        ("[[publisher]]\nfeds = ['https://a.example/f']\n", "unknown key 'feds'"),
        ("[alerts]\nto = 'x.jsonl'\n", "nothing to watch"),
        ("[[farm]\n", "is not valid TOML"),
    ],
)
def test_a_bad_watch_list_is_one_error_line(
    tmp_path: Path, sqlite_url: str, content: str, message: str
) -> None:
    path = tmp_path / "w.toml"
    path.write_text(content, "utf-8")
    with pytest.raises(WatchListError):
        load(path)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "watch", str(path), "--once"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output


def test_queued_watch_rounds_run_on_workers(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL: `watch FILE --queue` stores the list and queues one job per due site; a
    burst worker runs them (the same rounds), and queueing again while they wait adds none."""
    import os
    import subprocess
    import sys

    from spintrace.db import open_engine, upgrade

    engine = open_engine(pg_url)
    upgrade(engine)
    env = {k: v for k, v in os.environ.items() if k != "SPINTRACE_DB"}
    with LoopbackServer() as publisher, LoopbackServer() as farm:
        p, f = publisher.url, farm.url
        publisher.routes["/news/a0"] = _article(SOURCES[0]["title"], SOURCES[0]["text"])
        publisher.routes["/feed.xml"] = _rss(p, ["/news/a0"])
        farm.routes["/"] = _home(["/c0"])
        farm.routes["/c0"] = _article("copy", _spun(SOURCES[0]["text"]))
        farm.routes["/ads.txt"] = Reply(
            b"google.com, pub-1, DIRECT\n", headers=(("Content-Type", "text/plain"),)
        )
        path = tmp_path / "watch.toml"
        path.write_text(
            f'[alerts]\nto = ["alerts.jsonl"]\n[[publisher]]\nfeeds = ["{p}/feed.xml"]\n'
            f'[[farm]]\nhome = "{f}/"\n',
            "utf-8",
        )
        command = [sys.executable, "-m", "spintrace", "--db", pg_url, "watch", str(path)]
        settings = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"]
        first = subprocess.run(
            [*command, "--queue", *settings], capture_output=True, text=True, env=env
        )
        assert first.returncode == 0, first.stderr
        assert "2 sites queued now" in first.stdout
        again = subprocess.run(
            [*command, "--queue", *settings], capture_output=True, text=True, env=env
        )
        assert "0 sites queued now" in again.stdout  # both still waiting
        worker = subprocess.run(
            [sys.executable, "-m", "spintrace", "--db", pg_url, "worker", "--burst"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-2000:]
    assert _alert_pairs(engine) == [("c0", "a0")]
    lines = (tmp_path / "alerts.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 1
    from spintrace.db import SiteIndicator

    with Session(engine) as session:
        values = session.scalars(
            select(SiteIndicator.value).where(SiteIndicator.kind == "ads-txt")
        ).all()
    assert values == ["google.com, pub-1, DIRECT"]
    engine.dispose()
