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
