"""The notebook API: DataFrames with proper dtypes, consistent with the stored rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, text

import spintrace
from spintrace.cli import cli
from spintrace.errors import NotMigratedError, ReportError
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.export import iter_rows

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


@pytest.fixture
def matched(migrated: Engine) -> Engine:
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, DEMO / "pages.jsonl", "page")
    match_pages(migrated)
    return migrated


def test_frames_match_the_stored_rows(matched: Engine) -> None:
    url = matched.url.render_as_string(hide_password=False)
    with spintrace.open(url) as db:
        matches = db.matches()
        exported = list(iter_rows(matched, "matches"))
        assert len(matches) == len(exported) == 7
        assert set(matches["page_url"]) == {row["page_url"] for row in exported}
        assert (
            str(matches["matched_at"].dtype).startswith("datetime64")
            and str(matches["matched_at"].dt.tz) == "UTC"
        )
        assert isinstance(matches["page_site"].dtype, pd.CategoricalDtype)
        assert (matches["lag"] > pd.Timedelta(0)).all()
        assert matches["substitutions"].sum() > 100

        pages, sources = db.pages(), db.sources()
        assert len(pages) == 10 and len(sources) == 8
        assert pages["links"].sum() == 7 and sources["links"].sum() == 7
        assert str(sources["published"].dt.tz) == "UTC"

        sites = db.sites()
        assert sites.loc["dailytrendwire.example", "pages"] == 5
        assert sites.loc["harbourgazette.example", "copied_from_here"] == 2
        assert sites["copied_pages"].sum() == 7

        evidence = db.evidence()
        assert len(evidence) == matches["substitutions"].sum()
        assert {"moby", "wordnet-synonym"} <= set(evidence["relation"].dropna())

        indicators = db.indicators()
        farm_a = indicators[indicators["site"] == "dailytrendwire.example"]
        assert {"G-DEMO12345", "ca-pub-1234567890123456"} <= set(farm_a["value"])
        assert isinstance(indicators["kind"].dtype, pd.CategoricalDtype)

        learned = db.substitutions()
        assert ("stated", "said") in set(zip(learned["spun"], learned["original"], strict=True))


def test_open_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "x.db").write_bytes(b"")
    with pytest.raises(NotMigratedError, match="db upgrade"):
        spintrace.open(url)
    assert runner.invoke(cli, ["--db", url, "db", "upgrade"]).exit_code == 0
    with spintrace.open(url) as db:
        assert db.matches().empty and db.evidence().empty
        assert list(db.evidence().columns)[:3] == ["match_id", "page_url", "source_url"]


def test_frames_join_on_ids(matched: Engine) -> None:
    url = matched.url.render_as_string(hide_password=False)
    with spintrace.open(url) as db:
        matches, pages, sources = db.matches(), db.pages(), db.sources()
        assert {"id", "page_id", "source_id", "page_time", "source_time", "order"} <= set(
            matches.columns
        )
        joined = matches.merge(pages[["url"]], left_on="page_id", right_index=True).merge(
            sources[["url"]], left_on="source_id", right_index=True, suffixes=("", "_source")
        )
        assert len(joined) == 7
        assert (joined["url"] == joined["page_url"]).all()
        assert (joined["url_source"] == joined["source_url"]).all()
        assert set(matches["order"].astype(str)) <= {"source-earlier", "page-earlier", "unknown"}
        evidence = db.evidence()
        assert set(evidence["match_id"]) <= set(matches["id"])
        per_link = evidence.groupby("match_id").size()
        counts = matches.set_index("id")["substitutions"]
        assert (per_link == counts[per_link.index]).all()

        checks = db.match_checks()
        assert len(checks) == 10 and set(checks["page_id"]) == set(pages.index)
        assert checks["outcome"].astype(str).value_counts()["linked"] == 7
        assert checks.set_index("page_id")["links"].sum() == 7
        assert str(checks["checked_at"].dt.tz) == "UTC"

        captures = db.captures()
        assert len(captures) > 0 and "body" not in captures.columns
        assert set(captures["document_id"].dropna()) <= set(pages.index) | set(sources.index)
        assert (captures["sha256"].str.len() == 64).all()


def test_frames_take_columns_site_and_since_in_sql(matched: Engine) -> None:
    url = matched.url.render_as_string(hide_password=False)
    with spintrace.open(url) as db:
        statements: list[str] = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def remember(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        titles = db.pages(columns=["title"])
        assert list(titles.columns) == ["title"] and titles.index.name == "id"
        assert len(titles) == 10
        read = [s for s in statements if "FROM documents" in s]
        assert read and not any(".text" in s for s in read)  # no full text was read

        everything = db.matches()
        statements.clear()
        farm = db.matches(columns=["page_url", "score"], site="www.dailytrendwire.example")
        assert list(farm.columns) == ["page_url", "score"]
        expected = everything[
            (everything["page_site"] == "dailytrendwire.example")
            | (everything["source_site"] == "dailytrendwire.example")
        ]
        assert sorted(farm["page_url"]) == sorted(expected["page_url"]) and len(farm) == 4
        assert any("domain =" in s for s in statements)  # the site was asked of the database
        assert not any("evidence" in s.split("FROM")[0] for s in statements)

        assert db.matches(since="2999-01-01").empty
        assert len(db.matches(since=everything["matched_at"].min())) == 7
        assert len(db.evidence(site="newsbuzzhub.example")) < len(db.evidence())
        assert db.sites(columns=["pages"], site="dailytrendwire.example")["pages"].tolist() == [5]
        derived = db.matches(columns=["passages", "copy_delay_hours"])
        assert list(derived.columns) == ["passages", "copy_delay_hours"]
        assert (derived["passages"] == everything["passages"]).all()

        with pytest.raises(ReportError, match="no column 'nosuch'"):
            db.matches(columns=["nosuch"])
        with pytest.raises(ReportError, match="not a time"):
            db.matches(since="yesterday")


def test_frame_runs_read_only_sql(matched: Engine) -> None:
    url = matched.url.render_as_string(hide_password=False)
    with spintrace.open(url) as db:
        counts = db.frame(
            "SELECT role, count(*) AS n FROM documents WHERE role = :role GROUP BY role",
            {"role": "page"},
        )
        assert counts.to_dict("records") == [{"role": "page", "n": 10}]
        for statement in (
            "INSERT INTO sites (domain, first_seen) VALUES ('x.example', CURRENT_TIMESTAMP)",
            "DROP TABLE matches",
            "DELETE FROM matches",
            "UPDATE matches SET score = 0",
        ):
            with pytest.raises(ReportError, match="only reads"):
                db.frame(statement)
        assert len(db.matches()) == 7  # nothing was changed
        assert db.frame("SELECT count(*) AS n FROM sites WHERE domain = 'x.example'")["n"][0] == 0
        with pytest.raises(ReportError, match="query failed"):
            db.frame("SELECT * FROM no_such_table")
    # The connections the refused statements ran on still write for the library.
    with matched.begin() as connection:
        connection.execute(text("UPDATE matches SET score = score"))
