"""Connections to PostgreSQL: timeouts instead of hangs; long bulk work exempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from spintrace.db import current_revision, head_revision, open_engine, upgrade


def test_a_server_that_never_answers_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Regression (issue 9.14): a PostgreSQL server that accepts but never answers hung every
    command."""
    import os
    import socket
    import subprocess
    import sys
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:  # accept every connection and say nothing
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    env = {**os.environ, "SPINTRACE_DB_CONNECT_TIMEOUT": "2"}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from spintrace.cli import main; main()",
            "--db",
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/x",
            "db",
            "current",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    listener.close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: cannot connect to"), result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.postgres
def test_statements_have_a_time_limit_and_migrations_do_not(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    monkeypatch.setenv("SPINTRACE_DB_STATEMENT_TIMEOUT", "1")
    engine = open_engine(pg_url, create=True)
    with engine.connect() as connection, pytest.raises(OperationalError, match="statement timeout"):
        connection.execute(text("SELECT pg_sleep(3)"))
    upgrade(engine)  # migrations run on their own connection, without the limit
    assert current_revision(engine) == head_revision()
    engine.dispose()


@pytest.mark.postgres
def test_the_users_own_connection_options_are_kept(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PGOPTIONS or the URL's options are kept, with the statement timeout added unless the user
    set one; bulk work (migrations) always runs without it."""
    from sqlalchemy import text

    from spintrace.db.engine import bulk_engine

    def show(engine_url: str, *names: str) -> list[str]:
        engine = open_engine(engine_url)
        try:
            with engine.connect() as connection:
                return [connection.execute(text(f"SHOW {n}")).scalar_one() for n in names]
        finally:
            engine.dispose()

    monkeypatch.setenv("SPINTRACE_DB_STATEMENT_TIMEOUT", "7")
    upgrade(open_engine(pg_url, create=True))
    monkeypatch.setenv("PGOPTIONS", "-c search_path=public,pg_catalog")
    assert show(pg_url, "search_path", "statement_timeout") == ["public,pg_catalog", "7s"]
    monkeypatch.delenv("PGOPTIONS")
    with_options = f"{pg_url}?options=-c%20lock_timeout%3D3000"
    assert show(with_options, "lock_timeout", "statement_timeout") == ["3s", "7s"]
    own_timeout = f"{pg_url}?options=-c%20statement_timeout%3D5000"
    assert show(own_timeout, "statement_timeout") == ["5s"]
    engine = open_engine(own_timeout)
    bulk = bulk_engine(engine)
    with bulk.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    bulk.dispose()
    engine.dispose()


def test_an_in_memory_database_is_migrated_in_place() -> None:
    engine = open_engine("sqlite://", create=True)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:  # foreign keys are back on after the migration
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_insert_rows_in_bulk_keeps_existing_rows(migrated: object, tmp_path: Path) -> None:
    """``insert_rows`` (COPY on PostgreSQL, multi-row INSERT elsewhere) stores every row, and
    with ``ignore_conflicts`` leaves rows another writer stored as they are."""
    from sqlalchemy import Engine, func, select
    from sqlalchemy.orm import Session

    from spintrace.db.models import Document, LshBand
    from spintrace.db.writes import insert_rows
    from spintrace.ingest.imports import import_file

    assert isinstance(migrated, Engine)
    page = tmp_path / "page.jsonl"
    page.write_text('{"url": "https://bulk.example/1", "text": "A page of a few words."}\n')
    import_file(migrated, page, "page")
    with Session(migrated) as session, session.begin():
        doc_id = session.scalars(select(Document.id)).one()
        rows = [{"document_id": doc_id, "kind": "k", "band": b, "key": b * 7} for b in range(300)]
        insert_rows(session, LshBand, rows[:100], ignore_conflicts=False)
        changed = [{**row, "key": -1} for row in rows]
        insert_rows(session, LshBand, changed, ignore_conflicts=True)
    with Session(migrated) as session:
        keys = dict(session.execute(select(LshBand.band, LshBand.key)).all())
        assert session.scalar(select(func.count()).select_from(LshBand)) == 300
    assert keys[5] == 35 and keys[150] == -1  # the first writer's row stands
    # Without ignore_conflicts a clash is SQLAlchemy's IntegrityError, which retry_on_conflict
    # retries and the CLI shows as one line (review: the raw driver error escaped both).
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), Session(migrated) as session, session.begin():
        insert_rows(session, LshBand, rows[:3], ignore_conflicts=False)
