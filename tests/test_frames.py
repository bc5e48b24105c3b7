"""The notebook API: DataFrames with proper dtypes, consistent with the stored rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

import spintrace
from spintrace.cli import cli
from spintrace.errors import NotMigratedError
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
