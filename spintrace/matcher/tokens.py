"""Word tokens with their character offsets in the original text."""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["Token", "TokenTable", "normalise_phrase", "tokenize"]

# Letters and digits; apostrophes and hyphens split words ("state-run" -> state, run), so a
# spinner that rewrites one half of a compound still leaves the other half matching.
_WORD = re.compile(r"[^\W_]+")


class Token(NamedTuple):
    """A normalised word and where it stands in the original text (``text[start:end]``)."""

    norm: str
    start: int
    end: int
    capitalised: bool


# Builds a Token without NamedTuple's Python-level __new__: tokenising is the largest cost of
# indexing (docs/performance.md), and NamedTuple's __new__ is a Python function call per token.
_new_token = tuple.__new__


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word tokens, normalised with NFKC and case folding.

    Offsets always index the original ``text``, whatever the normalisation does to the word.
    A character that normalises to several words (the vulgar fraction one quarter becomes
    1, fraction slash, 4) gives several tokens that share its offsets, so normalising twice
    gives the same tokens as normalising once.
    """
    if text.isascii():
        # NFKC leaves ASCII alone, casefold() is lower() there, and lower() keeps offsets.
        lower = text.lower()
        spans = [m.span() for m in _WORD.finditer(lower)]
        return [_new_token(Token, (lower[s:e], s, e, text[s].isupper())) for s, e in spans]
    tokens: list[Token] = []
    append = tokens.append
    for m in _WORD.finditer(text):
        word = m.group()
        start, end = m.span()
        if word.isascii():
            append(_new_token(Token, (word.lower(), start, end, word[0].isupper())))
            continue
        capitalised = word[0].isupper()
        norm = _normalise(word)
        if _WORD.fullmatch(norm):
            append(Token(norm, start, end, capitalised))
            continue
        for part in _WORD.findall(norm):
            append(Token(part, start, end, capitalised))
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


def normalise_phrase(text: str) -> str:
    """The normalised words of ``text`` joined by single spaces ("Legal-Professionals" ->
    "legal professionals"), as :func:`tokenize` would give them."""
    words: list[str] = []
    for word in _WORD.findall(text):
        if word.isascii():
            words.append(word.lower())
        else:
            words.extend(_WORD.findall(_normalise(word)))
    return " ".join(words)


_TABLE_MAGIC = b"SPTK"
_TABLE_HEADER = struct.Struct("<4sHI")  # magic, version, token count
_TABLE_VERSION = 1


class TokenTable:
    """A document's tokens as parallel arrays: what alignment needs, cheap to store and load.

    ``to_bytes`` gives a little-endian layout (header, starts, lengths, capitalised bits, the
    normalised words joined by spaces: a word never contains one), so a stored document is
    aligned again without being tokenised again.
    """

    __slots__ = ("capitalised", "ends", "norms", "starts")

    def __init__(
        self,
        norms: list[str],
        starts: Sequence[int],
        ends: Sequence[int],
        capitalised: Sequence[bool],
    ) -> None:
        if not len(norms) == len(starts) == len(ends) == len(capitalised):
            raise ValueError("a token table needs as many starts, ends and flags as words")
        self.norms = norms
        self.starts = starts
        self.ends = ends
        self.capitalised = capitalised

    @classmethod
    def from_tokens(cls, tokens: Sequence[Token]) -> TokenTable:
        return cls(
            [t.norm for t in tokens],
            [t.start for t in tokens],
            [t.end for t in tokens],
            [t.capitalised for t in tokens],
        )

    def __len__(self) -> int:
        return len(self.norms)

    def to_bytes(self) -> bytes:
        n = len(self.norms)
        starts = np.asarray(self.starts, dtype="<u4")
        lengths = np.minimum(np.asarray(self.ends, dtype=np.int64) - starts, 0xFFFF).astype("<u2")
        flags = np.packbits(np.asarray(self.capitalised, dtype=np.bool_), bitorder="little")
        return b"".join(
            (
                _TABLE_HEADER.pack(_TABLE_MAGIC, _TABLE_VERSION, n),
                starts.tobytes(),
                lengths.tobytes(),
                flags.tobytes(),
                " ".join(self.norms).encode("utf-8"),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenTable:
        magic, version, n = _TABLE_HEADER.unpack_from(data)
        if magic != _TABLE_MAGIC or version != _TABLE_VERSION:
            raise ValueError(f"not a version-{_TABLE_VERSION} token table (magic {magic!r})")
        at = _TABLE_HEADER.size
        starts = np.frombuffer(data, dtype="<u4", count=n, offset=at)
        at += 4 * n
        lengths = np.frombuffer(data, dtype="<u2", count=n, offset=at)
        at += 2 * n
        nflags = (n + 7) // 8
        flags = np.unpackbits(
            np.frombuffer(data, dtype=np.uint8, count=nflags, offset=at), bitorder="little"
        )[:n]
        norms = data[at + nflags :].decode("utf-8").split(" ") if n else []
        if len(norms) != n:
            raise ValueError(f"token table holds {len(norms)} words for {n} tokens")
        ends = starts.astype(np.int64) + lengths
        return cls(norms, starts.tolist(), ends.tolist(), flags.astype(bool).tolist())
