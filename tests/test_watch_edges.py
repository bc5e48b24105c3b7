"""Watch rounds at their edges (review of issue 13): hostile lists, failing sites backing off,
sitemap indexes that answer 304, gzipped children, entries the crawl never reached, alert
places checked at load, webhooks that redirect, the order of alerts."""

from __future__ import annotations

import gzip
import json
from contextlib import AbstractContextManager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db import Alert
from spintrace.db.models import utcnow
from spintrace.db.watch import WatchResource
from spintrace.demo.loopback import LoopbackServer, Reply
from spintrace.watch import WatchListError, due_targets, load, run_round
from spintrace.watch.rounds import next_due
from tests.test_alerts import serving
from tests.test_watch import FAST, SOURCES, _article, _rss, _sitemap

XML = (("Content-Type", "application/xml"),)


def _entries(engine: Engine) -> dict[str, WatchResource]:
    with Session(engine) as session:
        rows = session.scalars(select(WatchResource).where(WatchResource.kind == "entry")).all()
        session.expunge_all()
    return {row.url.rsplit("/", 1)[-1]: row for row in rows}


def test_a_hostile_list_is_read_as_far_as_it_goes(migrated: Engine, tmp_path: Path) -> None:
    """Dates past datetime's range, links no URL parser accepts, a lastmod in the year 2999:
    the round completes, keeps the good entries, and does not refetch a future-dated one."""
    with LoopbackServer() as hostile, LoopbackServer() as fine:
        h = hostile.url
        hostile.routes["/news/a0"] = _article(SOURCES[0]["title"], SOURCES[0]["text"])
        hostile.routes["/feed.xml"] = Reply(
            (
                "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'>"
                f"<entry><link href='{h}/news/a0'/><updated>9999-12-31T23:59:59-23:59</updated>"
                "</entry><entry><link href='http://[::1'/></entry>"
                "<entry><link href='http://x.example:99999/'/></entry></feed>"
            ).encode(),
            headers=XML,
        )
        hostile.routes["/sitemap.xml"] = _sitemap(h, {"/news/a0": "2999-01-01"})
        hostile.routes["/"] = Reply(b"<html><body><a href='http://[::1'>x</a></body></html>")
        fine.routes["/feed.xml"] = _rss(fine.url, [])
        (tmp_path / "w.toml").write_text(
            f'[[publisher]]\nhome = "{h}/"\nfeeds = ["{h}/feed.xml"]\n'
            f'sitemaps = ["{h}/sitemap.xml"]\n[[publisher]]\nfeeds = ["{fine.url}/feed.xml"]\n',
            "utf-8",
        )
        watch = load(tmp_path / "w.toml")
        report = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert report.failed == {} and len(report.checked) == 2
        assert report.pages_new == 1 and list(_entries(migrated)) == ["a0"]
        again = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert again.entries_due == 0 and hostile.hits["/news/a0"] == 1


def test_a_failing_site_backs_off_instead_of_being_retried_at_once(
    migrated: Engine, tmp_path: Path
) -> None:
    with LoopbackServer() as site:
        site.routes["/feed.xml"] = _rss(site.url, [])
        site.down = True
        (tmp_path / "w.toml").write_text(
            f'[[publisher]]\nfeeds = ["{site.url}/feed.xml"]\nevery = "1h"\n', "utf-8"
        )
        watch = load(tmp_path / "w.toml")
        now = utcnow()
        assert run_round(migrated, watch, crawl_settings=FAST, now=now).failed
        assert due_targets(migrated, watch, now + timedelta(seconds=30)) == []
        assert len(due_targets(migrated, watch, now + timedelta(seconds=61))) == 1
        assert next_due(migrated, watch) > timedelta(0)
        later = now + timedelta(seconds=61)
        assert run_round(migrated, watch, crawl_settings=FAST, now=later).failed
        # Two failures in a row: two minutes.
        assert due_targets(migrated, watch, later + timedelta(seconds=90)) == []
        assert len(due_targets(migrated, watch, later + timedelta(seconds=121))) == 1
        site.down = False
        back = later + timedelta(seconds=121)
        assert run_round(migrated, watch, crawl_settings=FAST, now=back).checked
        # Up again: its own interval, not the back-off.
        assert due_targets(migrated, watch, back + timedelta(minutes=30)) == []


def test_a_sitemap_index_that_answers_304_still_has_its_children_checked(
    migrated: Engine, tmp_path: Path
) -> None:
    """Children are known by the index that lists them (not by a .xml suffix), are checked
    again when the index is unchanged, and a gzipped child is unpacked."""
    with LoopbackServer() as site:
        s = site.url
        for i in range(3):
            site.routes[f"/news/a{i}"] = _article(SOURCES[i]["title"], SOURCES[i]["text"])
        index = (
            "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            f"<sitemap><loc>{s}/sitemap?page=1</loc></sitemap>"
            f"<sitemap><loc>{s}/news-sitemap.xml.gz</loc></sitemap></sitemapindex>"
        )
        site.routes["/sitemap_index.xml"] = Reply(index.encode(), headers=XML)
        site.routes["/sitemap?page=1"] = _sitemap(s, {"/news/a0": "2026-01-01"})
        packed = gzip.compress(_sitemap(s, {"/news/a1": "2026-01-01"}).body)
        site.routes["/news-sitemap.xml.gz"] = Reply(
            packed, headers=(("Content-Type", "application/x-gzip"),)
        )
        (tmp_path / "w.toml").write_text(
            f'[[publisher]]\nsitemaps = ["{s}/sitemap_index.xml"]\n', "utf-8"
        )
        watch = load(tmp_path / "w.toml")
        first = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert first.pages_new == 2 and sorted(_entries(migrated)) == ["a0", "a1"]
        site.routes["/sitemap?page=1"] = _sitemap(
            s, {"/news/a0": "2026-01-01", "/news/a2": "2026-01-02"}
        )
        second = run_round(migrated, watch, crawl_settings=FAST, force=True)
        assert site.full["/sitemap_index.xml"] == 1  # the index answered 304
        assert second.pages_new == 1 and sorted(_entries(migrated)) == ["a0", "a1", "a2"]


def test_entries_the_crawl_never_reached_stay_due_uncounted(
    migrated: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the crawl answered is marked fetched; what it failed on backs off; what it
    never reached (stopped early) or could not start (the site locked elsewhere) waits."""
    from spintrace.watch import pages

    with LoopbackServer() as site:
        s = site.url
        site.routes["/feed.xml"] = _rss(s, ["/news/a0", "/news/a1", "/news/a2"])
        (tmp_path / "w.toml").write_text(f'[[publisher]]\nfeeds = ["{s}/feed.xml"]\n', "utf-8")
        watch = load(tmp_path / "w.toml")
        answers: list[dict[str, Any]] = [
            {"busy": "127.0.0.1"},
            {
                "answered_urls": [f"{s}/news/a0"],
                "failed_urls": {f"{s}/news/a1": "HTTP 500"},
                "finish_reason": "closespider_pagecount",
                "new": 1,
            },
        ]
        monkeypatch.setattr(pages, "_crawl", lambda *args: answers.pop(0))
        now = utcnow()
        busy = run_round(migrated, watch, crawl_settings=FAST, force=True, now=now)
        assert busy.pages_postponed == 3 and busy.pages_failed == 0
        assert all(
            row.failures == 0 and row.checked_at is None for row in _entries(migrated).values()
        )
        run_round(migrated, watch, crawl_settings=FAST, force=True, now=now)
        rows = _entries(migrated)
        assert rows["a0"].checked_at is not None and rows["a0"].failures == 0
        assert rows["a1"].failures == 1 and rows["a1"].retry_at is not None
        assert rows["a2"].failures == 0 and rows["a2"].checked_at is None
        due = pages.due_entries(migrated, [watch.targets[0].site], "source", now)
        assert due == [f"{s}/news/a2"]  # a1 waits for its back-off
        later = pages.due_entries(
            migrated, [watch.targets[0].site], "source", now + timedelta(minutes=2)
        )
        assert later == [f"{s}/news/a1", f"{s}/news/a2"]


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ('to = ["ftp://hooks.example/x"]', "is not an http"),
        ('to = ["https:///nohost"]', "is not an http"),
        ('to = ["no-such-folder/alerts.jsonl"]', "does not exist"),
        ('to = ["."]', "is a folder"),
        ("retry_seconds = 1e300", "retry_seconds"),
    ],
)
def test_alert_places_are_checked_when_the_list_is_read(
    tmp_path: Path, alerts: str, message: str
) -> None:
    path = tmp_path / "w.toml"
    path.write_text(f'[alerts]\n{alerts}\n[[farm]]\nhome = "https://f.example/"\n', "utf-8")
    with pytest.raises(WatchListError, match=message):
        load(path)


@pytest.mark.parametrize("every", ['"9999999999d"', "1e300", '"0s"', "nan"])
def test_an_interval_out_of_range_is_an_error(tmp_path: Path, every: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(f'[[farm]]\nhome = "https://f.example/"\nevery = {every}\n', "utf-8")
    with pytest.raises(WatchListError, match="at most 366d"):
        load(path)


def test_relative_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sellers.json").write_text('{"sellers": []}', "utf-8")
    (tmp_path / "w.toml").write_text(
        '[alerts]\nto = ["alerts.jsonl"]\n[money]\nsellers = [{system = "g.com", file = '
        '"sellers.json"}]\n[[farm]]\nhome = "https://f.example/"\n',
        "utf-8",
    )
    monkeypatch.chdir(tmp_path)
    watch = load("w.toml")
    assert watch.alerts.to == (str(tmp_path.resolve() / "alerts.jsonl"),)
    assert watch.sellers[0].location == str(tmp_path.resolve() / "sellers.json")


class _Redirecting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/hook":
            self.send_response(302)
            self.send_header("Location", "/moved")
            self.end_headers()
            return
        self.server.posted += 1  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # what urllib would send after a 302
        self.server.got += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _redirecting() -> AbstractContextManager[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    server.posted = server.got = 0  # type: ignore[attr-defined]
    return serving(server)


def _one_alert(engine: Engine, tmp_path: Path) -> None:
    from tests.test_alerts import _copies

    sources, pages_file = _copies(tmp_path, 1)
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    for args in (["sources", "import", str(sources)], ["pages", "import", str(pages_file)]):
        assert runner.invoke(cli, ["--db", url, *args]).exit_code == 0
    assert runner.invoke(cli, ["--db", url, "match"]).exit_code == 0


def test_a_webhook_that_redirects_has_not_received_the_alert(
    migrated: Engine, tmp_path: Path
) -> None:
    _one_alert(migrated, tmp_path)
    url = migrated.url.render_as_string(hide_password=False)
    with _redirecting() as server:
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = CliRunner().invoke(
            cli, ["--db", url, "alerts", "deliver", "--to", hook, "--retry-seconds", "0"]
        )
        assert server.got == 0 and server.posted == 0  # type: ignore[attr-defined]
    assert result.exit_code != 0 and "redirects are not followed" in result.output


def test_alerts_keep_the_order_of_their_batch(migrated: Engine, tmp_path: Path) -> None:
    from spintrace.db.alerts import record_alerts
    from spintrace.db.models import Document
    from tests.test_alerts import _copies

    sources, pages_file = _copies(tmp_path, 3)
    url = migrated.url.render_as_string(hide_password=False)
    for args in (["sources", "import", str(sources)], ["pages", "import", str(pages_file)]):
        assert CliRunner().invoke(cli, ["--db", url, *args]).exit_code == 0
    with Session(migrated) as session, session.begin():
        ids = dict(session.execute(select(Document.url, Document.id)).all())
        pairs = [
            (ids[f"https://farm.example/copy-{i}"], ids[f"https://victim.example/{i}"], {"n": i})
            for i in (2, 0, 1)
        ]
        assert record_alerts(session, pairs) == 3
    with Session(migrated) as session:
        order = [a.payload["n"] for a in session.scalars(select(Alert).order_by(Alert.id))]
    assert order == [2, 0, 1]


def test_alerts_on_stdout_keep_stdout_to_themselves(migrated: Engine, tmp_path: Path) -> None:
    _one_alert(migrated, tmp_path)
    url = migrated.url.render_as_string(hide_password=False)
    with LoopbackServer() as site:
        site.routes["/feed.xml"] = _rss(site.url, [])
        path = tmp_path / "w.toml"
        path.write_text(
            f'[alerts]\nto = ["-"]\n[[publisher]]\nfeeds = ["{site.url}/feed.xml"]\n', "utf-8"
        )
        result = CliRunner().invoke(cli, ["--db", url, "watch", str(path), "--once"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["page_url"]
    assert "watch: checked 1 site" in result.stderr
