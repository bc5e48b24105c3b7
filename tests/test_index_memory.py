"""How the stored index reaches a worker's memory: large values read in slices, one judge
held at a time, and a judge that notices every change made while it loaded."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import weakref
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db import Document, IndexSegment, Match, blobs, open_engine, upgrade
from spintrace.db.blobs import read_index_data
from spintrace.ingest.imports import import_file
from spintrace.jobs.merge import IndexMergeError, merge_in_subprocess
from spintrace.linking import steps
from spintrace.linking.index import INDEX_NAME
from spintrace.linking.match import match_pages
from spintrace.linking.stored import RARITY_NAME

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def _links(engine: Engine) -> set[tuple[int, int, float]]:
    with Session(engine) as session:
        rows = session.execute(select(Match.page_id, Match.source_id, Match.score)).all()
    return {(p, s, round(x, 9)) for p, s, x in rows}


def test_index_rows_read_in_slices_are_the_stored_values(migrated: Engine) -> None:
    payload = bytes(range(256)) * 41 + b"tail"
    with Session(migrated) as session, session.begin():
        row = IndexSegment(
            name="test", first_document_id=1, last_document_id=1, items=0, data=payload
        )
        session.add(row)
        session.flush()
        row_id = row.id
    with Session(migrated) as session:
        for size in (1, 7, 1000, len(payload), 10 * len(payload)):
            assert read_index_data(session, row_id, size) == payload
        assert read_index_data(session, row_id + 1) is None


def test_matching_with_the_index_read_in_tiny_slices_gives_the_same_links(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments and frequency tables read (and merged) in 500-byte slices: the same links as
    a run that reads them whole."""
    import spintrace.linking.stored as index_module

    monkeypatch.setattr(index_module, "MAX_SEGMENTS", 1)  # every run merges what it added
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, DEMO / "pages.jsonl", "page")
    match_pages(migrated)
    whole = _links(migrated)
    assert len(whole) == 7
    monkeypatch.setattr(blobs, "SLICE", 500)
    match_pages(migrated, recheck=True)
    assert _links(migrated) == whole


def test_a_worker_holds_one_judge_and_reloads_after_a_change_made_while_it_loaded(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the old judge (its index and frequency tables) stayed referenced while the
    new one loaded, so a reload needed room for two; and the key of what was loaded was read
    after loading, so a segment added meanwhile was never loaded."""
    import_file(migrated, DEMO / "sources.jsonl", "source")
    match_pages(migrated)
    settings = Settings()
    cache = steps.JudgeCache()
    first = weakref.ref(cache.get(migrated, settings))
    assert cache.get(migrated, settings) is first() and cache.loads == 1
    real_load_index = steps.load_index
    seen_old: list[bool] = []

    def load_index_while_a_segment_is_added(session: Session):  # type: ignore[no-untyped-def]
        gc.collect()
        seen_old.append(first() is not None)
        index = real_load_index(session)
        if len(seen_old) == 1:  # another process adds a segment after this one was read
            with Session(migrated) as other, other.begin():
                other.add(
                    IndexSegment(
                        name=INDEX_NAME + "-other",
                        first_document_id=0,
                        last_document_id=0,
                        items=0,
                        data=b"",
                    )
                )
        return index

    monkeypatch.setattr(steps, "load_index", load_index_while_a_segment_is_added)
    with Session(migrated) as session, session.begin():  # a change: the cache reloads
        session.add(
            IndexSegment(name="other", first_document_id=0, last_document_id=0, items=0, data=b"")
        )
    cache.get(migrated, settings)
    assert cache.loads == 2 and seen_old == [False]
    cache.get(migrated, settings)  # the segment added while it loaded: loaded now
    assert cache.loads == 3
    cache.get(migrated, settings)
    assert cache.loads == 3


def test_a_cleared_cache_lets_its_judge_go_and_loads_again(migrated: Engine) -> None:
    """A worker clears its judge before an index merge and a run's finish step, which need the
    memory and change what the judge holds."""
    import_file(migrated, DEMO / "sources.jsonl", "source")
    match_pages(migrated)
    cache = steps.JudgeCache()
    judge = weakref.ref(cache.get(migrated, Settings()))
    cache.clear()
    gc.collect()
    assert judge() is None
    cache.get(migrated, Settings())
    assert cache.loads == 2


def test_learning_sent_in_small_chunks_learns_the_same(
    any_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Learning sends its rows a chunk at a time (a large run's rows were all held at once):
    chunks of one row learn exactly what one executemany learned."""
    from spintrace.db import LearnedSubstitution, SubstitutionSite, open_engine, upgrade
    from spintrace.linking import substitutions

    def learned(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        engine = open_engine(url, create=True)
        upgrade(engine)
        import_file(engine, DEMO / "sources.jsonl", "source")
        import_file(engine, DEMO / "pages.jsonl", "page")
        match_pages(engine)
        with Session(engine) as session:
            pairs = session.execute(
                select(
                    LearnedSubstitution.spun,
                    LearnedSubstitution.original,
                    LearnedSubstitution.pairs,
                    LearnedSubstitution.occurrences,
                ).order_by(LearnedSubstitution.spun, LearnedSubstitution.original)
            ).all()
            sites = session.execute(
                select(LearnedSubstitution.spun, SubstitutionSite.site_id, SubstitutionSite.pairs)
                .join(LearnedSubstitution)
                .order_by(LearnedSubstitution.spun, SubstitutionSite.site_id)
            ).all()
        engine.dispose()
        return [tuple(r) for r in pairs], [tuple(r) for r in sites]

    whole = learned(any_db_url)
    assert len(whole[0]) > 10 and len(whole[1]) > 10
    monkeypatch.setattr(substitutions, "EXECUTE_CHUNK", 1)
    assert learned(f"sqlite:///{tmp_path / 'chunked.db'}") == whole


def test_index_rows_are_stored_uncompressed_on_postgresql(pg_url: str) -> None:
    """Migration 0014: a slice of an uncompressed value is read without the rest of it."""
    from sqlalchemy import text

    from spintrace.db import downgrade, open_engine, upgrade

    engine = open_engine(pg_url, create=True)
    storage = text(
        "SELECT attstorage FROM pg_attribute "
        "WHERE attrelid = 'index_segments'::regclass AND attname = 'data'"
    )
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.scalar(storage) == "e"  # EXTERNAL: out of line, not compressed
        downgrade(engine, "0013")
        with engine.connect() as conn:
            assert conn.scalar(storage) == "x"  # EXTENDED, the default
    finally:
        engine.dispose()


def _many_segments(engine: Engine, count: int, folder: Path) -> None:
    """The demo's sources plus made-up ones, indexed one per segment (a queued run's batches
    before their merge)."""
    import_file(engine, DEMO / "sources.jsonl", "source")
    words = [f"{a}{b}{c}" for a in "bdkmt" for b in "aeiou" for c in "lnrs"]
    rng = random.Random(7)
    extra = folder / "extra.jsonl"
    with extra.open("w") as out:
        for n in range(count - 8):
            text = " ".join(rng.choice(words) for _ in range(300))
            record = {"url": f"https://made-up.example/{n}", "title": f"Made up {n}", "text": text}
            out.write(json.dumps(record) + "\n")
    import_file(engine, extra, "source")
    with Session(engine) as session:
        ids = session.scalars(select(Document.id).where(Document.role == "source")).all()
    for source_id in ids:
        steps.index_batch(engine, [source_id], Settings())


def _stored_names(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(IndexSegment.name)).all())


def test_a_worker_merges_the_index_in_a_child_process(pg_url: str, tmp_path: Path) -> None:
    """A queued run's merges run in child processes, one per kind (their memory goes back to
    the system when they end), merge every stored row of each kind into one, and report their
    peak sizes; the merged index gives the links a single-process run gives."""
    engine = open_engine(pg_url)
    upgrade(engine)
    try:
        _many_segments(engine, 12, tmp_path)
        assert len(_stored_names(engine)) == 24
        report = asyncio.run(merge_in_subprocess(engine))
        assert report["segments"] == 12 and report["tables"] == 12
        # Each kind in a process of its own: one's leftover memory is not under the other.
        pids = {report["segments_pid"], report["tables_pid"], os.getpid()}
        assert len(pids) == 3 and report["segments_peak_rss"] > 0 < report["tables_peak_rss"]
        assert _stored_names(engine) == [INDEX_NAME, RARITY_NAME]
        import_file(engine, DEMO / "pages.jsonl", "page")
        match_pages(engine)
        assert len(_links(engine)) == 7  # the demo's links, as a plain run stores them
        again = asyncio.run(merge_in_subprocess(engine))  # nothing left to merge
        assert again["segments"] == 0 and again["tables"] == 0
    finally:
        engine.dispose()


def test_a_failed_merge_child_says_why(pg_url: str) -> None:
    engine = create_engine(make_url(pg_url).set(database="spintrace_no_such_database"))
    with pytest.raises(IndexMergeError, match="spintrace_no_such_database"):
        asyncio.run(merge_in_subprocess(engine))
