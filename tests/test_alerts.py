"""Alerts (issue 13, item 3): one per (page, source) pair the first time it is ever linked,
written with the link and delivered from the outbox to files and webhooks, never lost."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db import Alert, AlertDelivery, Match, MatchCheck, open_engine, upgrade
from spintrace.db.models import utcnow
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.alerts import deliver_alerts

S = TypeVar("S", bound=ThreadingHTTPServer)

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def _copies(tmp_path: Path, n: int, page_host: str = "farm.example") -> tuple[Path, Path]:
    """``n`` sources and a verbatim copy of each on ``page_host``."""
    lines = (DEMO / "sources.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    sources, pages = [], []
    for i, line in enumerate(lines):
        record = json.loads(line)
        sources.append(
            {**record, "url": f"https://victim.example/{i}", "published": "2026-03-03T09:00Z"}
        )
        pages.append({"url": f"https://{page_host}/copy-{i}", "text": record["text"]})
    for name, rows in (("s.jsonl", sources), ("p.jsonl", pages)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return tmp_path / "s.jsonl", tmp_path / "p.jsonl"


def _alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as session:
        rows = session.scalars(select(Alert).order_by(Alert.id)).all()
        session.expunge_all()
        return list(rows)


def test_an_alert_is_raised_once_per_pair_ever_linked(migrated: Engine, tmp_path: Path) -> None:
    sources, pages = _copies(tmp_path, 3)
    import_file(migrated, sources, "source")
    import_file(migrated, pages, "page")
    report = match_pages(migrated)
    assert report.links == 3 and report.alerts == 3
    alerts = _alerts(migrated)
    assert {a.page_url for a in alerts} == {f"https://farm.example/copy-{i}" for i in range(3)}
    assert len({a.key for a in alerts}) == 3 and all(len(a.key) == 32 for a in alerts)
    # A re-run, and a full re-check (every link deleted and found again), raise nothing.
    assert match_pages(migrated).alerts == 0
    with Session(migrated) as session, session.begin():
        session.execute(delete(Match))
        session.execute(delete(MatchCheck))
    again = match_pages(migrated)
    assert again.links == 3 and again.alerts == 0
    # The page changes its text (a new document row for the same URL, with a tracking
    # parameter this time): the same pair, no new alert.
    record = json.loads(pages.read_text("utf-8").splitlines()[0])
    changed = {**record, "url": record["url"] + "?utm_source=x", "text": record["text"] + " Ads."}
    (tmp_path / "changed.jsonl").write_text(json.dumps(changed) + "\n", "utf-8")
    import_file(migrated, tmp_path / "changed.jsonl", "page")
    changed_run = match_pages(migrated)
    assert changed_run.links >= 1 and changed_run.alerts == 0
    assert len(_alerts(migrated)) == 3


def test_links_stored_before_the_upgrade_are_known_not_announced(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = open_engine(sqlite_url, create=True)
    sources, pages = _copies(tmp_path, 2)
    # Links as a database at schema 0008 holds them: made today, then the outbox removed.
    upgrade(engine)
    import_file(engine, sources, "source")
    import_file(engine, pages, "page")
    match_pages(engine)
    with Session(engine) as session, session.begin():
        session.execute(delete(Alert))
    from spintrace.db.migrate import downgrade

    downgrade(engine, "0008")
    upgrade(engine)  # 0009 enters the two links as known pairs
    alerts = _alerts(engine)
    assert len(alerts) == 2 and all(a.baseline for a in alerts)
    out = tmp_path / "alerts.jsonl"
    assert deliver_alerts(engine, [str(out)]).sent == 0
    assert not out.exists() or out.read_text() == ""
    # And a re-check after the upgrade does not announce them either.
    with Session(engine) as session, session.begin():
        session.execute(delete(Match))
        session.execute(delete(MatchCheck))
    assert match_pages(engine).alerts == 0
    engine.dispose()


def test_alerts_go_to_a_file_once_each_with_dates_and_delay(
    migrated: Engine, tmp_path: Path, runner: CliRunner
) -> None:
    sources, pages = _copies(tmp_path, 2)
    import_file(migrated, sources, "source")
    import_file(migrated, pages, "page")
    match_pages(migrated)
    out = tmp_path / "alerts.jsonl"
    url = migrated.url.render_as_string(hide_password=False)
    result = runner.invoke(cli, ["--db", url, "alerts", "deliver", "--to", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(records) == 2
    for record in records:
        assert record["source_url"].startswith("https://victim.example/")
        assert record["score"] > 0 and 0 < record["containment"] <= 1
        assert record["source_time"].startswith("2026-03-03T09:00")
        assert record["source_time_basis"] == "published"
        assert record["order"] == "unknown"  # the page was imported as text: no time of its own
        assert record["copy_delay_hours"] is None  # no capture: no delay to measure
    # Nothing new: nothing more; a second file is a new place and gets both.
    result = runner.invoke(cli, ["--db", url, "alerts", "deliver", "--to", str(out)])
    assert result.exit_code == 0 and len(out.read_text("utf-8").splitlines()) == 2
    other = tmp_path / "other.jsonl"
    runner.invoke(cli, ["--db", url, "alerts", "deliver", "--to", str(other), "--to", "-"])
    assert other.read_text("utf-8") == out.read_text("utf-8")  # the same bytes everywhere
    listed = runner.invoke(cli, ["--db", url, "alerts", "list"])
    assert listed.exit_code == 0
    first = json.loads(listed.stdout.splitlines()[0])
    assert len(first["delivered_to"]) == 3  # the two files and stdout


def test_a_bad_place_is_one_error_line(migrated: Engine, runner: CliRunner) -> None:
    url = migrated.url.render_as_string(hide_password=False)
    result = runner.invoke(cli, ["--db", url, "alerts", "deliver", "--to", "ftp://x/y"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "http(s) URL" in result.output


class _Receiver(BaseHTTPRequestHandler):
    """Records each POSTed alert; ``drop`` requests are read and answered by a hang-up."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        assert isinstance(server, _Server)
        with server.lock:
            server.received.append((self.headers["X-Spintrace-Alert-Id"], json.loads(body)))
            drop = server.drop > 0
            server.drop -= drop
        if drop:  # accepted, then the connection is dropped without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True

    def __init__(self, port: int, drop: int) -> None:
        super().__init__(("127.0.0.1", port), _Receiver)
        self.received: list[tuple[str, dict[str, object]]] = []
        self.drop = drop
        self.lock = threading.Lock()


@contextmanager
def serving(server: S) -> Iterator[S]:
    """``server`` answering on a thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _receiver(port: int, drop: int = 0) -> AbstractContextManager[_Server]:
    return serving(_Server(port, drop))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("drop", [0, 2])
def test_a_webhook_down_for_a_round_gets_every_alert_once_it_is_up(
    migrated: Engine, tmp_path: Path, drop: int
) -> None:
    """Round 1: nothing listens (refused). Round 2, before the back-off ends: not tried.
    Round 3: the receiver is up, and with ``drop`` it hangs up on its first two requests after
    reading them: those alerts are sent again, with the same id, and every alert arrives."""
    sources, pages = _copies(tmp_path, 4)
    import_file(migrated, sources, "source")
    import_file(migrated, pages, "page")
    assert match_pages(migrated).alerts == 4
    port = _free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    now = utcnow()
    down = deliver_alerts(migrated, [hook], retry_seconds=30, now=now)
    (sink,) = down.sinks
    assert sink.sent == 0 and sink.pending == 4 and sink.error
    assert sink.retry_at == now + timedelta(seconds=30)
    with _receiver(port, drop=drop) as server:
        early = deliver_alerts(migrated, [hook], retry_seconds=30, now=now + timedelta(seconds=5))
        assert early.sent == 0 and not server.received  # still backing off
        later = now + timedelta(minutes=5)
        sent = 0
        for attempt in range(drop + 1):  # each hang-up costs one pass and a back-off
            report = deliver_alerts(
                migrated, [hook], retry_seconds=30, now=later + timedelta(hours=attempt)
            )
            sent += report.sent
        assert sent == 4 and report.pending == 0 and report.sinks[0].error is None
        ids = [key for key, _ in server.received]
    keys = {a.key for a in _alerts(migrated)}
    assert set(ids) == keys  # every alert arrived
    assert len(ids) == 4 + drop  # the dropped ones twice, with the same id
    assert all(record["id"] == key for key, record in server.received)
    with Session(migrated) as session:
        delivered = session.scalar(
            select(func.count()).where(AlertDelivery.delivered_at.is_not(None))
        )
        attempts = session.scalar(select(func.max(AlertDelivery.attempts)))
    assert delivered == 4 and attempts == (4 if drop else 2)
