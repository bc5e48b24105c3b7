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
The share of a source's stored sample that the page's features hit estimates the other
direction, how much of the source the page holds (coverage); :meth:`ContainmentIndex.candidates`
takes the best by each estimate.

Sources are stored in immutable segments (:mod:`spintrace.matcher.segment`). A
:class:`ContainmentIndex` is an immutable tuple of segments: ``add`` returns a new index with one
more segment, ``merged`` compacts them into one, and a key added again replaces its older entry.
Queries skip the most common keys (:class:`QueryOptions`), so their cost stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from spintrace.matcher.features import STOPWORDS, skeleton_mask
from spintrace.matcher.hashing import CONTENT_SALT, SKELETON_SALT, shingle_hashes, token_hashes
from spintrace.matcher.segment import (
    FEATURE_VERSION,
    FORMAT_VERSION,
    LEAD_TOKENS,
    IndexParams,
    Segment,
    Sketch,
)
from spintrace.matcher.tokens import Token

__all__ = [
    "FEATURE_VERSION",
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

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
_EMPTY: U32 = np.empty(0, dtype=np.uint32)
_MAX_RANK = 0xFFFF_FFFF  # the tau of a source whose every feature is stored
_COUNT_SLICE = 1 << 22  # postings counted at once when a segment's sample sizes are counted


class Features(NamedTuple):
    """Sorted distinct feature hashes of a text: content and skeleton shingles, and its lead."""

    content: U32
    skeleton: U32
    lead: U32  # the content and skeleton shingles that start in the first ``lead_tokens`` tokens


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
    # One pass for the skeleton (what skeleton_tokens keeps, as a mask): also how much of it
    # lies in the lead.
    mask = skeleton_mask(
        words,
        [t.start for t in tokens],
        [t.end for t in tokens],
        [t.capitalised for t in tokens],
        text,
    )
    skeleton = token_hashes([w for w, keep_it in zip(words, mask, strict=True) if keep_it])
    lead = _EMPTY
    if lead_tokens and words:
        in_lead = sum(mask[:lead_tokens])
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
        # An entry is live unless a later segment holds its key: the last of each key wins. One
        # sort of every key (a union per segment was quadratic: about a minute for the
        # thousand batch segments of a million sources, bench/merges.py).
        keys = np.concatenate([seg.keys for seg in self.segments] or [np.empty(0, np.int64)])
        _, last = np.unique(keys[::-1], return_index=True)
        live = np.zeros(len(keys), dtype=np.bool_)
        live[len(keys) - 1 - last] = True
        bounds = np.cumsum([len(seg) for seg in self.segments])[:-1]
        self._live: list[npt.NDArray[np.bool_]] = (
            list(np.split(live, bounds)) if self.segments else []
        )
        self._size = len(last)
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
        self, page: Features, limit: int = 10, floor: float = 0.08
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
            counts = np.zeros(len(seg), dtype=np.int64)
            # A slice at a time: the ordinals as one intp array were 8 bytes a posting (560 MB
            # at a million sources, the largest transient of a matching worker: bench/memory.py).
            for start in range(0, len(seg.ids), _COUNT_SLICE):
                part = seg.ids[start : start + _COUNT_SLICE].astype(np.intp)
                counts += np.bincount(part, minlength=len(seg))
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
