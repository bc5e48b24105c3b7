"""Who came first: every link stores each side's time (the rule of DESIGN.md "Time of a page")
and a verdict, exported and shown in the complaint pack (issue 10, item 4)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from spintrace.db import Document, Match
from spintrace.db.times import PageTime, order_of, time_of_page
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.complaint import build_complaint_pack

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
MARCH = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
JANUARY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_time_rule() -> None:
    # Its own date when not after its first capture and not the source's copied date.
    assert time_of_page(JANUARY, MARCH, NOW) == PageTime(JANUARY, "published")
    assert time_of_page(MARCH, JANUARY, NOW) == PageTime(JANUARY, "captured")
    assert time_of_page(MARCH, None, NOW, source_published=MARCH) is None
    assert time_of_page(None, None, NOW) is None  # import time is never a time
    assert order_of(PageTime(JANUARY, "published"), PageTime(MARCH, "published")) == (
        "page-earlier"
    )
    assert order_of(PageTime(MARCH, "captured"), PageTime(JANUARY, "published")) == (
        "source-earlier"
    )
    assert order_of(None, PageTime(JANUARY, "published")) == "unknown"


def _one_copy(tmp_path: Path, page_published: str | None) -> tuple[Path, Path]:
    source = json.loads((DEMO / "sources.jsonl").read_text(encoding="utf-8").splitlines()[0])
    source = {**source, "url": "https://victim.example/story", "published": "2026-03-03T09:00Z"}
    page = {"url": "https://farm.example/story", "text": source["text"]}
    if page_published:
        page["published"] = page_published
    (tmp_path / "s.jsonl").write_text(json.dumps(source) + "\n", encoding="utf-8")
    (tmp_path / "p.jsonl").write_text(json.dumps(page) + "\n", encoding="utf-8")
    return tmp_path / "s.jsonl", tmp_path / "p.jsonl"


def _link(engine: Engine) -> Match:
    with Session(engine) as session:
        match = session.scalars(select(Match)).one()
        session.expunge(match)
        return match


def test_a_page_dated_before_its_source_is_flagged(migrated: Engine, tmp_path: Path) -> None:
    sources, pages = _one_copy(tmp_path, "2026-01-05T09:00:00Z")
    import_file(migrated, sources, "source")
    import_file(migrated, pages, "page")
    assert match_pages(migrated).linked == 1
    match = _link(migrated)
    assert (match.order, match.page_time_basis, match.source_time_basis) == (
        "page-earlier",
        "published",
        "published",
    )
    assert match.page_time == JANUARY and match.source_time == MARCH
    pack = tmp_path / "pack"
    build_complaint_pack(migrated, "victim.example", pack)
    with (pack / "infringements.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["order"] == "page-earlier" and row["page_time_basis"] == "published"
    assert "copy dated earlier" in (pack / "index.html").read_text(encoding="utf-8")
    evidence = (pack / "evidence" / "1.html").read_text(encoding="utf-8")
    assert "The copy is dated before the original" in evidence


def test_no_usable_date_is_unknown_and_old_links_get_a_verdict(
    migrated: Engine, tmp_path: Path
) -> None:
    # The page copies the source's own date (farms do): not the page's date; imported as text,
    # so no capture either: unknown.
    sources, pages = _one_copy(tmp_path, "2026-03-03T09:00:00Z")
    import_file(migrated, sources, "source")
    import_file(migrated, pages, "page")
    match_pages(migrated)
    assert _link(migrated).order == "unknown"
    # A link stored before the verdict existed (an upgraded database) gets one on the next run.
    with Session(migrated) as session, session.begin():
        session.execute(update(Match).values(order=None, source_time=None))
    match_pages(migrated)
    match = _link(migrated)
    assert match.order == "unknown" and match.source_time == MARCH


def test_a_date_copied_at_day_precision_is_not_the_pages() -> None:
    """A farm that keeps only the source's date (midnight) did not publish before it."""
    source = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
    day = datetime(2026, 3, 3, tzinfo=UTC)
    assert time_of_page(day, MARCH.replace(day=20), NOW, source_published=source) == PageTime(
        MARCH.replace(day=20), "captured"
    )
    # Its own date, the next day at midnight, is its date.
    next_day = datetime(2026, 3, 4, tzinfo=UTC)
    assert time_of_page(next_day, None, NOW, source_published=source) == PageTime(
        next_day, "published"
    )


def test_a_page_with_several_links_is_several_rows_everywhere(
    migrated: Engine, tmp_path: Path
) -> None:
    """A page that copies two sources (a roundup) has one row per link in the export, the
    notebook frames, the complaint pack and the network report (issue 10, item 2: the
    reports side; the matcher storing several links is still to come)."""
    import io

    from spintrace.reports.export import export_table
    from spintrace.reports.frames import Database
    from spintrace.reports.network import build_network

    lines = (DEMO / "sources.jsonl").read_text(encoding="utf-8").splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    sources = [
        {**first, "url": "https://victim.example/one"},
        {**second, "url": "https://victim.example/two"},
    ]
    page = {"url": "https://farm.example/roundup", "text": first["text"] + "\n\n" + second["text"]}
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sources))
    (tmp_path / "p.jsonl").write_text(json.dumps(page) + "\n")
    import_file(migrated, tmp_path / "s.jsonl", "source")
    import_file(migrated, tmp_path / "p.jsonl", "page")
    match_pages(migrated)
    with Session(migrated) as session, session.begin():
        page_id = session.scalars(select(Document.id).where(Document.role == "page")).one()
        for source_id in session.scalars(select(Document.id).where(Document.role == "source")):
            if session.scalar(select(Match.id).where(Match.source_id == source_id)) is None:
                session.add(
                    Match(
                        page_id=page_id,
                        source_id=source_id,
                        score=0.9,
                        containment=0.5,
                        coverage=0.95,
                        spin_rate=0.0,
                        evidence={"passages": [], "substitutions": []},
                        matcher="test",
                    )
                )
    match_pages(migrated)  # orders the added links
    out = io.StringIO()
    assert export_table(migrated, "matches", "jsonl", out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {r["source_url"] for r in rows} == {s["url"] for s in sources}
    assert {r["order"] for r in rows} == {"unknown"}
    assert len(Database(migrated).matches()) == 2
    summary = build_complaint_pack(migrated, "victim.example", tmp_path / "pack")
    assert (summary.copies, summary.works) == (2, 2)
    graph = build_network(migrated, min_strength=0)
    assert graph.nodes["farm.example"]["sources_copied"] == 2
