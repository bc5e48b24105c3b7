"""A match's stored evidence, read for people: highlighted texts, substitutions, scores in words.

The evidence JSON (docs/data-model.md) is read as stored, never recomputed. It comes from the
database, so every field is checked before use: a malformed entry is skipped, not trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from spintrace.reports.complaint.highlight import Mark, Segment, segments
from spintrace.reports.complaint.lineup import LineupRow, lineup
from spintrace.reports.rendering import plural

__all__ = [
    "EvidenceView",
    "LineupRow",
    "PassageView",
    "SubstitutionView",
    "evidence_view",
    "explain_relation",
    "split_at_sentences",
]

_RELATIONS = {
    "learned": "learned from earlier copies",
    "wordnet-synonym": "WordNet synonym",
    "wordnet-similar": "WordNet similar word",
    "wordnet-derivation": "WordNet derived form",
    "wordnet-hypernym": "WordNet broader term",
    "moby": "Moby Thesaurus synonym",
}


@dataclass(frozen=True, slots=True)
class SubstitutionView:
    """Substitution ``number``: ``spun`` in the copy where the original has ``original``.

    ``in_copy`` / ``in_original``: whether it is highlighted in that text (an insertion has no
    words in the original; an offset that does not hold the words is not highlighted).
    """

    number: int
    spun: str
    original: str
    relation: str
    in_copy: bool
    in_original: bool


@dataclass(frozen=True, slots=True)
class PassageView:
    """Aligned passage ``number``: ``words`` page words, ``substitutions`` of them spun."""

    number: int
    words: int
    substitutions: int
    excerpt: str


@dataclass(frozen=True, slots=True)
class EvidenceView:
    """What an evidence page shows."""

    copy_segments: list[Segment]
    original_segments: list[Segment]
    substitutions: list[SubstitutionView]
    passages: list[PassageView]
    summary: str
    details: list[str]
    lineup: list[LineupRow]


def explain_relation(relation: object) -> str:
    """The thesaurus relation that explains a substitution, in words."""
    if relation is None or relation == "":
        return "no thesaurus link (recognised by its position)"
    return _RELATIONS.get(str(relation), str(relation))


# A replaced block of the aligner can run over a sentence break ('stated. "This gained' for
# 'said. "This won'); shown as one mark it reads as if the spinner changed the punctuation and
# the words both texts share. A break: . ! ? ; : or a comma before a closing quote, with the
# quotes and brackets around it, and the white space after it.
_CLOSING = "\"'\u201d\u2019"  # straight and curly closing quotes
_OPENING = "\"'\u201c\u2018"
_BREAK = re.compile(rf"(?:[.!?;:]|,(?=[{_CLOSING}]))[{_CLOSING})\]]*\s+[{_OPENING}(\[]*")
_WORD = re.compile(r"\S+")


def _sentences(text: str) -> list[tuple[int, str]]:
    """``text`` cut at its sentence breaks: (offset, piece) for each piece between them."""
    pieces: list[tuple[int, str]] = []
    start = 0
    for found in _BREAK.finditer(text):
        pieces.append((start, text[start : found.start()]))
        start = found.end()
    pieces.append((start, text[start:]))
    return pieces


def _differing(a: str, b: str) -> tuple[int, int, int, int] | None:
    """The spans of ``a`` and ``b`` left once the words they start and end with in common are
    dropped: (a_start, a_end, b_start, b_end); ``None`` when nothing differs."""
    wa, wb = list(_WORD.finditer(a)), list(_WORD.finditer(b))
    head = 0
    while head < min(len(wa), len(wb)) and wa[head][0] == wb[head][0]:
        head += 1
    tail = 0
    while tail < min(len(wa), len(wb)) - head and wa[-1 - tail][0] == wb[-1 - tail][0]:
        tail += 1
    rest_a, rest_b = wa[head : len(wa) - tail], wb[head : len(wb) - tail]
    if not rest_a and not rest_b:
        return None

    def span(words: list[re.Match[str]], rest: list[re.Match[str]]) -> tuple[int, int]:
        if rest:
            return rest[0].start(), rest[-1].end()
        at = words[head - 1].end() if head else 0
        return at, at

    return (*span(wa, rest_a), *span(wb, rest_b))


def split_at_sentences(spun: str, original: str) -> list[tuple[int, str, int, str]]:
    """A substitution ``spun`` -> ``original`` cut where both sides have the same number of
    sentence breaks: (offset in ``spun``, spun words, offset in ``original``, original words)
    per piece, the words both pieces share left out. Otherwise the substitution as it is."""
    spun_pieces, original_pieces = _sentences(spun), _sentences(original)
    if len(spun_pieces) == 1 or len(spun_pieces) != len(original_pieces):
        return [(0, spun, 0, original)]
    cut: list[tuple[int, str, int, str]] = []
    for (a_at, a), (b_at, b) in zip(spun_pieces, original_pieces, strict=True):
        found = _differing(a, b)
        if found is not None:
            a_start, a_end, b_start, b_end = found
            cut.append((a_at + a_start, a[a_start:a_end], b_at + b_start, b[b_start:b_end]))
    return cut or [(0, spun, 0, original)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _marks(text: str, start: int | None, words: str, number: int) -> list[Mark]:
    """The highlight of ``words`` at ``start`` in ``text``, cut at its sentence breaks so that
    no highlight runs over one (a substitution whose two sides break differently is still
    listed whole); nothing when ``text`` does not hold the words there."""
    if not words or start is None or text[start : start + len(words)] != words:
        return []
    marks = []
    for at, piece in _sentences(words):
        first = _WORD.search(piece)
        if first is not None:
            end = at + len(piece.rstrip())
            marks.append(Mark(start + at + first.start(), start + end, number))
    return marks


def _list(evidence: dict[str, Any], key: str) -> list[Any]:
    value = evidence.get(key)
    return value if isinstance(value, list) else []


def _substitutions(
    evidence: dict[str, Any], page_text: str, source_text: str
) -> tuple[list[SubstitutionView], list[Mark], list[Mark]]:
    """The substitutions, numbered, and their marks in the copy and in the original (only
    where the stored offsets still point at the stored words); a substitution over a sentence
    break is shown as one per sentence (:func:`split_at_sentences`)."""
    subs: list[SubstitutionView] = []
    copy_marks: list[Mark] = []
    original_marks: list[Mark] = []
    for item in _list(evidence, "substitutions"):
        if not isinstance(item, dict):
            continue
        whole_spun, whole_original = str(item.get("spun") or ""), str(item.get("original") or "")
        page_start, source_start = _int(item.get("page_start")), _int(item.get("source_start"))
        relation = explain_relation(item.get("relation"))
        for spun_at, spun, original_at, original in split_at_sentences(whole_spun, whole_original):
            number = len(subs) + 1
            copy_at = None if page_start is None else page_start + spun_at
            original_start = None if source_start is None else source_start + original_at
            in_copy = _marks(page_text, copy_at, spun, number)
            in_original = _marks(source_text, original_start, original, number)
            copy_marks += in_copy
            original_marks += in_original
            subs.append(
                SubstitutionView(number, spun, original, relation, bool(in_copy), bool(in_original))
            )
    return subs, copy_marks, original_marks


def _passages(
    evidence: dict[str, Any], page_text: str
) -> tuple[list[PassageView], list[tuple[int, int, int, int]]]:
    """The aligned passages, numbered, and their spans: (copy start, copy end, original start,
    original end)."""
    spans: list[tuple[int, int, int, int]] = []
    passages: list[PassageView] = []
    for item in _list(evidence, "passages"):
        if not isinstance(item, dict):
            continue
        bounds = [
            _int(item.get(key)) for key in ("page_start", "page_end", "source_start", "source_end")
        ]
        if any(bound is None for bound in bounds):
            continue
        page_start, page_end, source_start, source_end = (int(b or 0) for b in bounds)
        spans.append((page_start, page_end, source_start, source_end))
        excerpt = " ".join(page_text[max(0, page_start) : max(0, page_end)].split()[:12])
        passages.append(
            PassageView(
                len(passages) + 1,
                _int(item.get("tokens")) or 0,
                _int(item.get("substitutions")) or 0,
                excerpt,
            )
        )
    return passages, spans


def _explanation(
    evidence: dict[str, Any],
    scores: tuple[float, float, float, float],
    threshold: float,
    passages: list[PassageView],
    substitutions: int,
) -> tuple[str, list[str]]:
    """The summary sentence and the detail sentences of the evidence page, in plain English."""
    score, containment, coverage, spin_rate = scores
    if evidence.get("basis") == "paraphrase":
        return _paraphrase_explanation(evidence, score, coverage, threshold)
    longest = _int(evidence.get("longest_exact")) or 0
    exact = sum(1 for passage in passages if passage.substitutions == 0)
    if spin_rate > 0:
        spun = f"{spin_rate:.0%} of those were replaced by a synonym spinner"
    else:
        spun = "none of those were replaced by a spinner"
    summary = (
        f"{containment:.0%} of the page's words come from the original; {spun}; "
        f"the longest verbatim run is {plural(longest, 'word')}."
    )
    page_words = _int(evidence.get("page_tokens"))
    source_words = _int(evidence.get("source_tokens"))
    if evidence.get("basis") == "passage":
        how = (
            f"The page copies a rare passage of {plural(longest, 'word')} word for word; a rare "
            "passage this long is a copy on its own, however much else the page holds."
        )
    else:
        how = (
            f"The score is {score:.2f} on a scale from 0 to 1: the larger of the share of the page "
            "that comes from the original and the share of the original found in the page (rare "
            "words count more than words many sources share), times the share of the original's "
            f"names and numbers the copy keeps. spintrace links a page from {threshold:.2f} by "
            "default (docs/matching.md has the measured margins)."
        )
    details = [
        f"The copy reproduces {coverage:.0%} of the original's words"
        + (
            f" (the page has {plural(page_words, 'word')}, the original {source_words})."
            if page_words is not None and source_words is not None
            else "."
        ),
        f"The copied text forms {plural(len(passages), 'aligned passage')}; "
        + _word_for_word(exact, len(passages)),
        (
            f"{plural(substitutions, 'substitution')} (spun word -> original word) "
            f"{'is' if substitutions == 1 else 'are'} listed below with the thesaurus relation "
            "that links them; a spinner changes words, never digits."
            if substitutions
            else "No word was replaced: the copy is verbatim."
        ),
        how,
    ]
    return summary, details


def _listed_words(evidence: dict[str, Any], key: str) -> list[str]:
    items = evidence.get(key)
    return [str(item) for item in items] if isinstance(items, list) else []


def _word_for_word(exact: int, passages: int) -> str:
    """How many of the passages have no substitution, in words."""
    if passages and exact == passages:
        return (
            "every one is copied word for word." if passages > 1 else "it is copied word for word."
        )
    if exact == 0:
        return "each has words replaced by a spinner."
    return f"{exact} of them {'is' if exact == 1 else 'are'} copied word for word."


def _paraphrase_explanation(
    evidence: dict[str, Any], score: float, coverage: float, threshold: float
) -> tuple[str, list[str]]:
    """A copy that keeps the facts in other words: what it shares with the original."""
    words = _listed_words(evidence, "shared_words")
    numbers = _listed_words(evidence, "shared_numbers")
    names = _listed_words(evidence, "shared_names")
    quotes = _listed_words(evidence, "shared_quotes")
    summary = (
        f"The page retells the original in other words: it keeps {coverage:.0%} of the "
        f"original's rare words (weighted by rarity), {plural(len(numbers), 'number')} and "
        f"{plural(len(names), 'name')} of it."
    )
    details = [
        "Shared numbers, in the page's order: " + (", ".join(numbers) or "none") + ".",
        "Shared names: " + (", ".join(names) or "none") + ".",
        "Shared rare words: " + (", ".join(words) or "none") + ".",
        *(f"Quoted in both: “{quote}”" for quote in quotes),
        f"The score is {score:.2f}: the geometric mean of the share of the original's rare words "
        "the page keeps and the share of the page's rare words that come from the original. A "
        "paraphrase is linked from 0.51 when enough rare words and most of the original's "
        f"numbers are shared (alignment links start at {threshold:.2f}; docs/matching.md).",
    ]
    return summary, details


def evidence_view(
    evidence: dict[str, Any],
    page_text: str,
    source_text: str,
    *,
    scores: tuple[float, float, float, float],
    threshold: float,
) -> EvidenceView:
    """The view of one match; ``scores`` = (score, containment, coverage, spin_rate) as stored."""
    if not isinstance(evidence, dict):  # hand-edited or damaged: show what the scores say
        evidence = {}
    subs, copy_marks, original_marks = _substitutions(evidence, page_text, source_text)
    passages, spans = _passages(evidence, page_text)
    summary, details = _explanation(evidence, scores, threshold, passages, len(subs))
    copy_segments = segments(page_text, [(a, b) for a, b, _, _ in spans], copy_marks)
    original_segments = segments(source_text, [(c, d) for _, _, c, d in spans], original_marks)
    # A mark overlapping an earlier one is dropped by segments(): link only to those shown.
    in_copy = {piece.mark for piece in copy_segments if piece.anchor}
    in_original = {piece.mark for piece in original_segments if piece.anchor}
    subs = [
        replace(sub, in_copy=sub.number in in_copy, in_original=sub.number in in_original)
        for sub in subs
    ]
    return EvidenceView(
        copy_segments,
        original_segments,
        subs,
        passages,
        summary,
        details,
        lineup(spans, page_text, source_text, copy_marks, original_marks),
    )
