"""Verification: align a page with a candidate source and measure what was copied.

The alignment works on normalised word tokens, never on lines or paragraphs, so hard-wrapped
text aligns as well as flowing text. A first pass aligns the two texts in order (difflib's
longest-matching-block recursion); page stretches it leaves unaligned are then aligned again
against the whole source, which recovers paragraphs the copy reordered.

Inside an aligned stretch, a short replaced block between equal anchors is a substitution
(a spun word or phrase): spinners replace one to a few words with one to a few words.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from spintrace.matcher.tokens import Token
from spintrace.records import Evidence, Passage, Substitution

__all__ = ["align"]

# A replaced block longer than this on either side is not a spin but a different text.
MAX_SUBSTITUTION = 4
# A stretch must hold this many equal tokens, with a run of at least MIN_RUN, to count: lone
# function words ("of the") line up between any two English texts.
MIN_STRETCH_EQUAL = 3
MIN_RUN = 2
# Page gaps at least this long are aligned again against the whole source (reordered text).
MIN_REALIGN = 8
# Each round recovers at least one reordered block; a copy rarely moves more than a few dozen.
MAX_REALIGN_ROUNDS = 32

_Op = tuple[str, int, int, int, int]


def _has_digit(words: Sequence[str]) -> bool:
    return any(c.isdigit() for w in words for c in w)


def _stretches(ops: Sequence[_Op], a: Sequence[str], b: Sequence[str]) -> list[list[_Op]]:
    """Group opcodes into accepted stretches of equal runs and small substitutions.

    Spinners never change digits, so a replaced block with a number in it is a real
    difference (another edition, another match report), never a substitution.
    """
    accepted: list[list[_Op]] = []
    current: list[_Op] = []

    def close() -> None:
        while current and current[-1][0] != "equal":
            current.pop()
        equal = [i2 - i1 for tag, i1, i2, _, _ in current if tag == "equal"]
        if sum(equal) >= MIN_STRETCH_EQUAL and max(equal, default=0) >= MIN_RUN:
            accepted.append(list(current))
        current.clear()

    for op in ops:
        tag, i1, i2, j1, j2 = op
        if tag == "equal" or (
            current
            and i2 - i1 <= MAX_SUBSTITUTION
            and j2 - j1 <= MAX_SUBSTITUTION
            and not _has_digit(a[i1:i2])
            and not _has_digit(b[j1:j2])
        ):
            current.append(op)
        else:
            close()
    close()
    return accepted


def _align_range(a: Sequence[str], b: Sequence[str], a_lo: int, a_hi: int) -> list[list[_Op]]:
    matcher = SequenceMatcher(None, a[a_lo:a_hi], b, autojunk=False)
    shifted = [(tag, i1 + a_lo, i2 + a_lo, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    return _stretches(shifted, a, b)


def _page_gaps(stretches: Sequence[list[_Op]], n: int) -> list[tuple[int, int]]:
    covered = sorted((s[0][1], s[-1][2]) for s in stretches)
    gaps, position = [], 0
    for lo, hi in covered:
        if lo - position >= MIN_REALIGN:
            gaps.append((position, lo))
        position = max(position, hi)
    if n - position >= MIN_REALIGN:
        gaps.append((position, n))
    return gaps


def align(
    page_tokens: Sequence[Token],
    source_tokens: Sequence[Token],
    page_text: str,
    source_text: str,
) -> Evidence:
    """Align a page with a source and return the :class:`Evidence` of what was copied.

    ``page_text`` and ``source_text`` are the texts the tokens came from: passages and
    substitutions carry offsets into them and quote them.
    """
    a = [t.norm for t in page_tokens]
    b = [t.norm for t in source_tokens]
    if not a or not b:
        return Evidence(0.0, 0.0, 0.0, 0.0, len(a), len(b))
    stretches = _align_range(a, b, 0, len(a))
    tried: set[tuple[int, int]] = set()
    for _ in range(MAX_REALIGN_ROUNDS):
        gaps = [gap for gap in _page_gaps(stretches, len(a)) if gap not in tried]
        tried.update(gaps)
        found = [s for lo, hi in gaps for s in _align_range(a, b, lo, hi)]
        if not found:
            break
        stretches.extend(found)
    stretches.sort(key=lambda s: s[0][1])

    page_aligned = 0
    page_substituted = 0
    source_covered: set[int] = set()
    passages: list[Passage] = []
    substitutions: list[Substitution] = []
    for stretch in stretches:
        subs_here = 0
        for tag, i1, i2, j1, j2 in stretch:
            page_aligned += i2 - i1
            source_covered.update(range(j1, j2))
            if tag == "equal":
                continue
            page_substituted += i2 - i1
            subs_here += 1
            spun = page_text[page_tokens[i1].start : page_tokens[i2 - 1].end] if i2 > i1 else ""
            original = (
                source_text[source_tokens[j1].start : source_tokens[j2 - 1].end] if j2 > j1 else ""
            )
            anchor_page = page_tokens[min(i1, len(a) - 1)].start
            anchor_source = source_tokens[min(j1, len(b) - 1)].start
            substitutions.append(Substitution(spun, original, anchor_page, anchor_source))
        _, i1, _, j1, _ = stretch[0]
        _, _, i2, _, j2 = stretch[-1]
        passages.append(
            Passage(
                page_start=page_tokens[i1].start,
                page_end=page_tokens[i2 - 1].end,
                source_start=source_tokens[j1].start,
                source_end=source_tokens[j2 - 1].end,
                tokens=i2 - i1,
                substitutions=subs_here,
            )
        )
    containment = page_aligned / len(a)
    coverage = len(source_covered) / len(b)
    spin_rate = page_substituted / page_aligned if page_aligned else 0.0
    return Evidence(
        score=round(containment, 4),
        containment=round(containment, 4),
        coverage=round(coverage, 4),
        spin_rate=round(spin_rate, 4),
        page_tokens=len(a),
        source_tokens=len(b),
        passages=tuple(passages),
        substitutions=tuple(substitutions),
    )
