"""Split a stored text into pieces to highlight: aligned passages and substitutions.

Evidence offsets are character offsets into ``documents.text``. They are read back from the
database, so they are checked rather than trusted: offsets are clamped to the text, and a
substitution is marked only where the text really holds its words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["Mark", "Segment", "segments"]


@dataclass(frozen=True, slots=True)
class Mark:
    """Substitution number ``number`` (1-based) spans ``text[start:end]``."""

    start: int
    end: int
    number: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of text; ``aligned`` when inside a passage, ``mark`` the substitution it is;
    ``anchor`` on the first piece of each substitution (a substitution cut at a sentence break
    has several pieces, and a page gives each id once)."""

    text: str
    aligned: bool
    mark: int | None
    anchor: bool = False


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(span for span in spans if span[0] < span[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _covering(intervals: Sequence[tuple[int, int]], starts: Sequence[int], at: int) -> int | None:
    index = bisect_right(starts, at) - 1
    if index >= 0 and intervals[index][0] <= at < intervals[index][1]:
        return index
    return None


def segments(
    text: str, passages: Iterable[tuple[int, int]], marks: Iterable[Mark]
) -> list[Segment]:
    """``text`` cut at passage and mark boundaries, each piece with its highlighting.

    Passages may overlap (they are merged); a mark overlapping an earlier one is dropped; a
    mark is one piece even when a passage boundary falls inside it; several marks may share a
    number (one substitution cut at sentence breaks), the first of them is the ``anchor``.
    Joining the pieces' texts gives back ``text`` exactly.
    """
    size = len(text)

    def clamp(value: int) -> int:
        return max(0, min(size, value))

    aligned = _merged((clamp(start), clamp(end)) for start, end in passages)
    kept: list[Mark] = []
    for mark in sorted(marks, key=lambda m: (m.start, m.end)):
        start, end = clamp(mark.start), clamp(mark.end)
        if start < end and (not kept or start >= kept[-1].end):
            kept.append(Mark(start, end, mark.number))
    points = sorted(
        {0, size}
        | {p for span in aligned for p in span}
        | {p for mark in kept for p in (mark.start, mark.end)}
    )
    aligned_starts = [start for start, _ in aligned]
    mark_spans = [(mark.start, mark.end) for mark in kept]
    mark_starts = [mark.start for mark in kept]
    pieces: list[Segment] = []
    for start, end in pairwise(points):
        if start >= end:
            continue
        in_passage = _covering(aligned, aligned_starts, start) is not None
        found = _covering(mark_spans, mark_starts, start)
        number = kept[found].number if found is not None else None
        if (
            pieces
            and pieces[-1].mark == number
            and (number is not None or pieces[-1].aligned == in_passage)
        ):
            # One piece per mark (its id is unique), even where a passage starts inside it.
            last = pieces[-1]
            pieces[-1] = Segment(last.text + text[start:end], last.aligned or in_passage, number)
            continue
        pieces.append(Segment(text[start:end], in_passage, number))
    anchored: set[int] = set()
    for at, piece in enumerate(pieces):
        if piece.mark is not None and piece.mark not in anchored:
            anchored.add(piece.mark)
            pieces[at] = Segment(piece.text, piece.aligned, piece.mark, anchor=True)
    return pieces
