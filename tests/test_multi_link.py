"""A page that copies several sources: one link each, through every output.

The roundup page here stitches most of two demo stories of one publisher (the demo corpus is the
project's own text), with a line of its own between them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import spintrace
from spintrace.db.models import Document, Match
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.complaint.pack import build_complaint_pack
from spintrace.reports.export import iter_rows

DEMO = Path(spintrace.__file__).parent / "demo" / "data"
FERRY = "https://harbourgazette.example/news/2026/03/ferry-service-expands"
STORM = "https://harbourgazette.example/news/2026/02/storm-elspeth-harbour-flooding"
ROUNDUP = "https://roundup-daily.example/coast/this-week"


def _roundup(tmp_path: Path) -> Path:
    sources = {
        row["url"]: row["text"]
        for row in map(json.loads, (DEMO / "sources.jsonl").open(encoding="utf-8"))
    }
    ferry = sources[FERRY].split("\n\n")
    storm = sources[STORM].split("\n\n")
    text = "\n\n".join(
        [
            "This week on the coast: two stories our readers followed.",
            *ferry[: max(2, len(ferry) * 3 // 4)],
            "Also this week:",
            *storm[: max(2, len(storm) * 3 // 4)],
            "Subscribe to our newsletter for more coastal news.",
        ]
    )
    path = tmp_path / "roundup.jsonl"
    path.write_text(json.dumps({"url": ROUNDUP, "text": text}) + "\n", encoding="utf-8")
    return path


def test_a_stitched_page_links_both_sources_everywhere(migrated: Engine, tmp_path: Path) -> None:
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, _roundup(tmp_path), "page")
    report = match_pages(migrated)
    assert (report.linked, report.links) == (1, 2)
    with Session(migrated) as session:
        rows = session.execute(
            select(Document.url, Match.basis, Match.coverage, Match.evidence)
            .join(Match, Match.source_id == Document.id)
            .order_by(Document.url)
        ).all()
    assert sorted((url, basis) for url, basis, _, _ in rows) == sorted(
        [(FERRY, "alignment"), (STORM, "alignment")]
    )
    # Each link has its own evidence: its passages lie in its own part of the page (the ferry
    # story comes first, the storm story after it).
    start = {url: min(p["page_start"] for p in evidence["passages"]) for url, *_, evidence in rows}
    end = {url: max(p["page_end"] for p in evidence["passages"]) for url, *_, evidence in rows}
    assert end[FERRY] <= start[STORM]
    assert all(coverage >= 0.6 for _, _, coverage, _ in rows)

    exported = [r for r in iter_rows(migrated, "matches") if r["page_url"] == ROUNDUP]
    assert sorted(r["source_url"] for r in exported) == sorted([FERRY, STORM])

    frame = spintrace.open(str(migrated.url.render_as_string(hide_password=False))).matches()
    assert sorted(frame.loc[frame["page_url"] == ROUNDUP, "source_url"]) == sorted([FERRY, STORM])

    summary = build_complaint_pack(migrated, "harbourgazette.example", tmp_path / "pack")
    with (tmp_path / "pack" / "infringements.csv").open(encoding="utf-8-sig") as handle:
        listed = [r for r in csv.DictReader(handle) if r["page_url"] == ROUNDUP]
    assert sorted(r["original_url"] for r in listed) == sorted([FERRY, STORM])
    assert summary.copies == 2
    evidence_pages = sorted((tmp_path / "pack" / "evidence").glob("*.html"))
    assert len(evidence_pages) == 2
