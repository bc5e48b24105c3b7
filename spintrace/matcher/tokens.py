"""Word tokens with their character offsets in the original text."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = ["Token", "tokenize"]

# Letters and digits; apostrophes and hyphens split words ("state-run" -> state, run), so a
# spinner that rewrites one half of a compound still leaves the other half matching.
_WORD = re.compile(r"[^\W_]+")


class Token(NamedTuple):
    """A normalised word and where it stands in the original text (``text[start:end]``)."""

    norm: str
    start: int
    end: int
    capitalised: bool


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word tokens, normalised with NFKC and case folding.

    Offsets always index the original ``text``, whatever the normalisation does to the word.
    A character that normalises to several words (the vulgar fraction one quarter becomes
    1, fraction slash, 4) gives several tokens that share its offsets, so normalising twice
    gives the same tokens as normalising once.
    """
    tokens: list[Token] = []
    append = tokens.append
    for m in _WORD.finditer(text):
        word = m.group()
        if word.isascii():  # NFKC leaves ASCII alone and casefold() is lower() there
            append(Token(word.lower(), m.start(), m.end(), word[0].isupper()))
            continue
        capitalised = word[0].isupper()
        norm = _normalise(word)
        if _WORD.fullmatch(norm):
            tokens.append(Token(norm, m.start(), m.end(), capitalised))
            continue
        for part in _WORD.findall(norm):
            tokens.append(Token(part, m.start(), m.end(), capitalised))
    return tokens


def _normalise(word: str) -> str:
    # Case folding can produce characters NFKC changes again (and back): repeat to a fixed point.
    norm = unicodedata.normalize("NFKC", word).casefold()
    for _ in range(3):
        again = unicodedata.normalize("NFKC", norm).casefold()
        if again == norm:
            break
        norm = again
    return norm
