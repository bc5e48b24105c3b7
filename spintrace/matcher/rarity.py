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
  bigrams it belongs to (a word inside one rare pair is rare text), at most 1. Past
  :data:`RATE_BASE` documents, ``df`` is read per that many (``df * RATE_BASE / N``): rarity is a
  share of the corpus, and the link rule's absolute bar (``passage_weight``, a sum of weights)
  was calibrated on corpora of that size. Counted plainly, every weight would shrink as the
  corpus grows (a pair in 0.1% of the sources weighs 1/2.2 at 5,000 sources, 1/32 at a million),
  and the same pasted paragraph would stop being a rare passage as sources are added
  (bench/scale.py: excerpts linked 443 of 1,667 at a million sources that way);
- :meth:`DocumentFrequencies.idf`: per word, ``log(N / df)`` (the paraphrase channel's weights).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from spintrace.matcher.hashing import fmix32, token_hashes

__all__ = ["RATE_BASE", "DocumentFrequencies", "bigram_keys", "word_keys"]

U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]
_WORD_SALT = np.uint32(0x5EED_0001)
_PAIR_SALT = np.uint32(0x5EED_0002)
_GOLDEN = np.uint32(0x9E37_79B1)
# Token weights read a document frequency per this many documents: the corpus size of the sets
# the link rule was calibrated on (1,500-4,383 sources, docs/accuracy.md), see the module.
RATE_BASE = 5_000
_CHUNK = 2000  # documents counted before their keys are folded into a table
# Keys of batch tables summed at once before their sum is added into a merge's running total
# (about 40 bytes each while summed).
_MERGE_KEYS = 1 << 23
# A merge keeps its running total in this many ranges of keys (by their top bits), replaced one
# at a time, so adding to it takes one range's worth of new memory, not the total's.
_RANGE_BITS = 4
_RANGES = 1 << _RANGE_BITS
_RANGE_STARTS = (np.arange(_RANGES, dtype=np.uint64) << np.uint64(32 - _RANGE_BITS)).astype(
    np.uint32
)
_MAGIC = b"SPDF"
_VERSION = 2
_HEADER = struct.Struct("<4sHIII")  # magic, version, documents, keys, CRC-32 of the payload
# Where the arrays start, by version: version 2 pads the header to 8 bytes, so the arrays read
# in place are aligned (numpy copies an unaligned array to search it); version 1 is still read.
_PAYLOAD_AT = {1: _HEADER.size, 2: 24}


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
    def merge(
        cls, tables: Iterable[DocumentFrequencies], *, singletons: bool = True
    ) -> DocumentFrequencies:
        """The sum of several tables (of disjoint sets of documents); without the keys one
        document holds when ``singletons`` is false (:meth:`without_singletons`).

        Streams (:meth:`_merged_ranges`): memory follows the total plus one range of it and
        one group of tables, not every table at once (a 1M-source index has a thousand).
        """
        ranges, documents = cls._merged_ranges(tables)
        if not singletons:
            ranges = [r.without_singletons() for r in ranges]
        if len(ranges) == 1:
            return cls(ranges[0].keys, ranges[0].counts, documents)
        keys = np.concatenate([r.keys for r in ranges])
        counts = np.concatenate([r.counts for r in ranges])
        return cls(keys, counts, documents)

    @classmethod
    def merged_bytes(cls, tables: Iterable[DocumentFrequencies]) -> tuple[bytes, int]:
        """The sum of ``tables`` as stored (:meth:`to_bytes`), made from its key ranges without
        the summed arrays, and the number of documents it counts."""
        ranges, documents = cls._merged_ranges(tables)
        keys = [np.ascontiguousarray(r.keys, dtype="<u4").data for r in ranges]
        counts = [np.ascontiguousarray(r.counts, dtype="<u4").data for r in ranges]
        return _serialised(documents, sum(len(r) for r in ranges), [*keys, *counts]), documents

    @classmethod
    def _merged_ranges(
        cls, tables: Iterable[DocumentFrequencies]
    ) -> tuple[list[DocumentFrequencies], int]:
        """The sum of ``tables`` in :data:`_RANGES` tables of consecutive key ranges, and the
        number of documents. Tables are summed a group at a time (:data:`_MERGE_KEYS` keys)
        and each group's sum is added into the running total range by range (:meth:`_add`),
        so a merge holds the total, one new range and one group: measured at a million
        sources, ``bench/merges.py``."""
        ranges: list[DocumentFrequencies] = [cls.empty() for _ in range(_RANGES)]
        documents = 0
        group: list[DocumentFrequencies] = []
        held = 0

        def add(summed: DocumentFrequencies) -> None:
            cuts = np.searchsorted(summed.keys, _RANGE_STARTS)
            for i, (lo, hi) in enumerate(zip(cuts, [*cuts[1:], len(summed)], strict=True)):
                if hi > lo:
                    part = cls(summed.keys[lo:hi], summed.counts[lo:hi], 0)
                    ranges[i] = cls._add(ranges[i], part)

        for table in tables:
            group.append(table)
            documents += table.documents
            held += len(table)
            if held >= _MERGE_KEYS:
                add(cls._sum(group))
                group, held = [], 0
        if group:
            add(cls._sum(group))
        return ranges, documents

    @classmethod
    def _add(cls, total: DocumentFrequencies, other: DocumentFrequencies) -> DocumentFrequencies:
        """``total + other`` (keys only; documents are counted by the caller): ``other``'s
        counts added where ``total`` has the key, its other keys inserted in order."""
        if not len(total):
            return other  # a view of the group's sum: no copy of a large first table
        at = np.searchsorted(total.keys, other.keys)
        held = at < len(total.keys)
        held[held] = total.keys[at[held]] == other.keys[held]
        counts = total.counts.copy()
        counts[at[held]] += other.counts[held]  # ``at`` is distinct where held: keys are
        new = ~held
        keys = np.insert(total.keys, at[new], other.keys[new])
        counts = np.insert(counts, at[new], other.counts[new])
        return cls(keys, counts, 0)

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

    def without_singletons(self) -> DocumentFrequencies:
        """The table without the keys one document holds (most of a large corpus's word
        pairs): for :meth:`lookup` they become unseen keys, and every weight here counts an
        unseen key as held by one document, so the weights do not change. Summing such a
        table with another would undercount: only for judging, never stored."""
        common = self.counts > 1
        return DocumentFrequencies(self.keys[common], self.counts[common], self.documents)

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: U32) -> U32:
        """How many documents hold each key (0 for a key never seen)."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.uint32)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.counts[at], 0).astype(np.uint32)

    def token_weights(self, words: Sequence[str]) -> F64:
        """Per word: ``1 / sqrt(df)`` of the rarer bigram it belongs to (a lone word: its own),
        ``df`` counted per :data:`RATE_BASE` documents once there are more (see the module)."""
        n = len(words)
        if n == 0:
            return np.empty(0, dtype=np.float64)
        if n == 1:
            df = self.lookup(word_keys(words)).astype(np.float64)
        else:
            pair = np.maximum(self.lookup(bigram_keys(words)), 1).astype(np.float64)
            df = np.minimum(np.append(pair, np.inf), np.insert(pair, 0, np.inf))
        per_base = df * min(1.0, RATE_BASE / max(self.documents, 1))
        out: F64 = 1.0 / np.sqrt(np.maximum(per_base, 1.0))
        return out

    def idf(self, words: Sequence[str]) -> F64:
        """Per word: ``log(N / df)``, with a word no source holds counted as held by one."""
        df = np.maximum(self.lookup(word_keys(words)), 1).astype(np.float64)
        out: F64 = np.log(max(self.documents, 1) / df).clip(min=0.0)
        return out

    def to_bytes(self) -> bytes:
        """The table as bytes: a header, then the keys and the counts (little-endian)."""
        parts = [np.ascontiguousarray(a, dtype="<u4").data for a in (self.keys, self.counts)]
        return _serialised(self.documents, len(self.keys), parts)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> DocumentFrequencies:
        """Inverse of :meth:`to_bytes` (views over ``data``, no copy, for the current version);
        :class:`ValueError` if it is not such a table."""
        if len(data) < _HEADER.size:
            raise ValueError("not a document-frequency table (too short)")
        magic, version, documents, n, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC or version not in _PAYLOAD_AT:
            raise ValueError(f"not a version-{_VERSION} document-frequency table")
        at = _PAYLOAD_AT[version]
        if len(data) != at + 8 * n:
            raise ValueError(f"document-frequency table is {len(data)} bytes, not {at + 8 * n}")
        if zlib.crc32(memoryview(data)[at:]) != crc:
            raise ValueError("document-frequency table is corrupt (CRC-32 mismatch)")
        keys = np.frombuffer(data, dtype="<u4", count=n, offset=at)
        counts = np.frombuffer(data, dtype="<u4", count=n, offset=at + 4 * n)
        copy = version == 1  # unaligned: copied once here, not at every search
        return cls(
            keys.astype(np.uint32, copy=copy), counts.astype(np.uint32, copy=copy), documents
        )


def _serialised(documents: int, keys: int, parts: Sequence[memoryview]) -> bytes:
    """A stored table of ``keys`` keys: the header, then ``parts`` (the keys, then the counts,
    little-endian, in as many pieces as they come), joined in one copy however large."""
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    header = _HEADER.pack(_MAGIC, _VERSION, documents, keys, crc)
    return b"".join([header.ljust(_PAYLOAD_AT[_VERSION], b"\0"), *parts])
