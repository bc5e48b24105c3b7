"""``match --workers N``: pages judged in local processes, written by one, the same links."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

import spintrace
from spintrace.cli import cli
from spintrace.db.models import Match, MatchCheck
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages

DEMO = Path(spintrace.__file__).parent / "demo" / "data"


def _links(engine: Engine) -> list[tuple[int, int, float, str | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Match.page_id, Match.source_id, Match.score, Match.basis).order_by(
                Match.page_id, Match.source_id
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _forget_links(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(Match))
        session.execute(delete(MatchCheck))


def test_two_workers_make_the_links_one_process_makes(migrated: Engine) -> None:
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, DEMO / "pages.jsonl", "page")
    import_file(migrated, DEMO / "network.jsonl", "page")
    one = match_pages(migrated)
    alone = _links(migrated)
    assert (one.checked, one.linked, len(alone)) == (19, 16, 16)
    _forget_links(migrated)
    two = match_pages(migrated, workers=2)
    assert (two.checked, two.linked) == (19, 16)
    assert _links(migrated) == alone
    assert match_pages(migrated, workers=2).checked == 0


def test_the_cli_takes_workers(sqlite_url: str) -> None:
    runner = CliRunner()
    for args in (
        ["db", "upgrade"],
        ["sources", "import", str(DEMO / "sources.jsonl")],
        ["pages", "import", str(DEMO / "pages.jsonl")],
    ):
        assert runner.invoke(cli, ["--db", sqlite_url, *args]).exit_code == 0
    result = runner.invoke(cli, ["--db", sqlite_url, "match", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "checked 10 pages" in result.output and "7 linked" in result.output
    bad = runner.invoke(cli, ["--db", sqlite_url, "match", "--workers", "0"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
