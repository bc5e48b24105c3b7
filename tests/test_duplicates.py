"""Near-duplicates by MinHash LSH: the same spin on two sites, and editions of one story."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_link_rule import SPILL, SPILL_SPIN, TRAM, _fillers, _load, _spin, _text

from spintrace.db.models import Document, LshBand, Signature, SpinPair
from spintrace.ingest.imports import import_file
from spintrace.linking.duplicates import PAGE_KIND
from spintrace.linking.match import match_pages
from spintrace.reports.complaint.pack import build_complaint_pack
from spintrace.reports.export import iter_rows
from spintrace.reports.frames import Database
from spintrace.reports.network.graph import build_network

SOURCE = "https://water-news.example/spill"
UPDATE = (
    "\n\nUpdated at noon: Harrowgate Water said the restocking of the Kennet will begin in June "
    "with forty thousand young trout from the Marlbury hatchery."
)
# Another spinner's choices for the same words: an independent spin of the same story.
OTHER_SPIN = dict(
    fined="punished", untreated="unprocessed", poured="gushed", popular="favoured",
    closing="shuttering", heard="learned", switched="flicked", maintenance="upkeep",
    troubling="disturbing", disregard="neglect", noticed="observed", photographs="snaps",
    estimated="reckoned", escaped="got out", admitted="owned up to", apologised="made amends",
    directly="right", promised="vowed", unimpressed="unmoved", amounted="totalled",
    spent="used", damage="destruction", Surveys="Polls", level="degree", wants="desires",
    publish="print", sent="dispatched", further="extra", tougher="stiffer", due="owed",
    said="remarked", company="business",
)  # fmt: skip


def _pairs(engine: Engine) -> list[tuple[str, str, int, int, float]]:
    with Session(engine) as session:
        urls = dict(session.execute(select(Document.id, Document.url)).all())
        return [
            (urls[p.page_a_id], urls[p.page_b_id], p.shared, p.unexplained, p.jaccard)
            for p in session.scalars(select(SpinPair))
        ]


def test_one_spin_on_two_sites_is_a_pair(migrated: Engine, tmp_path: Path) -> None:
    spun = _spin(_text(*SPILL), SPILL_SPIN)
    pages = {
        "https://farm-one.example/a": spun + "\n\nRead more on Farm One.",
        "https://farm-two.example/b": spun + "\n\nShare this story.",
        "https://farm-two.example/c": _spin(_text(*TRAM), SPILL_SPIN),  # another story
    }
    _load(migrated, tmp_path, {SOURCE: _text(*SPILL)}, pages)
    report = match_pages(migrated)
    assert report.spin_pairs == 1
    [(a, b, shared, _unexplained, exact)] = _pairs(migrated)
    assert (a, b) == ("https://farm-one.example/a", "https://farm-two.example/b")
    assert shared >= 20 and exact >= 0.9
    with Session(migrated) as session:
        pair = session.scalars(select(SpinPair)).one()
        spun_words = {sub["spun"] for sub in pair.evidence["substitutions"]}
    assert "penalised" in spun_words and "accepted" in spun_words, spun_words
    # A second run finds nothing new and keeps the pair.
    assert match_pages(migrated).spin_pairs == 0
    assert len(_pairs(migrated)) == 1

    # The network report: a same-spin edge with its evidence, and the frame of pairs.
    graph = build_network(migrated, min_strength=0)
    edge = graph.edges["farm-one.example", "farm-two.example"]
    [spin] = edge["evidence"].same_spins
    assert (spin.url_a, spin.url_b, spin.source_url) == (
        "https://farm-one.example/a",
        "https://farm-two.example/b",
        SOURCE,
    )
    assert spin.unexplained  # the spinner's own words ("not impressed" -> "unimpressed", ...)
    assert edge["same_spin_strength"] >= 0.5 and edge["tier"] == "medium"
    frame = Database(migrated).spin_pairs()
    assert list(frame[["page_a_url", "page_b_url", "source_url"]].itertuples(index=False)) == [
        ("https://farm-one.example/a", "https://farm-two.example/b", SOURCE)
    ]


def test_independent_spins_and_verbatim_copies_are_no_pair(
    migrated: Engine, tmp_path: Path
) -> None:
    story = _text(*SPILL)
    pages = {
        "https://farm-one.example/a": _spin(story, SPILL_SPIN),
        "https://farm-two.example/b": _spin(story, OTHER_SPIN),
        "https://scraper-one.example/c": story + "\n\nCopied.",
        "https://scraper-two.example/d": story + "\n\nAlso copied.",
    }
    _load(migrated, tmp_path, {SOURCE: story}, pages)
    report = match_pages(migrated)
    assert (report.linked, report.spin_pairs) == (4, 0)
    with Session(migrated) as session:
        bands = session.scalars(select(LshBand.document_id).where(LshBand.kind == PAGE_KIND))
        assert len(set(bands)) == 4  # every page was signed and banded
    assert _pairs(migrated) == []


def test_editions_of_one_story_are_one_work(migrated: Engine, tmp_path: Path) -> None:
    story = _text(*SPILL)
    sources = {
        SOURCE: story,
        "https://wire-partner.example/spill": story + "\n\nThis story was first published by "
        "Water News.",
        "https://tram-news.example/tram": _text(*TRAM),
    }
    ids = _load(migrated, tmp_path, sources, {})
    report = match_pages(migrated)
    assert report.works_joined == 2
    with Session(migrated) as session:
        works = dict(session.execute(select(Document.url, Document.work_id)).all())
    assert works[SOURCE] == works["https://wire-partner.example/spill"] == ids[SOURCE]
    assert works["https://tram-news.example/tram"] is None
    assert match_pages(migrated).works_joined == 0


def test_a_work_is_listed_once_under_its_earliest_edition(migrated: Engine, tmp_path: Path) -> None:
    story = _text(*SPILL)
    later = "https://water-news.example/spill-updated"
    rows = [
        {"url": SOURCE, "text": story, "published": "2026-03-01T08:00:00Z"},
        {"url": later, "text": story + UPDATE, "published": "2026-03-01T12:00:00Z"},
        *({"url": r["url"], "text": r["text"]} for r in _fillers()),
    ]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pages = [
        {"url": "https://farm-one.example/a", "text": _spin(story, SPILL_SPIN)},
        {"url": "https://farm-two.example/b", "text": story + UPDATE + "\n\nShare it."},
    ]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pages))
    import_file(migrated, tmp_path / "s.jsonl", "source")
    import_file(migrated, tmp_path / "p.jsonl", "page")
    report = match_pages(migrated)
    assert report.links == 2  # each page keeps one link, to the edition that explains it best
    rows_out = {r["page_url"]: r for r in iter_rows(migrated, "matches")}
    assert rows_out["https://farm-two.example/b"]["source_url"] == later
    works = {r["source_work"] for r in rows_out.values()}
    assert len(works) == 1 and None not in works
    assert {r["source_editions"] for r in rows_out.values()} == {2}

    summary = build_complaint_pack(migrated, "water-news.example", tmp_path / "pack")
    assert (summary.works, summary.copies) == (1, 2)
    notice = next((tmp_path / "pack" / "notices").glob("*.txt")).read_text(encoding="utf-8")
    assert notice.count("[W1]") >= 2 and "[W2]" not in notice
    index = (tmp_path / "pack" / "index.html").read_text(encoding="utf-8")
    assert "also published as" in index and later in index


def test_a_page_without_words_is_signed_once_and_never_hangs(
    migrated: Engine, tmp_path: Path
) -> None:
    pages = {
        "https://farm-one.example/stars": "★★★ — … !!! ★★★",
        "https://farm-one.example/a": _spin(_text(*SPILL), SPILL_SPIN),
    }
    _load(migrated, tmp_path, {SOURCE: _text(*SPILL)}, pages)
    first = match_pages(migrated)
    assert first.checked == 2
    with Session(migrated) as session:
        signed = session.scalars(select(Signature.document_id).where(Signature.kind == PAGE_KIND))
        assert len(list(signed)) == 2
    assert match_pages(migrated).checked == 0


def test_two_verbatim_copies_of_an_edited_edition_are_no_pair(
    migrated: Engine, tmp_path: Path
) -> None:
    story = _text(*SPILL)
    edited = story.replace("nine days", "eleven days").replace(
        "Martin Colley", "Martin Colley-Hale"
    )
    pages = {
        "https://scraper-one.example/a": edited + "\n\nCopied here.",
        "https://scraper-two.example/b": edited + "\n\nAnd here.",
    }
    _load(migrated, tmp_path, {SOURCE: story}, pages)
    report = match_pages(migrated)
    assert (report.linked, report.spin_pairs) == (2, 0)
    assert _pairs(migrated) == []


def test_learned_substitutions_still_count_as_the_spinner_s_own(
    migrated: Engine, tmp_path: Path
) -> None:
    spun = _spin(_text(*SPILL), SPILL_SPIN)
    first = {
        "https://farm-one.example/a": spun + "\n\nRead more.",
        "https://farm-two.example/b": spun + "\n\nShare this.",
    }
    ids = _load(migrated, tmp_path, {SOURCE: _text(*SPILL)}, first)
    match_pages(migrated)  # learns the spinner's pairs from these links
    later = {
        "https://farm-three.example/c": spun + "\n\nMore news.",
        "https://farm-four.example/d": spun + "\n\nSubscribe.",
    }
    (tmp_path / "later.jsonl").write_text(
        "".join(json.dumps({"url": u, "text": t}) + "\n" for u, t in later.items())
    )
    import_file(migrated, tmp_path / "later.jsonl", "page")
    match_pages(migrated)
    with Session(migrated) as session:
        urls = dict(session.execute(select(Document.id, Document.url)).all())
        rows = {
            (urls[p.page_a_id], urls[p.page_b_id]): p.unexplained
            for p in session.scalars(select(SpinPair))
        }
    assert ids[SOURCE]
    old = rows[("https://farm-one.example/a", "https://farm-two.example/b")]
    new = rows[("https://farm-three.example/c", "https://farm-four.example/d")]
    assert old > 0 and new == old
