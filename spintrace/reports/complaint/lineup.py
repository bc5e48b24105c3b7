"""The evidence page's passage-by-passage lineup: each aligned passage of the copy beside the
part of the original it copies, in the original's order.

The side-by-side texts show each text whole, in its own order; when a farm shuffles the
paragraphs, copy and original no longer face each other there. The lineup puts every passage
beside its original, so a shuffled copy reads in the original's order; a passage that sits
elsewhere in the copy says where, and the original's words the copy does not hold are shown
between the rows, collapsed.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from spintrace.reports.complaint.highlight import Mark, Segment, segments

__all__ = ["LineupRow", "lineup"]

_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class LineupRow:
    """A row of the lineup.

    A passage row: ``number`` as in the passages table, ``copy_place`` its place among the
    copy's passages (1 = first in the copy), ``moved`` when the copy puts it out of the
    original's order (outside the longest run of passages that keep it), and the highlighted
    texts of both sides. A gap row (``number`` is
    ``None``): ``skipped`` words of the original, in ``original_text``, that no passage holds.
    """

    number: int | None
    copy_place: int
    moved: bool
    copy_segments: list[Segment]
    original_segments: list[Segment]
    skipped: int = 0
    original_text: str = ""


def _cut(text: str, start: int, end: int, marks: list[Mark]) -> list[Segment]:
    """``text[start:end]`` as one aligned span, with the marks that start inside it."""
    inside = [
        Mark(mark.start - start, min(mark.end, end) - start, mark.number)
        for mark in marks
        if start <= mark.start < end
    ]
    return segments(text[start:end], [(0, end - start)], inside)


def _gap(source_text: str, start: int, end: int) -> LineupRow | None:
    piece = source_text[start:end].strip()
    words = len(_WORD.findall(piece))
    if not words:
        return None
    return LineupRow(None, 0, False, [], [], skipped=words, original_text=piece)


def _in_place(places: list[int]) -> set[int]:
    """The indexes of a longest increasing run (not necessarily contiguous) of ``places``:
    the passages that stay in order. When a copy moves one paragraph, only that one is out
    of it, not every passage it jumped over."""
    tails: list[int] = []  # tails[k]: index ending the best run of length k + 1
    before: list[int] = [-1] * len(places)
    for at, place in enumerate(places):
        low = bisect_left([places[t] for t in tails], place)
        before[at] = tails[low - 1] if low else -1
        if low == len(tails):
            tails.append(at)
        else:
            tails[low] = at
    kept: set[int] = set()
    at = tails[-1] if tails else -1
    while at >= 0:
        kept.add(at)
        at = before[at]
    return kept


def lineup(
    spans: list[tuple[int, int, int, int]],
    page_text: str,
    source_text: str,
    copy_marks: list[Mark],
    original_marks: list[Mark],
) -> list[LineupRow]:
    """The lineup of passages ``spans`` = (page_start, page_end, source_start, source_end), as
    numbered in the passages table (1-based, in the given order); offsets are clamped to the
    texts, and a passage empty on either side is left out."""
    page_size, source_size = len(page_text), len(source_text)
    kept: list[tuple[int, int, int, int, int]] = []
    for number, (page_start, page_end, source_start, source_end) in enumerate(spans, 1):
        ps, pe = max(0, min(page_start, page_size)), max(0, min(page_end, page_size))
        ss, se = max(0, min(source_start, source_size)), max(0, min(source_end, source_size))
        if ps < pe and ss < se:
            kept.append((number, ps, pe, ss, se))
    copy_order = sorted(kept, key=lambda item: (item[1], item[0]))
    place = {item[0]: rank for rank, item in enumerate(copy_order, 1)}
    in_original_order = sorted(kept, key=lambda item: (item[3], item[1]))
    in_place = _in_place([place[item[0]] for item in in_original_order])
    rows: list[LineupRow] = []
    covered = 0  # the end of the original already shown
    for rank, (number, ps, pe, ss, se) in enumerate(in_original_order):
        gap = _gap(source_text, covered, ss) if ss > covered else None
        if gap is not None:
            rows.append(gap)
        rows.append(
            LineupRow(
                number,
                place[number],
                rank not in in_place,
                _cut(page_text, ps, pe, copy_marks),
                _cut(source_text, ss, se, original_marks),
            )
        )
        covered = max(covered, se)
    tail = _gap(source_text, covered, source_size) if kept else None
    if tail is not None:
        rows.append(tail)
    return rows
