"""Edge cases of align-v4 found in review: hostile figures, credited stretches, re-checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from test_link_rule import SPILL, _fillers

from spintrace.db import Match, MatchCheck
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.matcher.paraphrase import numbers
from spintrace.matcher.verdict import Side, credit, judge


def test_numbers_are_read_one_way() -> None:
    found = numbers("cut to 7-3/4 pct from 8-1/2, the G-7 and G7, 1,500.25 dlrs, seven days, 3/4")
    assert found == {"7.75", "8.5", "7", "1500.25", "0.75"}


def test_a_hostile_figure_is_kept_as_written_not_computed() -> None:
    long = "1" * 400 + "/3"
    huge = "9" * 5000 + "/7"
    found = numbers(f"a fee of {long} and {huge} pounds")
    assert "1" * 400 + "/3" in found and "9" * 5000 + "/7" in found


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_page_with_a_hostile_figure_is_matched(migrated: Engine, tmp_path: Path) -> None:
    text = "\n\n".join(SPILL)
    words = text.split()
    pairs = [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
    random.Random(1).shuffle(pairs)  # the facts kept, the word runs broken: a paraphrase
    page = " ".join(pairs) + " The fee was " + "1" * 400 + "/3 pounds."
    sources = [{"url": "https://v.example/spill", "text": text}, *_fillers()]
    import_file(migrated, _write(tmp_path / "s.jsonl", sources), "source")
    import_file(
        migrated,
        _write(tmp_path / "p.jsonl", [{"url": "https://f.example/p", "text": page}]),
        "page",
    )
    report = match_pages(migrated)
    assert (report.checked, report.linked) == (1, 1)
    with Session(migrated) as session:
        assert session.scalars(select(Match.basis)).all() == ["paraphrase"]


def test_a_stretch_whose_runs_went_elsewhere_does_not_count() -> None:
    n, m = 60, 40
    page = Side([f"p{i}" for i in range(n)], np.ones(n), np.zeros(n, np.bool_))
    source = Side([f"s{i}" for i in range(m)], np.ones(m), np.zeros(m, np.bool_))
    # Runs with page-side insertions of 4 words between them (the source side of each gap empty).
    stretch = [((0, 0, 10), []), ((14, 10, 10), []), ((28, 20, 10), [])]
    credited = np.zeros(n, np.bool_)
    credited[0:10] = credited[14:24] = credited[28:38] = True
    judged = judge([stretch], page, source, credited=credited)
    assert not judged.linked and judged.kept == ()


def test_a_pair_that_fails_alone_can_pass_once_words_are_credited() -> None:
    n = 70
    page_words = [f"w{i}" for i in range(n)]
    source_words = list(page_words)
    page_names = np.zeros(n, np.bool_)
    source_names = np.zeros(n, np.bool_)
    for k in range(0, 30, 3):  # a formula paragraph whose figures differ
        source_words[k], page_words[k] = f"{k}1", f"{k}2"
        source_names[k] = page_names[k] = True
    page = Side(page_words, np.ones(n), page_names)
    formula = [((k + 1, k + 1, 2), []) for k in range(0, 30, 3)]
    story = [((35, 35, 35), [])]
    y = Side(source_words, np.ones(n), source_names)
    assert not judge([formula, story], page, y).linked  # the other figures sink its spine
    x = Side(page_words[:30], np.ones(30), page_names[:30].copy())
    links = credit(page, [(1, [[((0, 0, 30), [])]], x), (2, [formula, story], y)])
    assert [key for key, _ in links] == [1, 2]  # with the formula taken by X, Y's story links


def test_an_unrelated_new_source_leaves_verdicts_standing(migrated: Engine, tmp_path: Path) -> None:
    fillers = _fillers()
    sources = [{"url": "https://v.example/spill", "text": "\n\n".join(SPILL)}, *fillers[:-1]]
    import_file(migrated, _write(tmp_path / "s.jsonl", sources), "source")
    pages = [
        {"url": f"https://farm.example/{i}", "text": "\n\n".join(SPILL[i:]) + " more words here"}
        for i in range(3)
    ]
    import_file(migrated, _write(tmp_path / "p.jsonl", pages), "page")
    first = match_pages(migrated)
    assert (first.checked, first.linked) == (3, 3)
    with Session(migrated) as session:
        before = session.execute(select(Match.id, Match.matched_at, Match.score)).all()
    import_file(migrated, _write(tmp_path / "s2.jsonl", fillers[-1:]), "source")
    again = match_pages(migrated)
    assert (again.checked, again.unchanged, again.links) == (3, 3, 0)
    with Session(migrated) as session:
        after = session.execute(select(Match.id, Match.matched_at, Match.score)).all()
        newest = session.scalars(select(MatchCheck.last_source_id)).all()
    assert after == before
    assert set(newest) == {again.newest_source}
    assert match_pages(migrated).checked == 0
