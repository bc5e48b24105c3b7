"""A compact, containment-oriented candidate index over sampled shingles, in immutable segments.

Each source is reduced to a *sketch*: every feature of its lead (the content and skeleton
shingles that start in its first ``lead_tokens`` tokens, so a short copy of an opening sentence
finds it) plus a consistent bottom-k sample of the others. A feature's rank is its hash; for
skeleton features (names, numbers: what a spinner leaves alone) hash >> ``skeleton_boost``, so
they are sampled more often. With tau the source's ``body_k``-th smallest body rank, every source
feature ranked <= tau is stored, so a page's features ranked <= tau, plus its hits ranked above
tau (lead hits), are the ones that could have hit. Their share that did estimates how much of
the page the source contains (containment, not Jaccard: a third of a long article scores like a
whole one). Features are weighted by rarity, 1 / log2(2 + postings), and the estimate is shrunk
towards 0 by a pseudo-count ``alpha``: score = hits / (could-have-hit + alpha), both weighted.

A segment is an inverted index of ``(hash, source ordinal)`` postings sorted by hash; above 2**17
postings the top 16 hash bits index an offset table and only the low 16 are stored. A posting
takes 4 to 8 bytes (6 in a segment of over 65,536 sources). Segments are immutable and serialise
to bytes (little-endian, with a versioned header holding the parameters). A
:class:`ContainmentIndex` is an immutable tuple of segments: ``add`` returns a new index with one
more segment, ``merged`` compacts them into one, and a key added again replaces its older entry.
Queries skip the most common keys (:class:`QueryOptions`), so their cost stays bounded.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from spintrace.matcher.features import STOPWORDS, skeleton_tokens
from spintrace.matcher.hashing import CONTENT_SALT, SKELETON_SALT, shingle_hashes, token_hashes
from spintrace.matcher.tokens import Token

__all__ = [
    "FORMAT_VERSION",
    "ContainmentIndex",
    "Features",
    "IndexParams",
    "QueryOptions",
    "Segment",
    "Sketch",
    "sketch",
    "text_features",
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
_MAX_RANK = 0xFFFF_FFFF
LEAD_TOKENS = 24
_EMPTY: U32 = np.empty(0, dtype=np.uint32)


class Features(NamedTuple):
    """Sorted distinct feature hashes of a text: content and skeleton shingles, and its lead."""

    content: U32
    skeleton: U32
    lead: U32  # the content and skeleton shingles that start in the first ``lead_tokens`` tokens


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


def text_features(
    tokens: Sequence[Token], text: str, *, lead_tokens: int = LEAD_TOKENS
) -> Features:
    """Content 2-shingles (stopword-only ones dropped), skeleton 2-shingles, and the lead.

    A page's lead is not used (``lead_tokens=0`` skips it); a source's needs the index's
    ``params.lead_tokens``.
    """
    words = [t.norm for t in tokens]
    hashes = token_hashes(words)
    stop = np.fromiter((w in STOPWORDS for w in words), dtype=np.bool_, count=len(words))
    keep = ~(stop[:-1] & stop[1:]) if len(words) > 1 else ~stop
    skeleton = token_hashes(skeleton_tokens(tokens, text))
    lead = _EMPTY
    if lead_tokens and words:
        in_lead = len(skeleton_tokens(tokens[:lead_tokens], text))
        lead_content = shingle_hashes(
            hashes[: lead_tokens + 1], 2, CONTENT_SALT, keep[:lead_tokens]
        )
        lead_skeleton = shingle_hashes(skeleton[: in_lead + 1], 2, SKELETON_SALT)
        lead = np.union1d(lead_content, lead_skeleton if in_lead else _EMPTY).astype(np.uint32)
    return Features(
        shingle_hashes(hashes, 2, CONTENT_SALT, keep),
        shingle_hashes(skeleton, 2, SKELETON_SALT),
        lead,
    )


def _ranks(features: Features, boost: int) -> tuple[U32, U32]:
    """Distinct hashes (sorted) and their sampling ranks."""
    hashes = np.concatenate([features.content, features.skeleton])
    ranks = np.concatenate([features.content, features.skeleton >> np.uint32(boost)])
    unique, first = np.unique(hashes, return_index=True)
    return unique.astype(np.uint32), ranks[first].astype(np.uint32)


def sketch(features: Features, params: IndexParams | None = None) -> Sketch:
    """A source's sketch: its lead features and the ``body_k`` lowest-ranked other features."""
    params = params or IndexParams()
    hashes, ranks = _ranks(features, params.skeleton_boost)
    body = ~np.isin(hashes, features.lead, assume_unique=True)
    body_ranks = ranks[body]
    if len(body_ranks) <= params.body_k:
        return Sketch(np.union1d(hashes, features.lead).astype(np.uint32), _MAX_RANK)
    tau = int(np.partition(body_ranks, params.body_k - 1)[params.body_k - 1])
    stored = hashes[~body | (ranks <= tau)]
    return Sketch(np.union1d(stored, features.lead).astype(np.uint32), tau)


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
        """One segment holding the (``live``) sources of ``segments``, in order."""
        if not segments:
            return cls.build([])
        params = segments[0].params
        if any(s.params != params for s in segments):
            raise ValueError("segments with different parameters cannot be merged")
        keys, taus, parts, base = [], [], [], 0
        for i, seg in enumerate(segments):
            keep = np.ones(len(seg), dtype=np.bool_) if live is None else live[i]
            renumber = (np.cumsum(keep, dtype=np.int64) - 1 + base).astype(np.uint64)
            postings = seg._postings()
            ordinal = (postings & np.uint64(0xFFFF_FFFF)).astype(np.intp)
            kept = keep[ordinal]
            parts.append((postings[kept] >> _32 << _32) | renumber[ordinal[kept]])
            keys.append(seg.keys[keep])
            taus.append(seg.tau16[keep])
            base += int(keep.sum())
        combined = np.sort(np.concatenate(parts), kind="stable")  # a merge of sorted runs
        return cls._from_postings(params, np.concatenate(keys), np.concatenate(taus), combined)

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


@dataclass(frozen=True)
class QueryOptions:
    """How queries treat common keys, long pages and thin evidence (not stored).

    :param max_postings: keys with more postings than this (over all segments) are skipped.
    :param posting_budget: at most this many postings are read per query, rarest keys first.
    :param max_features: a longer page is queried with its lowest-ranked ``max_features``.
    :param alpha: shrinkage of the containment estimate (pseudo-count of missed features).
    """

    max_postings: int = 2000
    posting_budget: int = 8000
    max_features: int = 1000
    alpha: float = 4.0


class ContainmentIndex:
    """An immutable set of segments, queried with a page's :class:`Features`.

    :param segments: oldest first; a key in a later segment replaces the same key before it.
    :param params: needed only when there are no segments yet (else the segments' own).
    """

    def __init__(
        self,
        segments: Sequence[Segment] = (),
        *,
        params: IndexParams | None = None,
        options: QueryOptions | None = None,
    ) -> None:
        self.segments = tuple(segments)
        self.params = params or (self.segments[0].params if self.segments else IndexParams())
        if any(s.params != self.params for s in self.segments):
            raise ValueError("all segments of an index need the same parameters")
        self.options = options or QueryOptions()
        self._live: list[npt.NDArray[np.bool_]] = []
        later: I64 = np.empty(0, dtype=np.int64)
        for seg in reversed(self.segments):
            self._live.insert(0, ~np.isin(seg.keys, later))
            later = np.union1d(later, seg.keys)
        self._size = len(later)
        self._stored_counts: list[npt.NDArray[np.float64]] = []

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes of all segments' index structures."""
        return sum(s.nbytes for s in self.segments)

    def _with(self, segments: Sequence[Segment]) -> ContainmentIndex:
        return ContainmentIndex(segments, params=self.params, options=self.options)

    def add(self, entries: Iterable[tuple[int, Sketch]]) -> ContainmentIndex:
        """A new index with ``entries`` in one more segment (this index is unchanged)."""
        segment = Segment.build(entries, self.params)
        return self._with([*self.segments, segment]) if len(segment) else self

    def merged(self) -> ContainmentIndex:
        """The same index compacted into one segment (replaced entries dropped)."""
        return self._with([Segment.merge(self.segments, self._live)] if self.segments else [])

    def query(self, page: Features, limit: int | None = 10) -> list[tuple[int, float]]:
        """Sources that may contain ``page``: ``(key, estimated containment)``, best first."""
        keys, containment, _ = self._estimates(page)
        return _top(keys, containment, limit)

    def candidates(
        self, page: Features, limit: int = 10, floor: float = 0.05
    ) -> list[tuple[int, float, float]]:
        """Sources a page may copy, in either direction: the ``limit`` best by estimated
        containment (the source makes up much of the page) and the ``limit`` best by estimated
        coverage (the page holds much of the source), those with either estimate at least
        ``floor``: ``(key, containment, coverage)``, best containment first."""
        keys, containment, coverage = self._estimates(page)
        ok = (containment >= floor) | (coverage >= floor)
        keys, containment, coverage = keys[ok], containment[ok], coverage[ok]
        chosen = {k for k, _ in _top(keys, containment, limit)}
        chosen |= {k for k, _ in _top(keys, coverage, limit)}
        at = {int(k): i for i, k in enumerate(keys)}
        rows = [(k, float(containment[at[k]]), float(coverage[at[k]])) for k in chosen]
        return sorted(rows, key=lambda r: (-r[1], -r[2], r[0]))

    def _stored(self, i: int) -> npt.NDArray[np.float64]:
        """How many features each source of segment ``i`` stores (its sample's size)."""
        while len(self._stored_counts) <= i:
            seg = self.segments[len(self._stored_counts)]
            counts = np.bincount(seg.ids.astype(np.intp), minlength=len(seg))
            self._stored_counts.append(np.maximum(counts, 1).astype(np.float64))
        return self._stored_counts[i]

    def _estimates(
        self, page: Features
    ) -> tuple[I64, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Every source sharing a feature with ``page``: keys, estimated containment and
        estimated coverage (the share of the source's stored sample the page holds)."""
        opt = self.options
        hashes, ranks = _ranks(page, self.params.skeleton_boost)
        if len(hashes) > opt.max_features:  # a consistent sample of a long page
            keep = np.sort(np.argpartition(ranks, opt.max_features - 1)[: opt.max_features])
            hashes, ranks = hashes[keep], ranks[keep]
        found = [seg.lookup(hashes) for seg in self.segments]
        total = sum((count for _, count in found), np.zeros(len(hashes), dtype=np.int64))
        # Stop features: the most common keys, beyond ``max_postings`` or the posting budget.
        by_count = np.argsort(total, kind="stable")
        usable = np.empty(len(total), dtype=np.bool_)
        usable[by_count] = np.cumsum(total[by_count]) <= opt.posting_budget
        usable &= total <= opt.max_postings
        weight = np.where(usable, 1.0 / np.log2(2.0 + total), 0.0)  # rare features count more
        by_rank = np.argsort(ranks)
        sorted_ranks = ranks[by_rank]
        cum_weight = np.concatenate([[0.0], np.cumsum(weight[by_rank])])
        keys: list[I64] = []
        scores: list[npt.NDArray[np.float64]] = []
        covers: list[npt.NDArray[np.float64]] = []
        for i, (seg, live, (start, count)) in enumerate(
            zip(self.segments, self._live, found, strict=True)
        ):
            take = usable & (count > 0)
            count, start = count[take], start[take]
            n = int(count.sum())
            if n == 0:
                continue
            first = np.repeat(start - np.cumsum(count) + count, count)
            ordinal = seg.ids[first + np.arange(n)]
            rank = np.repeat(ranks[take], count)
            w = np.repeat(weight[take], count)
            found_ids, inverse = np.unique(ordinal, return_inverse=True)
            tau = (seg.tau16[found_ids].astype(np.int64) << 16) | 0xFFFF
            below = rank <= tau[inverse]
            hits_below = np.bincount(inverse, weights=w * below, minlength=len(found_ids))
            hits = np.bincount(inverse, weights=w, minlength=len(found_ids))
            possible = cum_weight[np.searchsorted(sorted_ranks, tau, side="right")]
            score = hits / (possible + hits - hits_below + opt.alpha)
            shared = np.bincount(inverse, minlength=len(found_ids))
            cover = shared / self._stored(i)[found_ids.astype(np.intp)]
            ok = live[found_ids]
            keys.append(seg.keys[found_ids[ok]])
            scores.append(score[ok])
            covers.append(cover[ok])
        if not keys:
            empty = np.empty(0, dtype=np.float64)
            return np.empty(0, dtype=np.int64), empty, empty
        return np.concatenate(keys), np.concatenate(scores), np.concatenate(covers)


def _top(keys: I64, scores: npt.NDArray[np.float64], limit: int | None) -> list[tuple[int, float]]:
    """The ``limit`` best ``(key, score)``, best first, ties by key."""
    if limit is not None and len(scores) > limit:
        # Keep the ``limit`` best, and every key tied with the last of them, before sorting.
        cut = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        near = scores >= cut
        keys, scores = keys[near], scores[near]
    order = np.lexsort((keys, -scores))[:limit]
    return [(int(k), float(s)) for k, s in zip(keys[order], scores[order], strict=True)]
