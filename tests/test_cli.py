"""The CLI contract of DESIGN.md, end to end on real SQLite (and PostgreSQL where noted)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spintrace.cli import cli

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def run(runner: CliRunner, url: str, *args: str) -> Result:
    return runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The single ``Error:`` line a user mistake must produce, with no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def db(runner: CliRunner, any_db_url: str) -> str:
    result = run(runner, any_db_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "upgraded" in result.output
    return any_db_url


def test_full_flow_is_idempotent(runner: CliRunner, db: str, tmp_path: Path) -> None:
    first = run(runner, db, "sources", "import", str(DEMO / "sources.jsonl"))
    assert first.exit_code == 0
    assert "8 new, 0 unchanged, 0 rejected" in first.output
    pages = run(runner, db, "pages", "import", str(DEMO / "pages.jsonl"))
    assert "10 new, 0 unchanged, 0 rejected" in pages.output

    matched = run(runner, db, "match")
    assert matched.exit_code == 0
    assert "checked 10 pages against 8 sources: 7 linked" in matched.output

    out = tmp_path / "m.csv"
    exported = run(runner, db, "export", "matches", "--format", "csv", "--output", str(out))
    assert exported.exit_code == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with (DEMO / "truth.csv").open(newline="", encoding="utf-8") as handle:
        truth = {r["page_url"]: r["source_url"] for r in csv.DictReader(handle)}
    # truth.csv also lists the network farms' copies, which only the demo crawls.
    imported = {json.loads(line)["url"] for line in (DEMO / "pages.jsonl").open(encoding="utf-8")}
    assert {r["page_url"]: r["source_url"] for r in rows} == {
        page: source for page, source in truth.items() if source and page in imported
    }
    for row in rows:
        assert 0.6 <= float(row["score"]) <= 1.0
        assert 0.0 <= float(row["spin_rate"]) <= 1.0
        assert row["matched_at"].endswith("Z")
        evidence = json.loads(row["evidence"])
        assert evidence["passages"] and "substitutions" in evidence

    # The second time, nothing is added and nothing is re-checked.
    again = run(runner, db, "sources", "import", str(DEMO / "sources.jsonl"))
    assert "0 new, 8 unchanged, 0 rejected" in again.output
    again = run(runner, db, "pages", "import", str(DEMO / "pages.jsonl"))
    assert "0 new, 10 unchanged, 0 rejected" in again.output
    assert "checked 0 pages" in run(runner, db, "match").output
    out2 = tmp_path / "m2.csv"
    run(runner, db, "export", "matches", "--output", str(out2))
    assert len(out2.read_text(encoding="utf-8").splitlines()) == len(rows) + 1


def test_exports_in_every_format(runner: CliRunner, db: str, tmp_path: Path) -> None:
    run(runner, db, "sources", "import", str(DEMO / "sources.jsonl"))
    run(runner, db, "pages", "import", str(DEMO / "pages.jsonl"))
    run(runner, db, "match")
    as_json = json.loads(run(runner, db, "export", "matches", "--format", "json").output)
    lines = run(runner, db, "export", "matches", "--format", "jsonl").output.splitlines()
    assert len(as_json) == len(lines) == 7
    assert [json.loads(line) for line in lines] == as_json
    first = as_json[0]
    for key in ("page_url", "source_url", "score", "containment", "spin_rate", "matched_at"):
        assert key in first
    assert isinstance(first["evidence"]["substitutions"], list)
    sources = json.loads(run(runner, db, "export", "sources", "--format", "json").output)
    assert len(sources) == 8 and sources[0]["published"].startswith("2026-")
    pages = list(csv.DictReader(io.StringIO(run(runner, db, "export", "pages").output)))
    assert len(pages) == 10
    html_page = next(p for p in pages if "port-wexmoor-ferry" in p["url"])
    assert "Advertisement" not in html_page["text"][:20]
    assert html_page["site"] == "dailytrendwire.example"


def test_every_table_exports_in_every_format(runner: CliRunner, db: str) -> None:
    from spintrace.reports.export import TABLES

    run(runner, db, "sources", "import", str(DEMO / "sources.jsonl"))
    run(runner, db, "pages", "import", str(DEMO / "pages.jsonl"))
    run(runner, db, "pages", "import", str(DEMO / "network.jsonl"))  # sister farms: spin pairs
    run(runner, db, "match")
    for table, (columns, _rows) in TABLES.items():
        as_csv = list(csv.DictReader(io.StringIO(run(runner, db, "export", table).output)))
        as_json = json.loads(run(runner, db, "export", table, "--format", "json").output)
        lines = run(runner, db, "export", table, "--format", "jsonl").output.splitlines()
        assert len(as_csv) == len(as_json) == len(lines) > 0, table
        assert list(as_csv[0]) == list(columns) == list(as_json[0]), table


BAD_LINES = [
    (b'{"url": "https://a.example/1", "text": "Good line one with some words."}', None),
    (b'{"url": "https://a.example/2", "text": "broken', "not valid JSON"),
    (b'{"text": "no url here"}', "'url' must be a non-empty string"),
    (b'{"url": "ftp://a.example/3", "text": "x"}', "absolute http(s) URL"),
    (b'{"url": "not a url", "text": "x"}', "white space"),
    (b'{"url": "https://a.example/4", "text": "   "}', "'text' is empty"),
    (b'{"url": "https://a.example/5", "text": "caf\xe9 latin-1"}', "not UTF-8"),
    (b'["a", "list"]', "expected a JSON object"),
    (b'{"url": "https://a.example/6", "text": 42}', "'text' must be a string"),
    (b'{"url": "https://a.example/7"}', "needs a 'text' or an 'html' field"),
    # Kept without its date, with a warning (a relative date in a file is relative to nothing).
    (b'{"url": "https://a.example/8", "text": "x", "published": "yesterday"}', "stored without"),
    (b'{"url": "https://a.example/9", "html": "<html><body></body></html>"}', "extracted"),
    (b'{"url": "https://a.example:99999/10", "text": "bad port"}', "not a valid URL"),
    (b'{"url": "https://a.example/12", "text": "lone \\ud800 surrogate"}', "lone surrogate"),
    (b'{"url": "https://a.example/13", "text": "a NUL \\u0000 byte"}', "NUL character"),
    (b"", None),
    (b'{"url": "https://a.example/11", "text": "Good line two, after the broken ones."}', None),
]


def test_broken_lines_are_named_and_skipped(runner: CliRunner, db: str, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(line for line, _ in BAD_LINES) + b"\n")
    result = runner.invoke(cli, ["--db", db, "pages", "import", str(path)])
    assert result.exit_code == 0
    assert "Traceback" not in result.output
    assert "3 new, 0 unchanged, 13 rejected" in result.output
    for number, (_, reason) in enumerate(BAD_LINES, start=1):
        if reason is not None:
            assert f"{path}:{number}: " in result.output
            assert reason in result.output.split(f"{path}:{number}: ")[1].splitlines()[0]
    urls = [
        r["url"] for r in csv.DictReader(io.StringIO(run(runner, db, "export", "pages").output))
    ]
    assert urls == ["https://a.example/1", "https://a.example/8", "https://a.example/11"]
    strict = runner.invoke(cli, ["--db", db, "pages", "import", "--strict", str(path)])
    assert strict.exit_code == 2
    assert "0 new, 3 unchanged, 13 rejected" in strict.output


def test_changed_text_adds_a_version(runner: CliRunner, db: str, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"url": "https://b.example/x", "text": "First text."}) + "\n")
    run(runner, db, "pages", "import", str(path))
    path.write_text(
        json.dumps({"url": "https://b.example/x", "text": "Second text."})
        + "\n"
        + json.dumps({"url": "https://b.example/x", "text": "Second text."})
        + "\n"
    )
    result = run(runner, db, "pages", "import", str(path))
    assert "1 new, 1 unchanged, 0 rejected" in result.output


def test_wrong_database_urls_are_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    assert "not a database URL" in one_error_line(run(runner, "not a url", "match"))
    assert "unknown database kind" in one_error_line(run(runner, "foo://x/y", "match"))
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert "db upgrade" in one_error_line(run(runner, missing, "match"))
    assert not (tmp_path / "none.db").exists()
    nofolder = f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}"
    assert "does not exist" in one_error_line(run(runner, nofolder, "db", "upgrade"))
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/x"
    assert "cannot connect" in one_error_line(run(runner, unreachable, "match"))


def test_unmigrated_database_and_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    (tmp_path / "empty.db").write_bytes(b"")
    assert "db upgrade" in one_error_line(run(runner, url, "pages", "import", "x.jsonl"))
    assert run(runner, url, "db", "upgrade").exit_code == 0
    line = one_error_line(run(runner, url, "pages", "import", str(tmp_path / "nope.jsonl")))
    assert "nope.jsonl: no such file" in line
    line = one_error_line(run(runner, url, "sources", "import", str(tmp_path)))
    assert "is a directory" in line


def test_db_from_environment_and_bad_settings(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("SPINTRACE_DB", url)
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "env.db").exists()
    assert "up to date" in runner.invoke(cli, ["db", "upgrade"]).output
    monkeypatch.setenv("SPINTRACE_MATCH_THRESHOLD", "high")
    line = one_error_line(runner.invoke(cli, ["match"]))
    assert "SPINTRACE_MATCH_THRESHOLD" in line
    monkeypatch.setenv("SPINTRACE_MATCH_THRESHOLD", "3")
    assert "match_threshold" in one_error_line(runner.invoke(cli, ["match"]))


def test_export_to_unwritable_place(runner: CliRunner, sqlite_url: str, tmp_path: Path) -> None:
    run(runner, sqlite_url, "db", "upgrade")
    target = tmp_path / "missing-folder" / "m.csv"
    line = one_error_line(run(runner, sqlite_url, "export", "matches", "--output", str(target)))
    assert "cannot write" in line


def _cli_process(url: str, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from spintrace.cli import main; main()", "--db", url, *args]
    return subprocess.Popen(command, **kwargs)  # type: ignore[call-overload, no-any-return]


def test_imports_read_pipes_and_stdin(sqlite_url: str) -> None:
    """Regression (issue 9.7): /dev/stdin from a pipe raised 'Illegal seek' with a traceback."""
    run(CliRunner(), sqlite_url, "db", "upgrade")
    data = (DEMO / "sources.jsonl").read_bytes()
    for name in ("/dev/stdin", "-"):
        process = _cli_process(
            sqlite_url,
            "sources",
            "import",
            name,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = process.communicate(data, timeout=120)
        assert process.returncode == 0, err.decode()
        assert b"Traceback" not in err
        expected = b"8 new, 0 unchanged" if name == "/dev/stdin" else b"0 new, 8 unchanged"
        assert expected in out


def test_export_to_a_closed_pipe_is_quiet(sqlite_url: str) -> None:
    """Regression (issue 9.7): ``export | head -1`` exited 1 when the reader went away."""
    runner = CliRunner()
    run(runner, sqlite_url, "db", "upgrade")
    run(runner, sqlite_url, "sources", "import", str(DEMO / "sources.jsonl"))
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte is written
    process = _cli_process(
        sqlite_url, "export", "sources", "--format", "jsonl", stdout=write, stderr=subprocess.PIPE
    )
    os.close(write)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert err == b""


def test_export_to_stdout_with_a_dash(runner: CliRunner, sqlite_url: str) -> None:
    run(runner, sqlite_url, "db", "upgrade")
    run(runner, sqlite_url, "sources", "import", str(DEMO / "sources.jsonl"))
    result = run(runner, sqlite_url, "export", "sources", "--format", "jsonl", "-o", "-")
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 8


def test_export_never_overwrites_the_database(runner: CliRunner, tmp_path: Path) -> None:
    """Regression (issue 9.12): ``export -o v.db`` overwrote the database it read."""
    path = tmp_path / "v.db"
    url = f"sqlite:///{path}"
    run(runner, url, "db", "upgrade")
    run(runner, url, "sources", "import", str(DEMO / "sources.jsonl"))
    link = tmp_path / "link.db"
    link.symlink_to(path)
    for target in (path, tmp_path / "v.db-wal", link):
        line = one_error_line(run(runner, url, "export", "sources", "-o", str(target)))
        assert "is the database this command reads" in line
    # The database opened through a link, written through its real name.
    line = one_error_line(run(runner, f"sqlite:///{link}", "export", "sources", "-o", str(path)))
    assert "is the database this command reads" in line
    line = one_error_line(run(runner, url, "captures", "export-warc", "-o", str(path)))
    assert "is the database this command reads" in line
    assert "database: none" not in run(runner, url, "db", "current").output
    exported = run(runner, url, "export", "sources", "--format", "jsonl").output
    assert len(exported.splitlines()) == 8


POISON_LINES = [
    b'{"url": "https://a.example/deep", "text": "x", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"url": "https://a.example/date", "text": "x", "published": "9999-12-31T23:59:59-23:59"}',
    b'{"url": "https://a.example/big", "text": "x", "n": ' + b"9" * 5000 + b"}",
]


def test_poison_lines_are_rejected_one_by_one(
    runner: CliRunner, sqlite_url: str, tmp_path: Path
) -> None:
    """Regression (issue 9.11): a deeply nested line, a date past year 9999 in UTC and a huge
    integer each aborted the file (traceback) and lost the good lines read before them."""
    run(runner, sqlite_url, "db", "upgrade")
    good = [
        json.dumps({"url": f"https://a.example/{n}", "text": f"good line {n}"}).encode()
        for n in range(3)
    ]
    path = tmp_path / "poison.jsonl"
    path.write_bytes(b"\n".join([good[0], *POISON_LINES, good[1], good[2]]) + b"\n")
    result = run(runner, sqlite_url, "pages", "import", str(path))
    assert result.exit_code == 0
    # The date past year 9999 in UTC keeps its line, stored without a date (issue 9.5).
    assert "4 new, 0 unchanged, 2 rejected" in result.output
    for number in (2, 4):
        assert f"rejected {path}:{number}: " in result.output
    assert f"warning {path}:3: 'published'" in result.output


def test_an_overlong_line_is_rejected_without_reading_it_whole(tmp_path: Path) -> None:
    from spintrace.ingest.jsonl import read_jsonl
    from spintrace.records import InputRecord

    path = tmp_path / "long.jsonl"
    good = b'{"url": "https://a.example/1", "text": "fine"}\n'
    path.write_bytes(
        good + b'{"url": "https://a.example/2", "text": "' + b"x" * 5000 + b'"}\n' + good
    )
    with path.open("rb") as stream:
        items = list(read_jsonl(stream, str(path), max_line_bytes=1000))
    assert [type(i).__name__ for i in items] == ["InputRecord", "InputError", "InputRecord"]
    assert isinstance(items[0], InputRecord) and "over 1,000 bytes" in str(items[1])


def test_csv_export_neutralises_formulas(
    runner: CliRunner, sqlite_url: str, tmp_path: Path
) -> None:
    """Regression (issue 9.13): formula cells from hostile pages were exported as they are."""
    run(runner, sqlite_url, "db", "upgrade")
    hostile = {"url": "https://a.example/f", "title": '=HYPERLINK("http://x")', "text": "t"}
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps(hostile) + "\n", encoding="utf-8")
    run(runner, sqlite_url, "pages", "import", str(path))
    safe = next(csv.DictReader(io.StringIO(run(runner, sqlite_url, "export", "pages").output)))
    assert safe["title"] == '\'=HYPERLINK("http://x")'
    raw = run(runner, sqlite_url, "export", "pages", "--raw").output
    assert next(csv.DictReader(io.StringIO(raw)))["title"] == '=HYPERLINK("http://x")'
    jsonl = run(runner, sqlite_url, "export", "pages", "--format", "jsonl").output
    assert json.loads(jsonl)["title"] == '=HYPERLINK("http://x")'


def test_write_failures_are_one_error_line(runner: CliRunner, sqlite_url: str) -> None:
    """Regression (issue 9.15): a full disk during export or WARC writing was a traceback."""
    run(runner, sqlite_url, "db", "upgrade")
    for command in (["export", "sources"], ["captures", "export-warc"]):
        line = one_error_line(run(runner, sqlite_url, *command, "-o", "/dev/full"))
        assert line == "Error: cannot write /dev/full: No space left on device"
    line = one_error_line(run(runner, sqlite_url, "report", "network", "-o", "/proc/spintrace-x"))
    assert "cannot write" in line


def test_a_plain_sqlite_path_is_a_database(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite-utils habit: ``--db x.db`` and ``spintrace.open("x.db")`` (was: not a URL)."""
    import spintrace

    monkeypatch.chdir(tmp_path)
    for args in (
        ["db", "upgrade"],
        ["sources", "import", str(DEMO / "sources.jsonl")],
        ["pages", "import", str(DEMO / "pages.jsonl")],
        ["match"],
    ):
        result = runner.invoke(cli, ["--db", "x.db", *args])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "x.db").is_file()
    with spintrace.open("x.db") as db:
        assert len(db.matches()) == 7
    missing = runner.invoke(cli, ["--db", "nowhere/y.db", "match"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
