"""Unix and sqlite-utils habits of the CLI (issue 14.1): CSV input with a field mapping,
``--db`` after the verb, ``-q``, ``--json`` summaries, export filters and columns, ``python -m``,
plurals. End to end on real SQLite through click's runner or a subprocess."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from spintrace.cli import cli
from tests.test_cli import one_error_line

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def run(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", url, *args], env=env)


@pytest.fixture
def db(sqlite_url: str) -> str:
    assert run(sqlite_url, "db", "upgrade").exit_code == 0
    return sqlite_url


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database holding the demo's sources and pages, matched (7 links)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('matched') / 'm.db'}"
    for args in (
        ["db", "upgrade"],
        ["sources", "import", str(DEMO / "sources.jsonl")],
        ["pages", "import", str(DEMO / "pages.jsonl")],
        ["match"],
    ):
        result = run(url, *args)
        assert result.exit_code == 0, result.output
    return url


def _rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


# --- CSV input ------------------------------------------------------------------------------

CSV_FILE = (
    "link,body,headline,date,ignored\n"
    'https://a.example/1,"First text, with a comma\n\nand a second paragraph",One,2026-03-01,x\n'
    "not a url,Some text,Two,,\n"
    "\n"
    "https://a.example/3,Third text,Three,2026-03-03,x,one too many\n"
    "https://a.example/4,,Four,,\n"
    "https://a.example/5,Fifth text,Five,March 5 2026\n"
)
MAPPING = ("--url-field", "link", "--text-field", "body", "--title-field", "headline")


def test_csv_import_maps_fields_and_reports_bad_rows(db: str, tmp_path: Path) -> None:
    path = tmp_path / "sources.csv"
    path.write_text(CSV_FILE, encoding="utf-8")
    result = run(db, "sources", "import", str(path), *MAPPING, "--published-field", "date")
    assert result.exit_code == 0, result.output
    assert f"{path}: 2 new, 0 unchanged, 3 rejected" in result.stdout
    # Each bad row by the line it starts on (the quoted cell spans lines 2-4).
    assert f"rejected {path}:5: 'link' contains white space" in result.stderr
    assert f"rejected {path}:7: has 6 fields, the header 5" in result.stderr
    assert f"rejected {path}:8: 'body' is empty" in result.stderr
    exported = run(db, "export", "sources", "--format", "json", "-c", "url,title,published,text")
    rows = {row["url"]: row for row in json.loads(exported.stdout)}
    assert set(rows) == {"https://a.example/1", "https://a.example/5"}
    assert rows["https://a.example/1"]["text"].endswith("and a second paragraph")
    assert rows["https://a.example/1"]["title"] == "One"
    assert rows["https://a.example/5"]["published"].startswith("2026-03-05")

    again = run(db, "sources", "import", str(path), *MAPPING, "--strict")
    assert again.exit_code == 2  # rejected rows, good rows unchanged
    assert "0 new, 2 unchanged, 3 rejected" in again.stdout


def test_csv_gzip_tsv_and_stdin(db: str, tmp_path: Path) -> None:
    gz = tmp_path / "pages.csv.gz"
    gz.write_bytes(gzip.compress(CSV_FILE.encode()))
    result = run(db, "pages", "import", str(gz), *MAPPING)
    assert "2 new, 0 unchanged, 3 rejected" in result.stdout, result.output
    tsv = tmp_path / "pages.tsv"
    tsv.write_text("url\ttext\nhttps://b.example/1\tTab, separated\n", encoding="utf-8")
    assert "1 new" in run(db, "pages", "import", str(tsv)).stdout
    # A CSV on stdin says so; an explicit --format wins over the name.
    stdin = CliRunner().invoke(
        cli,
        ["--db", db, "pages", "import", "-", "--format", "csv"],
        input="\ufeffurl,text\nhttps://b.example/2,From a pipe\n",
    )
    assert "-: 1 new" in stdin.stdout, stdin.output
    odd = tmp_path / "odd.txt"
    odd.write_text("url,text\nhttps://b.example/3,Named oddly\n", encoding="utf-8")
    assert "1 new" in run(db, "pages", "import", str(odd), "--format", "csv").stdout


def test_csv_bad_bytes_and_missing_columns(db: str, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"url,text\nhttps://c.example/1,caf\xe9\nhttps://c.example/2,fine\n")
    result = run(db, "pages", "import", str(latin))
    assert "1 new, 0 unchanged, 1 rejected" in result.stdout
    assert f"{latin}:2: 'text' is not UTF-8" in result.stderr
    no_url = tmp_path / "no_url.csv"
    no_url.write_text("link,text\nhttps://c.example/3,x\n", encoding="utf-8")
    line = one_error_line(run(db, "pages", "import", str(no_url)))
    assert "no 'url' column" in line and "'link'" in line and "--url-field" in line
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("url,body\nhttps://c.example/3,x\n", encoding="utf-8")
    assert "--text-field" in one_error_line(run(db, "pages", "import", str(no_text)))


def test_jsonl_takes_a_field_mapping_too(db: str, tmp_path: Path) -> None:
    path = tmp_path / "renamed.jsonl"
    path.write_text(
        '{"link": "https://d.example/1", "body": "Renamed keys"}\n{"link": "nope", "body": "x"}\n',
        encoding="utf-8",
    )
    result = run(db, "pages", "import", str(path), "--url-field", "link", "--text-field", "body")
    assert "1 new, 0 unchanged, 1 rejected" in result.stdout
    assert "'link' must be an absolute http(s) URL" in result.stderr


# --- --db after the verb, plain paths, python -m ------------------------------------------


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _leaves(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", [p for p in _leaves(cli) if p != ("demo",)], ids=" ".join)
def test_every_database_command_takes_db_after_the_verb(path: tuple[str, ...]) -> None:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert any("--db" in param.opts for param in command.params)


def test_db_after_the_verb_overrides_before_and_environment(matched: str, tmp_path: Path) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    env = {"SPINTRACE_DB": elsewhere}
    after = CliRunner().invoke(cli, ["export", "matches", "--db", matched, "-c", "score"], env=env)
    assert after.exit_code == 0, after.output
    assert len(after.stdout.splitlines()) == 8  # header and the 7 links
    both = CliRunner().invoke(cli, ["--db", elsewhere, "export", "matches", "--db", matched])
    assert both.exit_code == 0 and len(_rows(both.stdout)) == 7
    assert not (tmp_path / "other.db").exists()  # never opened
    nested = CliRunner().invoke(cli, ["sources", "import", "--db", elsewhere, "-"], input="")
    assert "Error:" in nested.output and "other.db" in nested.output  # not migrated


def test_a_plain_path_after_the_verb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--db", "x.db"]).exit_code == 0
    runner.invoke(cli, ["sources", "import", str(DEMO / "sources.jsonl"), "--db", "x.db"])
    runner.invoke(cli, ["pages", "import", str(DEMO / "pages.jsonl"), "--db", "x.db"])
    result = runner.invoke(cli, ["match", "--db", "x.db"])
    assert "7 linked" in result.stdout, result.output
    assert not (tmp_path / "spintrace.db").exists()


def test_python_m_spintrace(matched: str) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "spintrace", "export", "sites", "--db", matched, "-c", "site"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines()[0] == "site"
    assert "harbourgazette.example" in process.stdout


# --- -q and --json --------------------------------------------------------------------------


def test_quiet_keeps_errors_only(db: str, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"url": "https://e.example/1", "text": "t"}\nnot json\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "--db", db, "pages", "import", str(path)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"rejected {path}:2: not valid JSON" in result.stderr
    matched = CliRunner().invoke(cli, ["-q", "--db", db, "match"])
    assert matched.exit_code == 0 and matched.output == ""
    missing = CliRunner().invoke(cli, ["-q", "--db", db, "pages", "import", "nowhere.jsonl"])
    assert "no such file" in one_error_line(missing)
    both = CliRunner().invoke(cli, ["-q", "-v", "--db", db, "match"])
    assert both.exit_code == 2 and "-q and -v" in both.output


def test_json_summaries(matched: str, db: str, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"url": "https://e.example/1", "text": "t"}\n[1]\n', encoding="utf-8")
    imported = run(db, "pages", "import", str(path), "--json")
    assert imported.exit_code == 0
    summary = json.loads(imported.stdout)  # the whole of stdout is one JSON object
    assert summary["role"] == "page" and (summary["new"], summary["rejected"]) == (1, 1)
    assert summary["files"][0]["errors"] == [
        {"line": 2, "reason": "expected a JSON object, got list"}
    ]
    assert "rejected" in imported.stderr  # the bad line is still listed where people look

    fresh = run(db, "match", "--json")
    report = json.loads(fresh.stdout)
    assert report["checked"] == 1 and report["links"] == 0 and "match_threshold" in report

    complaint = run(
        matched,
        "report",
        "complaint",
        "--owner",
        "harbourgazette.example",
        "-o",
        str(tmp_path / "pack"),
        "--json",
    )
    pack = json.loads(complaint.stdout)
    assert (pack["works"], pack["copies"]) == (2, 2)
    assert pack["index"] == str(tmp_path / "pack" / "index.html")
    network = run(matched, "report", "network", "-o", str(tmp_path / "net"), "--json")
    graph = json.loads(network.stdout)
    assert graph["sites"] >= 2 and Path(graph["output_dir"]).is_dir()


def test_summaries_use_plurals(db: str, tmp_path: Path) -> None:
    text = " ".join(f"word{i} and more of the story" for i in range(40))
    source = tmp_path / "s.jsonl"
    source.write_text(json.dumps({"url": "https://f.example/1", "text": text}) + "\n")
    page = tmp_path / "p.jsonl"
    page.write_text(json.dumps({"url": "https://g.example/1", "text": text}) + "\n")
    run(db, "sources", "import", str(source))
    run(db, "pages", "import", str(page))
    result = run(db, "match")
    assert "checked 1 page against 1 source: 1 linked" in result.stdout, result.output
    assert "1 link stored" in result.stdout


# --- export: filters, columns, formats --------------------------------------------------------


def test_export_filters(matched: str) -> None:
    every = _rows(run(matched, "export", "matches").stdout)
    farm = _rows(run(matched, "export", "matches", "--site", "www.newsbuzzhub.example").stdout)
    assert farm and len(farm) < len(every)
    assert all(row["page_site"] == "newsbuzzhub.example" for row in farm)
    works = _rows(run(matched, "export", "matches", "--site", "harbourgazette.example").stdout)
    assert {row["source_site"] for row in works} == {"harbourgazette.example"}
    high = _rows(run(matched, "export", "matches", "--min-score", "0.98").stdout)
    assert high and all(float(row["score"]) >= 0.98 for row in high) and len(high) < len(every)
    assert len(_rows(run(matched, "export", "matches", "--since", "1d").stdout)) == len(every)
    assert _rows(run(matched, "export", "matches", "--since", "2999-01-01").stdout) == []
    sites = _rows(run(matched, "export", "pages", "--site", "dailytrendwire.example").stdout)
    assert sites and {row["site"] for row in sites} == {"dailytrendwire.example"}


def test_captures_and_checks_export_like_the_other_tables(matched: str) -> None:
    """The captures and match_checks frames are export tables too, with their filters."""
    captures = _rows(run(matched, "export", "captures").stdout)
    assert captures and "body" not in captures[0] and len(captures[0]["sha256"]) == 64
    one_site = _rows(run(matched, "export", "captures", "--site", "dailytrendwire.example").stdout)
    assert one_site and {row["site"] for row in one_site} == {"dailytrendwire.example"}
    assert len(one_site) < len(captures)
    assert _rows(run(matched, "export", "captures", "--since", "2999-01-01").stdout) == []
    checks = _rows(run(matched, "export", "match_checks", "-c", "page_url,outcome,links").stdout)
    pages = _rows(run(matched, "export", "pages").stdout)
    assert {row["page_url"] for row in checks} == {row["url"] for row in pages}
    linked = [row for row in checks if row["outcome"] == "linked"]
    assert linked and all(int(row["links"]) >= 1 for row in linked)
    unlinked = _rows(
        run(matched, "export", "match_checks", "--where", "outcome != 'linked'").stdout
    )
    assert all(row["links"] == "0" for row in unlinked)


def test_export_where(matched: str) -> None:
    where = "passages >= 3 and json_extract(evidence, '$.passages[0].tokens') > 0"
    rows = _rows(run(matched, "export", "matches", "--where", where).stdout)
    assert rows and all(int(row["passages"]) >= 3 for row in rows)
    quoted = run(matched, "export", "matches", "--where", "\"order\" = 'nothing'")
    assert quoted.exit_code == 0 and _rows(quoted.stdout) == []
    for bad, says in (
        ("score >= 0.9; drop table matches", "not statements"),
        ("1 -- comment", "not statements"),
        ("nope > 1", "no such column: nope"),
        ("score >", "syntax error"),
        ("load_extension('/tmp/x')", "not a condition"),
    ):
        assert says in one_error_line(run(matched, "export", "matches", "--where", bad)), bad
    # A semicolon inside a string is data, not a second statement.
    ok = run(matched, "export", "matches", "--where", "page_title != 'a;b'")
    assert ok.exit_code == 0 and len(_rows(ok.stdout)) == 7


def test_export_columns_and_formats(matched: str, tmp_path: Path) -> None:
    picked = run(matched, "export", "matches", "-c", "score,page_url", "-c", "order")
    assert picked.stdout.splitlines()[0] == "score,page_url,order"
    line = one_error_line(run(matched, "export", "matches", "--columns", "score,nope"))
    assert "no column 'nope'" in line and "page_url, source_url, score" in line
    assert "no time" in one_error_line(run(matched, "export", "evidence", "--since", "7d"))
    assert "no score" in one_error_line(run(matched, "export", "pages", "--min-score", "0.5"))
    assert "--since" in one_error_line(run(matched, "export", "matches", "--since", "yesterday"))

    tsv = run(matched, "export", "matches", "--format", "tsv", "-c", "page_url,evidence")
    rows = _rows(tsv.stdout, delimiter="\t")
    assert len(rows) == 7 and json.loads(rows[0]["evidence"])["passages"]
    for name, check in (
        ("m.tsv", lambda text: _rows(text, "\t")[0]["score"]),
        ("m.jsonl", lambda text: json.loads(text.splitlines()[0])["score"]),
        ("m.json", lambda text: json.loads(text)[0]["score"]),
        ("m.csv", lambda text: _rows(text)[0]["score"]),
    ):
        out = tmp_path / name
        result = run(matched, "export", "matches", "-o", str(out), "-c", "score")
        assert result.exit_code == 0 and "wrote 7 rows of matches" in result.stderr
        assert check(out.read_text(encoding="utf-8")), name
    forced = tmp_path / "forced.json"
    run(matched, "export", "matches", "-o", str(forced), "--format", "csv", "-c", "score")
    assert forced.read_text(encoding="utf-8").startswith("score\n")
    # A filter that is wrong is an error before the output file is made.
    never = tmp_path / "never.csv"
    one_error_line(run(matched, "export", "matches", "-o", str(never), "--where", "x >"))
    assert not never.exists()


def test_crawl_json_and_quiet(db: str) -> None:
    """A real crawl (subprocess) of a loopback page: --json is one object on stdout, -q prints
    nothing; the counts are in the singular where they are 1."""
    from test_crawler import FAST, run_cli

    from spintrace.demo.loopback import LoopbackServer, Reply, article_html

    with LoopbackServer() as server:
        server.routes["/news/one.html"] = Reply(article_html(3, server.url))
        url = server.url + "/news/one.html"
        result = run_cli(db, "crawl", "--list", url, "--json", *FAST)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["crawl"]["pages"], summary["crawl"]["new"]) == (1, 1)
        assert summary["extracted"]["documents_new"] == 1
        quiet = subprocess.run(
            [sys.executable, "-m", "spintrace", "-q", "--db", db, "crawl", "--list", url, *FAST],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout
    warc = CliRunner().invoke(cli, ["--db", db, "captures", "export-warc", "-o", "-"])
    assert "wrote 1 capture to stdout" in warc.stderr
