"""Settings: where each value comes from (default, file, environment, flag), the environment
variables spintrace reads (a misspelt one is an error), and re-checking pages when a verdict
setting or the matcher changes, or on --recheck."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.config import (
    ENVIRONMENT,
    Settings,
    check_environment,
    resolve_settings,
    verdict_settings,
)
from spintrace.crawler import hostmap
from spintrace.crawler import settings as crawl_settings
from spintrace.db import Alert, Match, MatchCheck
from spintrace.errors import ConfigError
from spintrace.ingest.imports import import_file
from spintrace.linking.match import MATCHER_VERSION, check_version, match_pages

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "spintrace" / "demo" / "data"


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_values_come_from_file_then_environment_then_flags(tmp_path: Path) -> None:
    (tmp_path / "spintrace.toml").write_text("match_threshold = 0.5\nbatch_size = 100\n")
    env = {"SPINTRACE_BATCH_SIZE": "200", "SPINTRACE_SEED": "7"}
    resolved = resolve_settings({"match_threshold": 0.6}, environ=env, cwd=tmp_path)
    assert resolved.settings.match_threshold == 0.6
    assert resolved.settings.batch_size == 200 and resolved.settings.seed == 7
    assert resolved.origins["match_threshold"] == "flag --threshold"
    assert resolved.origins["batch_size"] == "environment SPINTRACE_BATCH_SIZE"
    assert resolved.origins["num_perm"] == "default"
    only_file = resolve_settings(environ={}, cwd=tmp_path)
    assert only_file.settings.match_threshold == 0.5
    assert only_file.origins["match_threshold"] == f"file {tmp_path / 'spintrace.toml'}"
    # $SPINTRACE_SETTINGS names another file, wherever the command runs.
    other = tmp_path / "elsewhere.toml"
    other.write_text("max_candidates = 20\n")
    named = resolve_settings(environ={"SPINTRACE_SETTINGS": str(other)}, cwd=ROOT)
    assert named.settings.max_candidates == 20 and named.file == other
    assert resolve_settings(environ={}, cwd=ROOT / "docs").file is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("match_treshold = 0.5\n", "unknown setting 'match_treshold' (did you mean match_thr"),
        ("match_threshold = 'high'\n", "match_threshold must be a number"),
        ("batch_size = 1.5\n", "batch_size must be a whole number"),
        ("match_threshold = 3\n", "match_threshold must be in (0, 1]"),
        ("match_threshold = \n", "not valid TOML"),
    ],
)
def test_a_bad_settings_file_says_where_and_what(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "spintrace.toml").write_text(content)
    with pytest.raises(ConfigError) as error:
        resolve_settings(environ={}, cwd=tmp_path)
    assert message in str(error.value)


def test_a_named_settings_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SPINTRACE_SETTINGS=.*no such settings file"):
        resolve_settings(environ={"SPINTRACE_SETTINGS": str(tmp_path / "no.toml")})


def test_settings_command_shows_values_and_origins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spintrace.toml").write_text("passage_weight = 40\n")
    monkeypatch.setenv("SPINTRACE_MAX_CANDIDATES", "12")
    runner = CliRunner()
    result = runner.invoke(cli, ["settings", "--threshold", "0.55"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in result.output.splitlines()}
    assert rows["match_threshold"] == ["0.55", "flag --threshold"]
    assert rows["passage_weight"] == ["40.0", f"file {tmp_path / 'spintrace.toml'}"]
    assert rows["max_candidates"] == ["12", "environment SPINTRACE_MAX_CANDIDATES"]
    assert rows["seed"] == ["1", "default"]
    data = json.loads(runner.invoke(cli, ["settings", "--json"]).output)
    assert data["file"] == str(tmp_path / "spintrace.toml")
    assert data["settings"]["passage_weight"] == {"value": 40.0, "from": f"file {data['file']}"}
    assert data["settings"]["match_threshold"] == {"value": 0.46, "from": "default"}
    (tmp_path / "spintrace.toml").write_text("passage_wieght = 40\n")
    line = _one_error_line(runner.invoke(cli, ["settings"]))
    assert "passage_wieght" in line and "passage_weight" in line


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("SPINTRACE_MATCH_TRESHOLD", "SPINTRACE_MATCH_THRESHOLD"),
        ("SPINTRACE_DATABASE", None),
        ("SPINTRACE_REQUIRE_SERVICE", "SPINTRACE_REQUIRE_SERVICES"),
    ],
)
def test_a_misspelt_variable_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, suggestion: str | None
) -> None:
    monkeypatch.setenv(variable, "1")
    line = _one_error_line(
        CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "db", "current"])
    )
    assert f"unknown environment variable {variable}" in line
    if suggestion:
        assert f"did you mean {suggestion}?" in line
    else:
        assert "docs/settings.md" in line
    with pytest.raises(ConfigError):
        check_environment({variable: "1"})
    # The notebook entry point checks them too (it read only SPINTRACE_DB and said nothing).
    import spintrace

    with pytest.raises(ConfigError, match=f"unknown environment variable {variable}"):
        spintrace.open(str(tmp_path / "x.db"))


def test_every_variable_spintrace_reads_is_declared_and_documented() -> None:
    """Every SPINTRACE_ name in the code, the tests, the benchmarks and CI is a declared
    environment variable, or a Scrapy setting of the crawler (given with -s, never read from
    the environment); docs/settings.md lists every declared one."""
    scrapy = {
        value
        for module in (crawl_settings, hostmap)
        for name, value in vars(module).items()
        if name.endswith("_SETTING") and isinstance(value, str)
    }
    names: set[str] = set()
    files = [*ROOT.glob("spintrace/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("bench/*")]
    files += [ROOT / ".ci" / "run", ROOT / "pyproject.toml"]
    for path in files:
        if path.is_file() and path != Path(__file__):
            names |= set(re.findall(r"\bSPINTRACE_[A-Z][A-Z0-9_]*", path.read_text("utf-8")))
    names.discard("SPINTRACE_TABLES")  # a constant of tests/test_migrations.py
    assert {"SPINTRACE_REQUIRE_SERVICES", "SPINTRACE_DB", "SPINTRACE_TEST_PG_URL"} <= names
    assert names - scrapy - set(ENVIRONMENT) == set()
    documented = (ROOT / "docs" / "settings.md").read_text("utf-8")
    assert [name for name in ENVIRONMENT if f"`{name}`" not in documented] == []


def test_check_version_names_changed_verdict_settings() -> None:
    assert check_version(Settings()) == MATCHER_VERSION
    # Settings that do not change verdicts leave the checks alone.
    assert check_version(Settings(batch_size=10, num_perm=64)) == MATCHER_VERSION
    assert check_version(Settings(match_threshold=0.6)) == f"{MATCHER_VERSION} threshold=0.6"
    long = Settings(match_threshold=0.123456789, passage_weight=41.5, max_candidates=25)
    assert len(check_version(long)) <= 32 and check_version(long).startswith(MATCHER_VERSION)
    assert check_version(long) != check_version(Settings(match_threshold=0.123456788))


def test_verdict_defaults_are_pinned_to_the_matcher_version() -> None:
    """Pages checked with the defaults record the matcher version alone: a new default for a
    verdict setting must come with a new MATCHER_VERSION (then update both here)."""
    defaults = {
        name: getattr(Settings(), name)
        for name in ("match_threshold", "passage_weight", "min_page_tokens", "max_candidates")
    }
    assert verdict_settings(Settings()) == {}
    assert (MATCHER_VERSION, defaults) == (
        "align-v4",
        {"match_threshold": 0.46, "passage_weight": 36.0, "min_page_tokens": 10,
         "max_candidates": 10},
    )  # fmt: skip


def _counts(engine: Engine) -> tuple[int, int, set[str]]:
    with Session(engine) as session:
        links = session.scalar(select(func.count()).select_from(Match)) or 0
        alerts = session.scalar(select(func.count()).select_from(Alert)) or 0
        versions = set(session.scalars(select(MatchCheck.matcher).distinct()))
    return links, alerts, versions


def test_a_changed_threshold_or_recheck_judges_pages_again(migrated: Engine) -> None:
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, DEMO / "pages.jsonl", "page")
    first = match_pages(migrated)
    assert (first.checked, first.links, first.alerts) == (10, 7, 7)
    with Session(migrated) as session:
        pairs = set(session.execute(select(Match.page_id, Match.source_id)))
        scores = sorted(session.scalars(select(Match.score)))
    assert match_pages(migrated).checked == 0

    # A higher threshold re-checks every page and drops the links under it.
    high = Settings(match_threshold=round((scores[0] + scores[-1]) / 2, 3))
    raised = match_pages(migrated, high)
    assert raised.checked == 10 and 0 < raised.links < 7 and raised.alerts == 0
    links, alerts, versions = _counts(migrated)
    assert links == raised.links and alerts == 7
    assert versions == {f"{MATCHER_VERSION} threshold={high.match_threshold!r}"}
    assert match_pages(migrated, high).checked == 0

    # Back to the default: the links are found again, and no alert is raised twice.
    back = match_pages(migrated)
    assert (back.checked, back.links, back.alerts) == (10, 7, 0)
    with Session(migrated) as session:
        assert set(session.execute(select(Match.page_id, Match.source_id))) == pairs
    assert _counts(migrated) == (7, 7, {MATCHER_VERSION})

    again = match_pages(migrated, recheck=True)
    assert (again.checked, again.links, again.alerts) == (10, 7, 0)
    assert _counts(migrated) == (7, 7, {MATCHER_VERSION})


def test_match_flags_and_recheck_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'flags.db'}"

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 0, result.output
        return result.output

    run("db", "upgrade")
    run("sources", "import", str(DEMO / "sources.jsonl"))
    run("pages", "import", str(DEMO / "pages.jsonl"))
    assert "checked 10 pages" in run("match")
    assert "checked 0 pages" in run("match")
    assert "checked 10 pages" in run("match", "--max-candidates", "5")
    assert "checked 0 pages" in run("match", "--max-candidates", "5")
    assert "checked 10 pages" in run("match")
    out = run("match", "--recheck")
    assert "checked 10 pages" in out and "0 new (alerts raised)" in out
    line = _one_error_line(runner.invoke(cli, ["--db", url, "match", "--threshold", "2"]))
    assert "match_threshold must be in (0, 1]" in line
    queued = runner.invoke(cli, ["--db", url, "match", "--queue", "--threshold", "0.6"])
    assert queued.exit_code == 2 and "do not go with --queue" in queued.output
