"""The complaint pack's evidence page explains each kind of link in its own terms."""

from __future__ import annotations

from spintrace.reports.complaint.evidence import evidence_view


def test_a_paraphrase_link_shows_what_it_shares() -> None:
    evidence = {
        "basis": "paraphrase",
        "shared_words": ["geothermal", "<script>alert(1)</script>"],
        "shared_numbers": ["160", "7.75"],
        "shared_names": ["drexel", "china"],
        "shared_quotes": ["we are highly confident"],
        "passages": [],
        "substitutions": [],
    }
    view = evidence_view(
        evidence, "page text", "source text", scores=(0.62, 0.55, 0.7, 0.0), threshold=0.46
    )
    assert "keeps 70% of the original's rare words" in view.summary
    assert "2 numbers" in view.summary and "2 names" in view.summary
    details = "\n".join(view.details)
    assert "Shared numbers, in the page's order: 160, 7.75." in details
    assert "\u201cwe are highly confident\u201d" in details
    assert "<script>alert(1)</script>" in details  # plain text here; the template escapes it
    assert "0.62" in details


def test_a_passage_link_says_a_rare_passage_is_enough() -> None:
    evidence = {"basis": "passage", "longest_exact": 59, "passages": [], "substitutions": []}
    view = evidence_view(
        evidence, "page text", "source text", scores=(0.46, 0.2, 0.15, 0.0), threshold=0.46
    )
    assert any("rare passage of 59 words" in line for line in view.details)


def test_plurals_and_the_verbatim_case_read_as_english() -> None:
    from spintrace.reports.rendering import plural

    assert (plural(1, "site"), plural(2, "site"), plural(1, "copy", "copies")) == (
        "1 site",
        "2 sites",
        "1 copy",
    )
    evidence = {
        "passages": [
            {"page_start": 0, "page_end": 9, "source_start": 0, "source_end": 9, "tokens": 2,
             "substitutions": 0},
        ],
        "substitutions": [],
    }  # fmt: skip
    view = evidence_view(
        evidence, "page text", "page text", scores=(0.9, 0.9, 0.9, 0.0), threshold=0.46
    )
    details = " ".join(view.details)
    # Regression: "1 of them contain no substitution" and "0 substitutions ... are listed below".
    assert "1 aligned passage; it is copied word for word." in details
    assert "No word was replaced" in details and "are listed below" not in details


def _passage(page: str, source: str, words: str, spun: str | None = None) -> dict[str, int]:
    copied = spun or words
    return {
        "page_start": page.index(copied),
        "page_end": page.index(copied) + len(copied),
        "source_start": source.index(words),
        "source_end": source.index(words) + len(words),
        "tokens": len(copied.split()),
        "substitutions": 0 if spun is None else 1,
    }


def test_a_shuffled_copy_lines_up_in_the_originals_order() -> None:
    first = "The ferry to the island stopped running on Monday after the storm."
    second = "Repairs to the pier will take three weeks, the council said."
    third = "Islanders will be taken across by a fishing boat until then."
    skipped = "A spokesman declined to comment on the cost."
    source = f"{first} {second} {skipped} {third}"
    spun_second = "Repairs to the pier will take three weeks, the council stated."
    page = f"Ad. {third} Related posts. {spun_second} {first}"
    evidence = {
        "passages": [  # in the copy's order, as the matcher stores them
            _passage(page, source, third),
            _passage(page, source, second, spun_second),
            _passage(page, source, first),
        ],
        "substitutions": [
            {"spun": "stated", "original": "said", "relation": "moby",
             "page_start": page.index("stated"), "source_start": source.index("said")},
        ],
    }  # fmt: skip
    view = evidence_view(evidence, page, source, scores=(0.9, 0.9, 0.9, 0.1), threshold=0.46)
    rows = view.lineup
    passages = [row for row in rows if row.number is not None]
    # The original reads in order down the lineup; each copy passage faces its original.
    assert ["".join(s.text for s in row.original_segments) for row in passages] == [
        first,
        second,
        third,
    ]
    assert ["".join(s.text for s in row.copy_segments) for row in passages] == [
        first,
        spun_second,
        third,
    ]
    assert [(row.number, row.copy_place) for row in passages] == [(3, 3), (2, 2), (1, 1)]
    # Reversed: one passage can stay in order, the other two moved.
    assert sum(row.moved for row in passages) == 2
    # The substitution is marked on both sides of its row.
    assert [(s.text, s.mark) for s in passages[1].copy_segments if s.mark] == [("stated", 1)]
    assert [(s.text, s.mark) for s in passages[1].original_segments if s.mark] == [("said", 1)]
    # The sentence the copy left out sits between the rows, in the original's place.
    gaps = [(at, r.skipped, r.original_text) for at, r in enumerate(rows) if r.number is None]
    assert gaps == [(2, 8, skipped)]


def test_a_lineup_survives_damaged_offsets() -> None:
    evidence = {
        "passages": [
            {"page_start": -5, "page_end": 999, "source_start": 3, "source_end": 2, "tokens": 1},
            {"page_start": 0, "page_end": 4, "source_start": 0, "source_end": 4, "tokens": 1},
        ]
    }
    view = evidence_view(evidence, "page text", "some text", scores=(0.5,) * 4, threshold=0.46)
    assert [(row.number, row.skipped) for row in view.lineup] == [(2, 0), (None, 1)]


def test_a_substitution_whose_sides_break_differently_is_marked_per_sentence() -> None:
    source = "It rose by a year, the report said."
    page = "It rose by one yr. The report said."
    evidence = {
        "substitutions": [
            {"spun": "one yr. The", "original": "a year, the", "relation": None,
             "page_start": page.index("one"), "source_start": source.index("a year")},
        ],
    }  # fmt: skip
    view = evidence_view(evidence, page, source, scores=(0.9, 0.9, 0.9, 0.1), threshold=0.46)
    assert [(s.spun, s.original) for s in view.substitutions] == [("one yr. The", "a year, the")]
    marked = [(s.text, s.mark, s.anchor) for s in view.copy_segments if s.mark]
    assert marked == [("one yr", 1, True), ("The", 1, False)]
    assert [(s.text, s.anchor) for s in view.original_segments if s.mark] == [("a year, the", True)]


def test_one_moved_paragraph_is_the_only_one_marked_moved() -> None:
    """Review: 'moved' compared absolute places, so a paragraph moved from the top to the
    bottom marked every passage it jumped over as moved too."""
    paragraphs = [f"Paragraph {n} of the story tells its own part, {n} times over." for n in "ABCD"]
    source = " ".join(paragraphs)
    page = " ".join(paragraphs[1:] + paragraphs[:1])
    passages = [_passage(page, source, text) for text in paragraphs[1:] + paragraphs[:1]]
    view = evidence_view(
        {"passages": passages}, page, source, scores=(0.9, 0.9, 0.9, 0.0), threshold=0.46
    )
    rows = [(row.number, row.copy_place, row.moved) for row in view.lineup]
    assert rows == [(4, 4, True), (1, 1, False), (2, 2, False), (3, 3, False)]


def test_a_substitution_hidden_by_an_overlapping_one_is_not_linked() -> None:
    """Review: in_copy stayed true for a mark segments() dropped (it overlapped an earlier
    one), so the table linked to an id the page does not have."""
    page = "the quick brown fox"
    evidence = {
        "substitutions": [
            {"spun": "quick brown", "original": "fast dark", "page_start": 4, "source_start": 4},
            {"spun": "brown", "original": "dark", "page_start": 10, "source_start": 9},
        ]
    }
    view = evidence_view(evidence, page, "the fast dark fox", scores=(0.9,) * 4, threshold=0.46)
    assert [(s.number, s.in_copy) for s in view.substitutions] == [(1, True), (2, False)]
