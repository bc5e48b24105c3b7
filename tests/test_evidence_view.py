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
