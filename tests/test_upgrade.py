"""A database made by the previous release upgrades, and its links are re-checked, not mixed."""

from __future__ import annotations

import csv
import gzip
import io
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from spintrace.cli import cli
from spintrace.linking.match import MATCHER_VERSION

FIXTURE = Path(__file__).parent / "data" / "release-align-v3.db.gz"


def _run(runner: CliRunner, url: str, *args: str) -> str:
    result = runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _matches(runner: CliRunner, url: str) -> list[dict[str, str]]:
    out = _run(runner, url, "export", "matches", "--format", "csv")
    return list(csv.DictReader(io.StringIO(out)))


def test_a_previous_release_database_upgrades_and_rematches(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    url = f"sqlite:///{path}"
    with sqlite3.connect(path) as conn:
        assert conn.execute("select version_num from alembic_version").fetchone() == ("0006",)
        old = set(conn.execute("select page_id, source_id from matches").fetchall())
        assert {m for (m,) in conn.execute("select distinct matcher from matches")} == {"align-v3"}
    assert len(old) == 7
    runner = CliRunner()
    assert "from schema 0006 to " in _run(runner, url, "db", "upgrade")
    # Before the next match, the old links are still shown, marked as the old matcher's.
    before = _matches(runner, url)
    assert {(r["matcher"], r["basis"]) for r in before} == {("align-v3", "")}
    out = _run(runner, url, "match")
    assert "checked 10 pages" in out  # every page the old matcher checked, again
    after = _matches(runner, url)
    assert {r["matcher"] for r in after} == {MATCHER_VERSION}
    assert all(r["basis"] in {"alignment", "passage", "paraphrase"} for r in after)
    with sqlite3.connect(path) as conn:
        new = set(conn.execute("select page_id, source_id from matches").fetchall())
        checks = {m for (m,) in conn.execute("select distinct matcher from match_checks")}
    assert new == old  # the demo's copies are found again by the new rule
    assert checks == {MATCHER_VERSION}
    assert "checked 0 pages" in _run(runner, url, "match")
