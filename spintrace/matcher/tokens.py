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
    """
    tokens: list[Token] = []
    for m in _WORD.finditer(text):
        word = m.group()
        norm = unicodedata.normalize("NFKC", word).casefold()
        tokens.append(Token(norm, m.start(), m.end(), word[0].isupper()))
    return tokens
