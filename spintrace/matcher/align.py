"""Verification: align a page with a candidate source and measure what was copied.

Alignment works on normalised word tokens, never on lines or paragraphs, so hard-wrapped text
aligns like flowing text, and it is order-free: anchors are found wherever they are, so a copy
with reordered paragraphs aligns as well as one in order.

1. **Anchors**: maximal runs of at least two equal tokens, found through the source's word
   bigrams; where a page bigram occurs several times in the source, the occurrence that gives
   the longest run (then the one nearest the previous anchor's end) wins.
2. **Stretches**: consecutive anchors (in page order) joined by a gap are one stretch when the
   gap is a plausible spin: at most ``MAX_GAP`` tokens a side (a spinner replaces a word or a
   short phrase), or an equal-length block of up to ``MAX_LINKED_GAP`` tokens in which most
   word pairs are linked (``linked``: a thesaurus or learned substitutions). A gap that changes
   a number never joins: spinners do not touch digits, so it is a real difference (another
   edition of a results story).
3. A stretch counts only with at least ``MIN_STRETCH_EQUAL`` equal tokens: the few bigrams any
   two English texts share ("of the") do not add up to a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from difflib import SequenceMatcher

from spintrace.matcher.tokens import Token, TokenTable
from spintrace.records import Evidence, Passage, Substitution

__all__ = [
    "MAX_GAP",
    "MAX_LINKED_GAP",
    "MIN_STRETCH_EQUAL",
    "Bigrams",
    "Linked",
    "Stretch",
    "align",
    "bigram_starts",
    "evidence",
    "stretches",
]

Linked = Callable[[str, str], bool]

MAX_GAP = 4
MAX_LINKED_GAP = 16
MIN_STRETCH_EQUAL = 3
# Gaps up to this long are split at their equal words before being judged.
MAX_SPLIT_GAP = 24
_LONGEST_GAP = max(MAX_SPLIT_GAP, MAX_LINKED_GAP)
# Occurrences of one bigram tried as a run start; boilerplate bigrams recur, content rarely.
_MAX_STARTS = 32

_Run = tuple[int, int, int]  # page start, source start, length


Bigrams = dict[tuple[str, str], list[int]]


def bigram_starts(words: Sequence[str]) -> Bigrams:
    """Where each word bigram of a source starts; pass it to :func:`align` to reuse it."""
    starts: Bigrams = {}
    for j in range(len(words) - 1):
        starts.setdefault((words[j], words[j + 1]), []).append(j)
    return starts


def _runs(a: Sequence[str], b: Sequence[str], starts: Bigrams) -> list[_Run]:
    runs: list[_Run] = []
    n, m = len(a), len(b)
    i, expected = 0, 0
    while i < n - 1:
        candidates = starts.get((a[i], a[i + 1]))
        if not candidates:
            i += 1
            continue
        best_j, best_len, best_dist = -1, 0, 0
        for j in candidates[:_MAX_STARTS]:
            length = 2
            while i + length < n and j + length < m and a[i + length] == b[j + length]:
                length += 1
            dist = abs(j - expected)
            if length > best_len or (length == best_len and dist < best_dist):
                best_j, best_len, best_dist = j, length, dist
        runs.append((i, best_j, best_len))
        i += best_len
        expected = best_j + best_len
    return runs


def _has_digit(words: Sequence[str]) -> bool:
    return any(c.isdigit() for w in words for c in w)


def _spun_block(gap_a: Sequence[str], gap_b: Sequence[str], linked: Linked | None) -> bool:
    if len(gap_a) <= MAX_GAP and len(gap_b) <= MAX_GAP:
        return True
    if linked is None or len(gap_a) != len(gap_b) or len(gap_a) > MAX_LINKED_GAP:
        return False
    explained = sum(1 for x, y in zip(gap_a, gap_b, strict=True) if x == y or linked(x, y))
    return explained * 2 >= len(gap_a)


_Piece = tuple[int, int, int, int]  # page start, page end, source start, source end


def _trim(a: Sequence[str], b: Sequence[str], i1: int, i2: int, j1: int, j2: int) -> _Piece:
    while i1 < i2 and j1 < j2 and a[i1] == b[j1]:
        i1, j1 = i1 + 1, j1 + 1
    while i1 < i2 and j1 < j2 and a[i2 - 1] == b[j2 - 1]:
        i2, j2 = i2 - 1, j2 - 1
    return i1, i2, j1, j2


def _joins(
    gap_a: Sequence[str], gap_b: Sequence[str], linked: Linked | None
) -> list[_Piece] | None:
    """The substitutions that make a gap between two anchors a spin; ``None`` if it is not one.

    A long gap is split at its single equal words (heavy spinning leaves few equal bigrams
    but many equal words); then every piece must be a plausible spin on its own. Offsets are
    relative to the gap.
    """
    if not gap_a and not gap_b:
        return None
    if _has_digit(gap_a) or _has_digit(gap_b):
        return None
    if _spun_block(gap_a, gap_b, linked):
        return [_trim(gap_a, gap_b, 0, len(gap_a), 0, len(gap_b))]
    if len(gap_a) > MAX_SPLIT_GAP or len(gap_b) > MAX_SPLIT_GAP:
        return None
    blocks = SequenceMatcher(None, gap_a, gap_b, autojunk=False).get_matching_blocks()
    if len(blocks) < 2:  # only the terminating dummy block: nothing equal inside
        return None
    pieces: list[_Piece] = []
    i = j = 0
    for block in blocks:
        if block.a > i or block.b > j:
            if not _spun_block(gap_a[i : block.a], gap_b[j : block.b], linked):
                return None
            pieces.append((i, block.a, j, block.b))
        i, j = block.a + block.size, block.b + block.size
    return pieces


_Link = tuple[_Run, list[_Piece]]  # a run and the substitutions between it and the next run
Stretch = list[_Link]
"""An accepted stretch: its runs (page start, source start, length) in page order, each with
the substitutions (page start, page end, source start, source end) between it and the next."""


def _stretches(
    runs: list[_Run], a: Sequence[str], b: Sequence[str], linked: Linked | None
) -> list[list[_Link]]:
    """Accepted stretches: each run with the substitutions (absolute offsets) after it."""
    accepted: list[list[_Link]] = []
    current: list[_Link] = []

    def close() -> None:
        if current and sum(run[2] for run, _ in current) >= MIN_STRETCH_EQUAL:
            accepted.append(list(current))
        current.clear()

    for run in runs:
        if current:
            (pi, pj, pl), _ = current[-1]
            i0, j0 = pi + pl, pj + pl
            pieces = None
            if 0 <= run[0] - i0 <= _LONGEST_GAP and 0 <= run[1] - j0 <= _LONGEST_GAP:
                pieces = _joins(a[i0 : run[0]], b[j0 : run[1]], linked)
            if pieces is not None:
                shifted = [(i0 + p1, i0 + p2, j0 + q1, j0 + q2) for p1, p2, q1, q2 in pieces]
                current[-1] = (current[-1][0], shifted)
                current.append((run, []))
                continue
            close()
        current.append((run, []))
    close()
    return accepted


def _quote(text: str, tokens: TokenTable, lo: int, hi: int) -> str:
    return text[tokens.starts[lo] : tokens.ends[hi - 1]] if hi > lo else ""


def _table(tokens: TokenTable | Sequence[Token]) -> TokenTable:
    return tokens if isinstance(tokens, TokenTable) else TokenTable.from_tokens(tokens)


def stretches(
    page: Sequence[str],
    source: Sequence[str],
    linked: Linked | None = None,
    bigrams: Bigrams | None = None,
) -> list[Stretch]:
    """The accepted stretches of a page's normalised words aligned with a source's."""
    if not page or not source:
        return []
    return _stretches(_runs(page, source, bigrams or bigram_starts(source)), page, source, linked)


def align(
    page: TokenTable | Sequence[Token],
    source: TokenTable | Sequence[Token],
    page_text: str,
    source_text: str,
    linked: Linked | None = None,
    bigrams: Bigrams | None = None,
) -> Evidence:
    """Align a page with a source and return the :class:`Evidence` of what was copied.

    ``page_text`` and ``source_text`` are the texts the tokens came from: passages and
    substitutions carry offsets into them and quote them. ``linked(spun, original)`` says
    whether two normalised words are known substitutes; without it, only short gaps join.
    ``bigrams`` is ``bigram_starts`` of the source's words, when the caller keeps it.
    """
    page_tokens, source_tokens = _table(page), _table(source)
    found = stretches(page_tokens.norms, source_tokens.norms, linked, bigrams)
    return evidence(page_tokens, source_tokens, page_text, source_text, found)


def evidence(
    page_tokens: TokenTable,
    source_tokens: TokenTable,
    page_text: str,
    source_text: str,
    found: Sequence[Stretch],
) -> Evidence:
    """The :class:`Evidence` of ``found`` stretches (scored by plain containment)."""
    a, b = page_tokens.norms, source_tokens.norms
    if not a or not b:
        return Evidence(0.0, 0.0, 0.0, 0.0, len(a), len(b))
    page_aligned = page_substituted = longest_exact = 0
    source_covered: set[int] = set()
    passages: list[Passage] = []
    substitutions: list[Substitution] = []
    for stretch in found:
        subs_here = 0
        for k, ((i, j, length), pieces) in enumerate(stretch):
            longest_exact = max(longest_exact, length)
            page_aligned += length
            source_covered.update(range(j, j + length))
            if k + 1 == len(stretch):
                break
            (next_i, next_j, _), _ = stretch[k + 1]
            page_aligned += next_i - (i + length)
            source_covered.update(range(j + length, next_j))
            for i1, i2, j1, j2 in pieces:
                if i2 == i1 and j2 == j1:
                    continue
                page_substituted += i2 - i1
                subs_here += 1
                substitutions.append(
                    Substitution(
                        spun=_quote(page_text, page_tokens, i1, i2),
                        original=_quote(source_text, source_tokens, j1, j2),
                        page_start=page_tokens.starts[min(i1, len(a) - 1)],
                        source_start=source_tokens.starts[min(j1, len(b) - 1)],
                    )
                )
        (first_i, first_j, _), _ = stretch[0]
        (last_i, last_j, last_len), _ = stretch[-1]
        passages.append(
            Passage(
                page_start=page_tokens.starts[first_i],
                page_end=page_tokens.ends[last_i + last_len - 1],
                source_start=source_tokens.starts[first_j],
                source_end=source_tokens.ends[last_j + last_len - 1],
                tokens=last_i + last_len - first_i,
                substitutions=subs_here,
            )
        )
    containment = page_aligned / len(a)
    return Evidence(
        score=round(containment, 4),
        containment=round(containment, 4),
        coverage=round(len(source_covered) / len(b), 4),
        spin_rate=round(page_substituted / page_aligned, 4) if page_aligned else 0.0,
        page_tokens=len(a),
        source_tokens=len(b),
        longest_exact=longest_exact,
        passages=tuple(passages),
        substitutions=tuple(substitutions),
    )
