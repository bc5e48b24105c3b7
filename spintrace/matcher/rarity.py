"""How rare a word or a word pair is among the held sources: document frequencies.

A passage that many sources share (a market-report formula, a standard disclaimer, a dateline)
is weak evidence of copying; a rare one is strong. :class:`DocumentFrequencies` counts, for every
distinct lemma and every distinct lemma bigram, how many sources contain it. It is built batch
by batch as sources are indexed (one table per batch, stored beside the index segment) and the
tables are summed when loaded. Keys are 32-bit hashes (words and bigrams salted apart); a
collision only makes two keys look commoner than they are, which weakens evidence, never
strengthens it.

Two weights come from it:

- :meth:`DocumentFrequencies.token_weights`: per token, ``1 / sqrt(df)`` of the rarer of the two
  bigrams it belongs to (a word inside one rare pair is rare text), at most 1;
- :meth:`DocumentFrequencies.idf`: per word, ``log(N / df)`` (the paraphrase channel's weights).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from spintrace.matcher.hashing import fmix32, token_hashes

__all__ = ["DocumentFrequencies", "bigram_keys", "word_keys"]

U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]
_WORD_SALT = np.uint32(0x5EED_0001)
_PAIR_SALT = np.uint32(0x5EED_0002)
_GOLDEN = np.uint32(0x9E37_79B1)
_CHUNK = 2000  # documents counted before their keys are folded into a table
# Keys of batch tables gathered before they are summed into the running total of a merge.
_MERGE_KEYS = 1 << 24
_MAGIC = b"SPDF"
_VERSION = 1
_HEADER = struct.Struct("<4sHIII")  # magic, version, documents, keys, CRC-32 of the payload


def word_keys(words: Sequence[str], hashes: U32 | None = None) -> U32:
    """The document-frequency key of each word, in order (``hashes``: their token hashes)."""
    hashes = token_hashes(words) if hashes is None else hashes
    with np.errstate(over="ignore"):
        return fmix32(hashes ^ _WORD_SALT)


def bigram_keys(words: Sequence[str], hashes: U32 | None = None) -> U32:
    """The key of each word bigram ``(words[i], words[i + 1])``, in order (one fewer)."""
    hashes = token_hashes(words) if hashes is None else hashes
    if len(hashes) < 2:
        return np.empty(0, dtype=np.uint32)
    with np.errstate(over="ignore"):
        return fmix32((hashes[:-1] * _GOLDEN + hashes[1:]) ^ _PAIR_SALT)


def _distinct_keys(words: Sequence[str]) -> U32:
    hashes = token_hashes(words)
    return np.unique(np.concatenate([word_keys(words, hashes), bigram_keys(words, hashes)]))


class DocumentFrequencies:
    """Sorted keys with the number of documents holding each, and the number of documents."""

    __slots__ = ("counts", "documents", "keys")

    def __init__(self, keys: U32, counts: U32, documents: int) -> None:
        self.keys, self.counts, self.documents = keys, counts, documents

    @classmethod
    def empty(cls) -> DocumentFrequencies:
        return cls(np.empty(0, np.uint32), np.empty(0, np.uint32), 0)

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]]) -> DocumentFrequencies:
        """Frequencies over the (lemmatised) word lists of ``documents``, counted in chunks so
        memory follows the distinct keys, not the documents."""
        tables, parts = [], []
        for words in documents:
            parts.append(_distinct_keys(words))
            if len(parts) == _CHUNK:
                tables.append(cls._count(parts))
                parts = []
        if parts:
            tables.append(cls._count(parts))
        return cls.merge(tables) if tables else cls.empty()

    @classmethod
    def _count(cls, parts: list[U32]) -> DocumentFrequencies:
        keys, counts = np.unique(np.concatenate(parts), return_counts=True)
        return cls(keys.astype(np.uint32), counts.astype(np.uint32), len(parts))

    @classmethod
    def merge(cls, tables: Iterable[DocumentFrequencies]) -> DocumentFrequencies:
        """The sum of several tables (of disjoint sets of documents).

        Streams: tables are summed into a running total a group at a time, so memory follows
        the total's distinct keys plus one group (:data:`_MERGE_KEYS`), not every table at once
        (a 1M-source index has a thousand batch tables).
        """
        total: DocumentFrequencies | None = None
        group: list[DocumentFrequencies] = []
        held = 0
        for table in tables:
            group.append(table)
            held += len(table)
            if held >= _MERGE_KEYS:
                total = cls._sum(group if total is None else [total, *group])
                group, held = [], 0
        if group:
            total = cls._sum(group if total is None else [total, *group])
        return cls.empty() if total is None else total

    @classmethod
    def _sum(cls, tables: list[DocumentFrequencies]) -> DocumentFrequencies:
        if len(tables) == 1:
            return tables[0]
        # Key and count packed in one 64-bit word, sorted in place: each table is sorted, and
        # a stable sort (timsort) merges the runs in O(n log tables), in 8 bytes per key.
        packed = np.concatenate(
            [(t.keys.astype(np.uint64) << np.uint64(32)) | t.counts for t in tables]
        )
        packed.sort(kind="stable")
        keys = (packed >> np.uint64(32)).astype(np.uint32)
        counts = (packed & np.uint64(0xFFFF_FFFF)).astype(np.uint32)
        del packed
        if not len(keys):
            return cls(keys, counts, sum(t.documents for t in tables))
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        summed = np.add.reduceat(counts, starts, dtype=np.uint64)
        return cls(
            keys[starts].astype(np.uint32),
            summed.astype(np.uint32),
            sum(t.documents for t in tables),
        )

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: U32) -> U32:
        """How many documents hold each key (0 for a key never seen)."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.uint32)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.counts[at], 0).astype(np.uint32)

    def token_weights(self, words: Sequence[str]) -> F64:
        """Per word: ``1 / sqrt(df)`` of the rarer bigram it belongs to (a lone word: its own)."""
        n = len(words)
        if n == 0:
            return np.empty(0, dtype=np.float64)
        if n == 1:
            df = self.lookup(word_keys(words)).astype(np.float64)
        else:
            pair = np.maximum(self.lookup(bigram_keys(words)), 1).astype(np.float64)
            df = np.minimum(np.append(pair, np.inf), np.insert(pair, 0, np.inf))
        out: F64 = 1.0 / np.sqrt(np.maximum(df, 1.0))
        return out

    def idf(self, words: Sequence[str]) -> F64:
        """Per word: ``log(N / df)``, with a word no source holds counted as held by one."""
        df = np.maximum(self.lookup(word_keys(words)), 1).astype(np.float64)
        out: F64 = np.log(max(self.documents, 1) / df).clip(min=0.0)
        return out

    def to_bytes(self) -> bytes:
        payload = self.keys.astype("<u4").tobytes() + self.counts.astype("<u4").tobytes()
        header = _HEADER.pack(_MAGIC, _VERSION, self.documents, len(self.keys), zlib.crc32(payload))
        return header + payload

    @classmethod
    def from_bytes(cls, data: bytes) -> DocumentFrequencies:
        """Inverse of :meth:`to_bytes`; :class:`ValueError` if it is not such a table."""
        if len(data) < _HEADER.size:
            raise ValueError("not a document-frequency table (too short)")
        magic, version, documents, n, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"not a version-{_VERSION} document-frequency table")
        if len(data) != _HEADER.size + 8 * n:
            raise ValueError(
                f"document-frequency table is {len(data)} bytes, not {_HEADER.size + 8 * n}"
            )
        payload = memoryview(data)[_HEADER.size :]
        if zlib.crc32(payload) != crc:
            raise ValueError("document-frequency table is corrupt (CRC-32 mismatch)")
        keys = np.frombuffer(data, dtype="<u4", count=n, offset=_HEADER.size)
        counts = np.frombuffer(data, dtype="<u4", count=n, offset=_HEADER.size + 4 * n)
        return cls(keys.astype(np.uint32), counts.astype(np.uint32), documents)
