"""The feature sets that signatures are made of.

Two kinds, united in one set with a prefix each:

- ``c:`` content shingles, word 2-grams of the normalised tokens. A spinner that replaces a quarter
  of the words still leaves about half of the 2-grams intact (3-grams: about a third).
- ``s:`` skeleton shingles, 2-grams of the tokens a synonym spinner does not touch: numbers and
  capitalised words that do not open a sentence (names, places, organisations), stopwords
  dropped (DSpin's "immutables", Zhang et al., NDSS 2014).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from spintrace.matcher.tokens import Token

__all__ = ["STOPWORDS", "content_features", "skeleton_mask", "skeleton_tokens"]

_STOPWORD_TEXT = """
a an the of in on at to for and or but nor is was are were be been being has have had do
does did it its this that these those with by from as he she they we i you his her their our
my your not no will would can could shall should may might must said says there here than
then so if when who whom which what while also
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Line breaks are not sentence ends: wire copy is hard-wrapped mid-sentence.
_SENTENCE_END = frozenset(".!?")
_SENTENCE_MARK = re.compile(r"[.!?]")


def skeleton_mask(
    norms: Sequence[str],
    starts: Sequence[int],
    ends: Sequence[int],
    capitalised: Sequence[bool],
    text: str,
) -> list[bool]:
    """Per token: is it a number or a mid-sentence capitalised word (stopwords excluded)?

    Takes a token table's columns (words, offsets into ``text``, capitalised flags): the
    tokens :func:`skeleton_tokens` keeps, as a mask (vectorised: it runs on every page).
    """
    n = len(norms)
    if n == 0:
        return []
    marks = np.fromiter((m.start() for m in _SENTENCE_MARK.finditer(text)), dtype=np.int64)
    begin = np.asarray(starts, dtype=np.int64)
    previous = np.concatenate([[0], np.asarray(ends, dtype=np.int64)[:-1]])
    # A sentence mark between the previous token's end and this token's start.
    between = np.searchsorted(marks, begin) > np.searchsorted(marks, previous)
    opens = between | (previous == 0)
    opens[0] = True
    return [
        norm not in STOPWORDS and (norm.isdigit() or (cap and not opening))
        for norm, cap, opening in zip(norms, capitalised, opens.tolist(), strict=True)
    ]


def skeleton_tokens(tokens: Sequence[Token], text: str) -> list[str]:
    """Numbers and mid-sentence capitalised words of ``text``, in order, stopwords dropped."""
    out: list[str] = []
    previous_end = 0
    for token in tokens:
        gap = text[previous_end : token.start]
        starts_sentence = previous_end == 0 or any(c in _SENTENCE_END for c in gap)
        previous_end = token.end
        if token.norm in STOPWORDS:
            continue
        if token.norm.isdigit() or (token.capitalised and not starts_sentence):
            out.append(token.norm)
    return out


def _shingles(words: Sequence[str], prefix: str, k: int = 2) -> set[str]:
    if len(words) < k:
        return {prefix + " ".join(words)} if words else set()
    return {prefix + " ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def content_features(tokens: Sequence[Token], text: str) -> set[str]:
    """The union of content and skeleton shingles of a tokenised ``text``."""
    words = [t.norm for t in tokens]
    return _shingles(words, "c:") | _shingles(skeleton_tokens(tokens, text), "s:")
