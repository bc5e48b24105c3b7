"""Immutable segments of the containment index: an inverted index of sampled source features.

A segment is an inverted index of ``(hash, source ordinal)`` postings sorted by hash; above 2**17
postings the top 16 hash bits index an offset table and only the low 16 are stored. A posting
takes 4 to 8 bytes (6 in a segment of over 65,536 sources). Segments are immutable and serialise
to bytes (little-endian, with a versioned header holding the parameters). What a source stores
(its :class:`Sketch`) and how it is sampled are described in :mod:`spintrace.matcher.index`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "FEATURE_VERSION",
    "FORMAT_VERSION",
    "LEAD_TOKENS",
    "IndexParams",
    "Segment",
    "Sketch",
]

U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
UInt = U16 | U32
I64 = npt.NDArray[np.int64]
FORMAT_VERSION = 1
FEATURE_VERSION = 2  # bump when features.py / hashing.py change what a feature hash is
_MAGIC = b"SPIX"
# magic, format, feature version, header size, prefix bits, skeleton boost, lead tokens, body k,
# sources, postings, CRC-32 of the payload; zero-padded to 64 bytes.
_HEADER = struct.Struct("<4sHHHBBHHIQI")
_HEADER_SIZE = 64
_32 = np.uint64(32)
LEAD_TOKENS = 24
# A merge of more postings than this goes a range of hash buckets at a time, in this many
# ranges (see :meth:`Segment.merge`).
_MERGE_BY_SORT = 1 << 22
_MERGE_SLICES = 64


class Sketch(NamedTuple):
    """What a source stores: sorted feature hashes, and the highest body rank sampled."""

    hashes: U32
    tau: int


@dataclass(frozen=True)
class IndexParams:
    """Sketch parameters; stored in every segment header, and equal across an index."""

    lead_tokens: int = LEAD_TOKENS
    body_k: int = 48
    skeleton_boost: int = 3

    def __post_init__(self) -> None:
        if not (0 <= self.lead_tokens < 1 << 16 and 0 < self.body_k < 1 << 16):
            raise ValueError(f"lead_tokens and body_k must fit in uint16: {self}")
        if not 0 <= self.skeleton_boost < 32:
            raise ValueError(f"skeleton_boost must be in [0, 32): {self}")


def _bsearch(a: UInt, lo: I64, hi: I64, key: UInt, steps: int, right: bool) -> I64:
    """Vectorised binary search of each ``key`` in its sorted slice ``a[lo:hi]``."""
    last = max(len(a) - 1, 0)
    for _ in range(steps):
        active = lo < hi
        mid = (lo + hi) >> 1
        value = a[np.minimum(mid, last)]
        go = active & ((value <= key) if right else (value < key))
        lo = np.where(go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)
    return lo


def _layout(bits: int, sources: int, postings: int) -> list[tuple[str, str, int]]:
    """Serialised arrays: name, little-endian dtype, length; widest first, so all aligned."""
    arrays = [
        ("keys", "<i8", sources),  # the caller's source keys, by ordinal
        ("offsets", "<u4", (1 << bits) + 1),  # posting ranges of the top-``bits`` buckets
        ("ids", "<u2" if sources <= 1 << 16 else "<u4", postings),  # source ordinals
        ("low", "<u2" if bits == 16 else "<u4", postings),  # the rest of each posting's hash
        ("tau16", "<u2", sources),  # top 16 bits of each source's tau
    ]
    return sorted(arrays, key=lambda a: -np.dtype(a[1]).itemsize)


class Segment:
    """An immutable inverted index of source sketches (make one with :meth:`build`)."""

    def __init__(
        self, params: IndexParams, keys: I64, tau16: U16, offsets: U32, low: UInt, ids: UInt
    ) -> None:
        self.params, self.keys, self.tau16 = params, keys, tau16
        self.offsets, self.low, self.ids = offsets, low, ids
        for array in (keys, tau16, offsets, low, ids):
            array.flags.writeable = False
        self.prefix_bits = (len(offsets) - 1).bit_length() - 1
        self._steps = int(np.diff(offsets).max()).bit_length() if len(low) else 0

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Bytes of all index structures (as serialised, header included)."""
        arrays = (self.keys, self.tau16, self.offsets, self.low, self.ids)
        return _HEADER_SIZE + sum(a.nbytes for a in arrays)

    @classmethod
    def build(
        cls, entries: Iterable[tuple[int, Sketch]], params: IndexParams | None = None
    ) -> Segment:
        """A segment of ``(key, sketch)`` entries; keys must be distinct."""
        keys: list[int] = []
        taus: list[int] = []
        parts: list[U64] = []
        for ordinal, (key, entry) in enumerate(entries):
            keys.append(key)
            taus.append(entry.tau >> 16)
            parts.append((entry.hashes.astype(np.uint64) << _32) | np.uint64(ordinal))
        if len(set(keys)) != len(keys):
            raise ValueError("a segment cannot hold the same key twice")
        combined = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        combined.sort()
        return cls._from_postings(
            params or IndexParams(), np.array(keys, np.int64), np.array(taus, np.uint16), combined
        )

    @classmethod
    def _from_postings(cls, params: IndexParams, keys: I64, tau16: U16, combined: U64) -> Segment:
        # Buckets by the top 16 hash bits pay for their offset table above 2**17 postings.
        bits = 16 if len(combined) > 1 << 17 else 0
        hashes = (combined >> _32).astype(np.uint32)
        top = hashes >> np.uint32(16) if bits else np.zeros(len(hashes), dtype=np.uint32)
        offsets = np.zeros((1 << bits) + 1, dtype=np.uint32)
        np.cumsum(np.bincount(top, minlength=1 << bits), out=offsets[1:])
        low: UInt = (hashes & np.uint32(0xFFFF)).astype(np.uint16) if bits else hashes
        ordinals = combined & np.uint64(0xFFFF_FFFF)
        ids: UInt = (
            ordinals.astype(np.uint16) if len(keys) <= 1 << 16 else ordinals.astype(np.uint32)
        )
        return cls(params, keys, tau16, offsets, low, ids)

    def _postings(self) -> U64:
        """The sorted ``hash << 32 | ordinal`` postings."""
        high = np.repeat(np.arange(len(self.offsets) - 1, dtype=np.uint64), np.diff(self.offsets))
        full = (high << np.uint64(32 - self.prefix_bits)) | self.low.astype(np.uint64)
        return (full << _32) | self.ids.astype(np.uint64)

    @classmethod
    def merge(
        cls, segments: Sequence[Segment], live: Sequence[npt.NDArray[np.bool_]] | None = None
    ) -> Segment:
        """One segment holding the (``live``) sources of ``segments``, in order.

        Past :data:`_MERGE_BY_SORT` postings they are merged a range of hash buckets at a time
        (:data:`_MERGE_SLICES` ranges) into arrays allocated once, so memory follows the merged
        segment (6 bytes a posting) plus one range, not the 30-odd bytes a posting that one
        sort of every posting takes (about 2 GB for a million sources).
        """
        if not segments:
            return cls.build([])
        params = segments[0].params
        if any(s.params != params for s in segments):
            raise ValueError("segments with different parameters cannot be merged")
        keeps = [
            np.ones(len(s), np.bool_) if live is None else live[i] for i, s in enumerate(segments)
        ]
        bases = np.cumsum([0, *(int(k.sum()) for k in keeps)])
        renumbers = [
            (np.cumsum(keep, dtype=np.int64) - 1 + base).astype(np.uint64)
            for keep, base in zip(keeps, bases[:-1], strict=True)
        ]
        keys = np.concatenate([s.keys[k] for s, k in zip(segments, keeps, strict=True)])
        taus = np.concatenate([s.tau16[k] for s, k in zip(segments, keeps, strict=True)])
        postings = sum(int(k[s.ids].sum()) for s, k in zip(segments, keeps, strict=True))
        if postings <= max(_MERGE_BY_SORT, 1 << 17):  # (bucketed above 2**17 postings)
            parts = [
                s._renumbered(s._postings(), keep, renumber)
                for s, keep, renumber in zip(segments, keeps, renumbers, strict=True)
            ]
            combined = np.sort(np.concatenate(parts), kind="stable")  # a merge of sorted runs
            return cls._from_postings(params, keys, taus, combined)
        wide = len(keys) > 1 << 16
        offsets = np.zeros((1 << 16) + 1, dtype=np.uint32)
        low = np.empty(postings, dtype=np.uint16)
        ids: UInt = np.empty(postings, dtype=np.uint32) if wide else np.empty(postings, np.uint16)
        done = 0
        step = (1 << 16) // _MERGE_SLICES
        for first in range(0, 1 << 16, step):
            parts = [
                s._renumbered(s._bucket_postings(first, first + step), keep, renumber)
                for s, keep, renumber in zip(segments, keeps, renumbers, strict=True)
            ]
            combined = np.sort(np.concatenate(parts))
            hashes = (combined >> _32).astype(np.uint32)
            top = (hashes >> np.uint32(16)).astype(np.intp) - first
            offsets[first + 1 : first + step + 1] = done + np.cumsum(
                np.bincount(top, minlength=step)
            )
            end = done + len(combined)
            low[done:end] = hashes & np.uint32(0xFFFF)
            ids[done:end] = combined & np.uint64(0xFFFF_FFFF)
            done = end
        return cls(params, keys, taus, offsets, low, ids)

    def _renumbered(self, postings: U64, keep: npt.NDArray[np.bool_], renumber: U64) -> U64:
        """``postings`` of kept sources, with their ordinals in the merged segment."""
        ordinal = (postings & np.uint64(0xFFFF_FFFF)).astype(np.intp)
        kept = keep[ordinal]
        out: U64 = (postings[kept] >> _32 << _32) | renumber[ordinal[kept]]
        return out

    def _bucket_postings(self, first: int, last: int) -> U64:
        """The sorted ``hash << 32 | ordinal`` postings whose top 16 hash bits are in
        ``[first, last)``."""
        if self.prefix_bits == 16:
            lo, hi = int(self.offsets[first]), int(self.offsets[last])
            counts = np.diff(self.offsets[first : last + 1])
            high = np.repeat(np.arange(first, last, dtype=np.uint64), counts)
            full = (high << np.uint64(16)) | self.low[lo:hi].astype(np.uint64)
            return (full << _32) | self.ids[lo:hi].astype(np.uint64)
        lo, hi = np.searchsorted(self.low, [first << 16, last << 16])
        full = self.low[lo:hi].astype(np.uint64)
        return (full << _32) | self.ids[lo:hi].astype(np.uint64)

    def to_bytes(self) -> bytes:
        """The segment as bytes: a 64-byte little-endian header, then the arrays."""
        layout = _layout(self.prefix_bits, len(self.keys), len(self.low))
        little = (getattr(self, name).astype(dtype, copy=False) for name, dtype, _ in layout)
        parts = [np.ascontiguousarray(a).view(np.uint8).data for a in little]
        crc = 0
        for part in parts:
            crc = zlib.crc32(part, crc)
        p = self.params
        header = _HEADER.pack(
            *(_MAGIC, FORMAT_VERSION, FEATURE_VERSION, _HEADER_SIZE, self.prefix_bits),
            *(p.skeleton_boost, p.lead_tokens, p.body_k, len(self.keys), len(self.low), crc),
        )
        return b"".join([header.ljust(_HEADER_SIZE, b"\0"), *parts])

    @classmethod
    def from_bytes(cls, data: bytes) -> Segment:
        """Inverse of :meth:`to_bytes` (zero-copy views over ``data``); checks the header."""
        if len(data) < _HEADER_SIZE or data[:4] != _MAGIC:
            raise ValueError("not a spintrace index segment (bad magic or too short)")
        _, version, features, header, bits, boost, lead, k, m, n, crc = _HEADER.unpack_from(data)
        if (version, features, header) != (FORMAT_VERSION, FEATURE_VERSION, _HEADER_SIZE):
            raise ValueError(
                f"index segment format {version} (feature version {features}, header {header} "
                f"bytes) is not the supported format {FORMAT_VERSION} (feature version "
                f"{FEATURE_VERSION}, header {_HEADER_SIZE} bytes): rebuild the index"
            )
        if bits not in (0, 16):
            raise ValueError(f"index segment prefix bits must be 0 or 16, not {bits}")
        layout = _layout(bits, m, n)
        size = _HEADER_SIZE + sum(np.dtype(t).itemsize * count for _, t, count in layout)
        if len(data) != size:
            raise ValueError(f"index segment is {len(data)} bytes, its header says {size}")
        if zlib.crc32(memoryview(data)[_HEADER_SIZE:]) != crc:
            raise ValueError("index segment payload is corrupt (CRC-32 mismatch)")
        arrays, offset = {}, _HEADER_SIZE
        for name, dtype, count in layout:
            arrays[name] = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += np.dtype(dtype).itemsize * count
        return cls(IndexParams(lead, k, boost), **arrays)

    def lookup(self, hashes: U32) -> tuple[I64, I64]:
        """For each hash, the start and the number of its postings."""
        bits = self.prefix_bits
        bucket = (hashes >> np.uint32(32 - bits)).astype(np.intp) if bits else 0
        key = (hashes & np.uint32(0xFFFF)).astype(np.uint16) if bits else hashes
        lo = np.broadcast_to(self.offsets[bucket], hashes.shape).astype(np.int64)
        hi = np.broadcast_to(self.offsets[np.add(bucket, 1)], hashes.shape).astype(np.int64)
        start = _bsearch(self.low, lo, hi, key, self._steps, right=False)
        end = _bsearch(self.low, start, hi, key, self._steps, right=True)
        return start, end - start
