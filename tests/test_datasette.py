"""Datasette: the metadata ``spintrace report datasette`` writes, served by a real datasette on
loopback over a database built with spintrace's own commands; the documents' FTS5 index kept
in step by every write (migration 0013)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db import downgrade, open_engine, upgrade
from spintrace.db.captures import store_capture
from spintrace.db.models import Document, Match, Site
from spintrace.demo.loopback import article_html
from spintrace.errors import ReportError
from spintrace.ingest.captures import process_captures
from spintrace.ingest.imports import import_file
from spintrace.reports.datasette import (
    DATASETTE_QUERIES,
    datasette_metadata,
    write_datasette_metadata,
)

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
# Never proxied: every request of these tests goes to the datasette they start on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HOSTILE_TITLE = "<script>alert(1)</script> zorblequark"


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def _fts_ids(engine: Engine, query: str) -> set[int]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("select rowid from documents_fts where documents_fts match :q"), {"q": query}
        )
        return {row[0] for row in rows}


class Datasette:
    """A datasette server on 127.0.0.1, stopped when the test ends."""

    def __init__(self, database: Path, metadata: Path) -> None:
        self.database = database.stem
        self.process, self.base = self._start(database, metadata)

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
            return port

    def _start(self, database: Path, metadata: Path) -> tuple[subprocess.Popen[bytes], str]:
        for _attempt in range(3):  # another process may take the free port first
            port = self._free_port()
            args = ["serve", str(database), "--metadata", str(metadata)]
            process = subprocess.Popen(
                [sys.executable, "-m", "datasette", *args, "--host", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with _OPENER.open(f"{base}/-/versions.json", timeout=5):
                        return process, base
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.2)
            process.kill()
            process.wait()
        raise AssertionError("datasette did not start")

    def get(self, path: str) -> str:
        with _OPENER.open(f"{self.base}/{self.database}{path}", timeout=30) as response:
            assert response.status == 200
            body: bytes = response.read()
            return body.decode("utf-8")

    def rows(self, path: str) -> list[dict[str, Any]]:
        separator = "&" if "?" in path else "?"
        rows: list[dict[str, Any]] = json.loads(self.get(f"{path}{separator}_shape=array"))
        return rows

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def demo_db(tmp_path: Path, runner: CliRunner) -> Path:
    """The demo's sources and pages imported and matched by the CLI, plus a hostile source."""
    database = tmp_path / "spintrace.db"
    db = str(database)
    _run(runner, "--db", db, "db", "upgrade")
    _run(runner, "--db", db, "sources", "import", str(DEMO / "sources.jsonl"))
    _run(runner, "--db", db, "pages", "import", str(DEMO / "pages.jsonl"))
    _run(runner, "--db", db, "match")
    return database


@pytest.fixture
def served(demo_db: Path, tmp_path: Path, runner: CliRunner) -> Iterator[Datasette]:
    metadata = tmp_path / "metadata.json"
    output = _run(runner, "--db", str(demo_db), "report", "datasette", "-o", str(metadata))
    assert "4 queries, full-text search" in output
    assert f"datasette serve {demo_db} --metadata {metadata}" in output
    # Imported after the metadata was written: the index follows the database, not the file.
    late = _write_jsonl(
        tmp_path / "late.jsonl",
        [
            {
                "url": "https://late.example/a",
                "title": HOSTILE_TITLE,
                "text": "An article about the quarterly zorblequark harvest in Port Wexmoor.",
            }
        ],
    )
    _run(runner, "--db", str(demo_db), "sources", "import", str(late))
    server = Datasette(demo_db, metadata)
    try:
        yield server
    finally:
        server.stop()


def test_datasette_serves_the_labelled_views(served: Datasette, demo_db: Path) -> None:
    engine = open_engine(f"sqlite:///{demo_db}")
    try:
        with Session(engine) as session:
            links = {(m.page.url, m.source.url): m for m in session.scalars(select(Match))}
            texts = {m.page.url: m.page.text for m in links.values()}
    finally:
        engine.dispose()
    assert links

    index = served.get("")
    for query in DATASETTE_QUERIES.values():
        assert query["title"] in index

    matches = served.rows("/matches_with_evidence.json")
    assert {(row["page_url"], row["source_url"]) for row in matches} == set(links)
    assert [row["score"] for row in matches] == sorted(
        (row["score"] for row in matches), reverse=True
    )
    for row in matches:
        stored = links[(row["page_url"], row["source_url"])]
        assert row["share_of_source_copied"] == round(stored.coverage, 3)
        assert row["passages"] == len(stored.evidence["passages"])
        assert row["longest_passage"] and row["longest_passage"] in texts[row["page_url"]]
    spun = [row for row in matches if row["substitutions"]]
    assert spun and all(" -> " in row["spun_words"] for row in spun)
    best = max(links.values(), key=lambda m: m.score)
    assert served.rows(f"/matches_with_evidence.json?min_score={best.score}") == [
        row for row in matches if row["score"] >= best.score
    ]
    page = served.get("/matches_with_evidence")
    assert "Matches with their evidence" in page and matches[0]["page_url"] in page

    sites = {row["site"]: row for row in served.rows("/sites_with_indicators.json")}
    farm = sites["dailytrendwire.example"]
    assert farm["copies"] >= 1 and farm["pages"] >= farm["copies"]
    assert "adsense: ca-pub-1234567890123456" in farm["indicators"]
    assert sites["harbourgazette.example"]["sources"] >= 1
    assert sites["harbourgazette.example"]["copies"] == 0
    assert "ca-pub-1234567890123456" in served.get("/sites_with_indicators")


def test_datasette_full_text_search_finds_imported_documents(served: Datasette) -> None:
    found = served.rows("/search_documents.json?q=zorblequark")
    assert [row["url"] for row in found] == ["https://late.example/a"]
    assert "[zorblequark]" in found[0]["excerpt"]
    ferry = served.rows("/search_documents.json?q=ferry")
    assert "https://harbourgazette.example/news/2026/03/ferry-service-expands" in {
        row["url"] for row in ferry
    }
    assert served.rows("/search_documents.json") == []  # no query: nothing, not an error
    # The documents table's own search box (datasette finds the index by itself).
    table = served.rows("/documents.json?_search=zorblequark&_col=url")
    assert [row["url"] for row in table] == ["https://late.example/a"]
    # Hostile titles are shown as text by datasette.
    html = served.get("/search_documents?q=" + quote("zorblequark"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; zorblequark" in html
    assert "<script>alert(1)</script>" not in html


def test_fts_index_follows_every_write(migrated: Engine, tmp_path: Path) -> None:
    if migrated.dialect.name != "sqlite":
        with migrated.connect() as connection:
            assert not connection.execute(
                text("select 1 from pg_tables where tablename like 'documents_fts%'")
            ).first()
        return
    with migrated.connect() as connection:
        triggers = connection.execute(
            text("select name from sqlite_master where type = 'trigger' and tbl_name = 'documents'")
        )
        assert {row[0] for row in triggers} == {"documents_ai", "documents_ad", "documents_au"}
    source = _write_jsonl(
        tmp_path / "s.jsonl",
        [{"url": "https://a.example/1", "title": "Glimmerfen", "text": "The quokkaberry fair."}],
    )
    import_file(migrated, source, "source")
    (doc_id,) = _fts_ids(migrated, "quokkaberry")
    assert _fts_ids(migrated, "glimmerfen") == {doc_id}
    with Session(migrated) as session:
        session.execute(update(Document).values(title="Brackenmoor").where(Document.id == doc_id))
        session.commit()
    assert _fts_ids(migrated, "glimmerfen") == set()
    assert _fts_ids(migrated, "brackenmoor") == {doc_id}
    with Session(migrated) as session:
        session.execute(delete(Document).where(Document.id == doc_id))
        session.commit()
    assert _fts_ids(migrated, "quokkaberry OR brackenmoor") == set()


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
def test_processed_captures_are_searchable(migrated: Engine) -> None:
    url = "http://farm.example/news/1.html"
    extra = "<p>Crawled story about the glimmerfen regatta and its many boats.</p>"
    with Session(migrated) as session, session.begin():
        store_capture(
            session,
            site_id=Site.id_for(session, url),
            url=url,
            body=article_html(1, "http://farm.example", extra),
            content_type="text/html; charset=utf-8",
            status=200,
            role="page",
        )
    assert _fts_ids(migrated, "glimmerfen") == set()
    assert process_captures(migrated).documents_new == 1
    with Session(migrated) as session:
        (doc_id,) = session.scalars(select(Document.id).where(Document.capture_id.is_not(None)))
    assert _fts_ids(migrated, "glimmerfen") == {doc_id}


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
def test_migration_indexes_existing_documents(migrated: Engine, tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "s.jsonl", [{"url": "https://a.example/1", "text": "The quokkaberry fair."}]
    )
    import_file(migrated, source, "source")
    downgrade(migrated, "0012")
    with migrated.connect() as connection:
        assert not connection.execute(
            text("select 1 from sqlite_master where name like 'documents_fts%'")
        ).first()
    upgrade(migrated)
    assert len(_fts_ids(migrated, "quokkaberry")) == 1


def test_metadata_refuses_databases_datasette_cannot_open(pg_url: str) -> None:
    engine = open_engine(pg_url)
    try:
        with pytest.raises(ReportError, match="SQLite files"):
            write_datasette_metadata(engine, "unused.json")
    finally:
        engine.dispose()
    memory = open_engine("sqlite://")
    try:
        with pytest.raises(ReportError, match="not a file"):
            write_datasette_metadata(memory, "unused.json")
    finally:
        memory.dispose()


def test_metadata_without_full_text_leaves_the_search_out() -> None:
    metadata = datasette_metadata("x", full_text=False)
    database = metadata["databases"]["x"]
    assert "search_documents" not in database["queries"]
    assert "fts_table" not in database["tables"]["documents"]
    assert "fts_table" in datasette_metadata("x")["databases"]["x"]["tables"]["documents"]


def test_cli_writes_metadata_to_stdout(demo_db: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--db", str(demo_db), "report", "datasette", "-o", "-"])
    assert result.exit_code == 0, result.output
    metadata = json.loads(result.stdout)
    assert set(metadata["databases"]["spintrace"]["queries"]) == set(DATASETTE_QUERIES)
    both = runner.invoke(cli, ["--db", str(demo_db), "report", "datasette", "-o", "-", "--json"])
    assert both.exit_code == 2 and "both write to stdout" in both.output
    refused = runner.invoke(cli, ["--db", str(demo_db), "report", "datasette", "-o", str(demo_db)])
    assert refused.exit_code == 1 and "is the database this command reads" in refused.output
