"""Imports under pressure: a database that stops taking writes, and concurrent imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db import Document, Site, open_engine, upgrade
from spintrace.ingest.imports import import_file


def _pages(path: Path, n: int, hosts: int, tag: str) -> Path:
    rows = [
        {"url": f"https://h{i % hosts}.example/{tag}/{i}", "text": f"page {tag} {i} " * 20}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _documents(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def test_a_read_only_database_is_one_error_not_rejected_lines(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 9.10): every line of a file 'rejected' with exit 0."""
    engine = open_engine(sqlite_url, create=True)
    upgrade(engine)
    engine.dispose()
    path = sqlite_url.removeprefix("sqlite:///")
    read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    report = import_file(read_only, _pages(tmp_path / "p.jsonl", 50, 5, "ro"), "page")
    assert (report.new, report.unchanged, report.rejected) == (0, 0, 0)
    assert report.failure is not None and "readonly" in report.failure.replace("-", "")

    import spintrace.cli.app as app

    monkeypatch.setattr(app, "open_engine", lambda *_a, **_k: read_only)
    result = CliRunner().invoke(
        cli, ["--db", sqlite_url, "pages", "import", str(tmp_path / "p.jsonl")]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "0 new, 0 unchanged, 0 rejected" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: the database refused")


def test_a_full_disk_keeps_what_was_stored_and_counts_only_that(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Regression (issue 9.10): a full disk printed '3002 new, 2987 rejected' with 15 stored."""
    engine = open_engine(sqlite_url, create=True)
    upgrade(engine)
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()

    @event.listens_for(engine, "connect")
    def _small_disk(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"PRAGMA max_page_count = {pages + 300}")
        cursor.close()

    engine.dispose()  # new connections get the limit
    report = import_file(engine, _pages(tmp_path / "p.jsonl", 3000, 30, "full"), "page")
    assert report.failure is not None and "full" in report.failure
    assert report.rejected == 0
    assert 0 < report.new < 3000
    assert report.new == _documents(engine)
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("order", ["same", "reversed"])
def test_concurrent_imports_sharing_new_hosts_lose_nothing(
    pg_url: str, tmp_path: Path, order: str
) -> None:
    """Regression (issue 9.9): two imports adding the same new hosts lost rows on PostgreSQL
    and counted them as 'unchanged'; in opposite orders they deadlocked and stopped."""
    engine = open_engine(pg_url, create=True)
    upgrade(engine)
    # Every line a new host: the imports race on each one, in the same or opposite order.
    files = [_pages(tmp_path / f"{tag}.jsonl", 1500, 1500, tag) for tag in ("a", "b")]
    if order == "reversed":
        lines = files[1].read_text(encoding="utf-8").splitlines(keepends=True)
        files[1].write_text("".join(reversed(lines)), encoding="utf-8")
    code = "from spintrace.cli import main; main()"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, "--db", pg_url, "pages", "import", str(f)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert "1500 new, 0 unchanged, 0 rejected" in out, out + err
    assert _documents(engine) == 3000
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Site)) == 1500
    engine.dispose()


@pytest.mark.postgres
def test_a_site_added_by_a_concurrent_transaction_is_used_not_a_conflict(pg_url: str) -> None:
    """Regression (issue 9.9): a host inserted by another, not yet committed, transaction made
    the insert fail (and the item-by-item import counted the row as 'unchanged', unstored)."""
    import threading
    import time

    engine = open_engine(pg_url, create=True)
    upgrade(engine)
    url = "https://race.example/a"
    results: list[object] = []
    with Session(engine) as first:
        first.begin()
        first_id = Site.id_for(first, url)

        def second() -> None:
            try:
                with Session(engine) as other, other.begin():
                    results.append(Site.id_for(other, url))
            except Exception as exc:  # the failure being tested for
                results.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second transaction now waits on the first one's row
        first.commit()
        thread.join(timeout=30)
    assert results == [first_id]
    engine.dispose()


def test_text_and_html_keep_both(sqlite_url: str, tmp_path: Path) -> None:
    """Regression (issue 9.5): a record with both 'text' and 'html' lost the HTML (no capture,
    no indicators, nothing for the WARC)."""
    from spintrace.db import Capture, SiteIndicator

    engine = open_engine(sqlite_url, create=True)
    upgrade(engine)
    text = "The given text, kept as it is."
    html = (
        "<html><head><title>Bridge plan approved</title>"
        "<script async src='https://www.googletagmanager.com/gtag/js?id=G-ABC123DEF'></script>"
        "</head><body><article><h1>Bridge plan approved</h1>"
        + "<p>The council approved the new bridge over the river on Tuesday evening.</p>" * 8
        + "</article></body></html>"
    )
    record = {
        "url": "https://both.example/a",
        "text": text,
        "html": html,
    }
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    report = import_file(engine, path, "page")
    assert (report.new, report.rejected) == (1, 0)
    with Session(engine) as session:
        document = session.scalars(select(Document)).one()
        assert document.text == text
        assert document.title == "Bridge plan approved"
        assert document.capture_id is not None
        assert session.get(Capture, document.capture_id) is not None
        kinds = set(session.scalars(select(SiteIndicator.kind)))
    assert "google-analytics" in kinds
    engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-03T10:00:00Z", "2026-03-03T10:00:00+00:00"),
        ("2026-03-03", "2026-03-03T00:00:00+00:00"),
        ("March 3, 2026", "2026-03-03T00:00:00+00:00"),
        ("3 March 2026 10:30", "2026-03-03T10:30:00+00:00"),
        (1772532000, "2026-03-03T10:00:00+00:00"),
        ("1772532000", "2026-03-03T10:00:00+00:00"),
        (1772532000000, "2026-03-03T10:00:00+00:00"),
    ],
)
def test_published_is_read_leniently(value: object, expected: str) -> None:
    """Regression (issue 9.5): a 'published' that is not ISO 8601 rejected the whole line."""
    from spintrace.ingest.jsonl import parse_published

    parsed, warning = parse_published(value)
    assert warning is None
    assert parsed is not None and parsed.isoformat() == expected


def test_an_unreadable_date_keeps_the_record_with_a_warning(
    runner: CliRunner, sqlite_url: str, tmp_path: Path
) -> None:
    runner.invoke(cli, ["--db", sqlite_url, "db", "upgrade"])
    rows = [
        {"url": "https://d.example/1", "text": "one", "published": "the day after never"},
        {"url": "https://d.example/2", "text": "two", "published": True},
        {"url": "https://d.example/3", "text": "three", "published": "9999-12-31T23:59:59-23:59"},
    ]
    path = tmp_path / "dates.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(cli, ["--db", sqlite_url, "pages", "import", str(path)])
    assert result.exit_code == 0
    assert "3 new, 0 unchanged, 0 rejected" in result.output
    for line in (1, 2, 3):
        assert f"warning {path}:{line}: 'published'" in result.output


def test_an_unterminated_string_is_named_once() -> None:
    # Regression: "Invalid control character at at column 66".
    from spintrace.ingest.jsonl import parse_line

    try:
        parse_line(b'{"url": "https://a.example/1", "text": "broken\n', 2, "p.jsonl")
    except Exception as exc:
        message = str(exc)
    assert "at at" not in message and "unterminated string at column 47" in message


def test_gzip_input_is_read_directly_and_damage_keeps_the_good_lines(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A ``.jsonl.gz`` file (recognised by its content) imports like the plain file; a gzip
    file cut short imports the lines before the damage and says so."""
    import gzip

    from spintrace.db import open_engine, upgrade

    rows = [
        {"url": f"https://a.example/{i}", "text": f"Story number {i} " * 20} for i in range(300)
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    whole = tmp_path / "sources.jsonl.gz"
    whole.write_bytes(gzip.compress(data))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])
    engine = open_engine(sqlite_url, create=True)
    upgrade(engine)
    report = import_file(engine, whole, "source")
    assert (report.new, report.rejected, report.failure) == (300, 0, None)
    damaged = import_file(engine, cut, "page")
    assert damaged.failure is not None and "damaged" in damaged.failure
    assert 0 < damaged.new < 300  # the lines before the damage are stored
    engine.dispose()
