"""The datasketch LSH Ensemble retriever: the reference peer for the containment index.

The match stage uses :mod:`spintrace.matcher.index`; this in-memory retriever over datasketch
signatures is kept as the baseline that ``bench/index.py`` measures it against.

Retrieval is containment-oriented (datasketch's LSH Ensemble): a page that copies a third of a
long article has a tiny Jaccard similarity with it, and a Jaccard-threshold LSH would miss it.
Candidates come back ranked by their estimated containment, for verification by alignment.
"""

from __future__ import annotations

from collections.abc import Iterable

from datasketch import MinHashLSHEnsemble

from spintrace.matcher.signatures import Signature

__all__ = ["CandidateIndex"]


class CandidateIndex:
    """An in-memory index of source signatures, queried with page signatures.

    :param entries: ``(key, signature)`` pairs; keys are the caller's (e.g. document ids).
    :param threshold: lowest estimated containment of the page in a source to propose it.
    """

    def __init__(self, entries: Iterable[tuple[int, Signature]], *, threshold: float = 0.1) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self._signatures: dict[int, Signature] = {}
        for key, sig in entries:
            if sig.size > 0:
                self._signatures[key] = sig
        self._ensemble: MinHashLSHEnsemble | None = None
        if self._signatures:
            first = next(iter(self._signatures.values()))
            self._params = (first.num_perm, first.seed)
            if any((s.num_perm, s.seed) != self._params for s in self._signatures.values()):
                raise ValueError("all signatures in one index need the same num_perm and seed")
            self._ensemble = MinHashLSHEnsemble(
                threshold=threshold, num_perm=first.num_perm, num_part=16
            )
            self._ensemble.index(
                (key, sig.to_minhash(), sig.size) for key, sig in self._signatures.items()
            )

    def __len__(self) -> int:
        return len(self._signatures)

    def query(self, page: Signature, limit: int | None = None) -> list[tuple[int, float]]:
        """Sources that may contain ``page``: ``(key, estimated containment)``, best first."""
        if self._ensemble is None or page.size == 0:
            return []
        if (page.num_perm, page.seed) != self._params:
            raise ValueError("the page signature's num_perm or seed differs from the index's")
        keys = self._ensemble.query(page.to_minhash(), page.size)
        ranked = sorted(
            ((key, page.containment_in(self._signatures[key])) for key in keys),
            key=lambda pair: (-pair[1], pair[0]),
        )
        return ranked if limit is None else ranked[:limit]
