"""Baselines that benches and tests measure spintrace against (not shipped in the package).

- :func:`sign` / :class:`Signature`: MinHash signatures computed by datasketch itself, the
  reference that :mod:`spintrace.matcher.minhash` must reproduce value for value;
- :class:`CandidateIndex`: datasketch's LSH Ensemble over such signatures, the peer of the
  containment index (``bench/index.py``).

Retrieval is containment-oriented (datasketch's LSH Ensemble): a page that copies a third of a
long article has a tiny Jaccard similarity with it, and a Jaccard-threshold LSH would miss it.
Candidates come back ranked by their estimated containment, for verification by alignment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSHEnsemble

from spintrace.matcher.minhash import SCHEME

__all__ = ["CandidateIndex", "Signature", "sign"]

_DTYPE = np.dtype("<u4")


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[npt.NDArray[np.uint32], ...]:
    # datasketch draws the permutations from the seed on every MinHash(); doing it once per
    # (num_perm, seed) makes signing several times faster and gives the same values.
    perms: tuple[npt.NDArray[np.uint32], ...] = MinHash(
        num_perm=num_perm, seed=seed, scheme=SCHEME
    ).permutations
    return perms


@dataclass(frozen=True, eq=False)
class Signature:
    """A MinHash signature: ``hashvalues`` of a set of ``size`` features."""

    hashvalues: npt.NDArray[np.uint32]
    size: int
    num_perm: int
    seed: int

    def __post_init__(self) -> None:
        if self.hashvalues.shape != (self.num_perm,):
            raise ValueError(
                f"a signature with num_perm={self.num_perm} needs {self.num_perm} hash values, "
                f"got shape {self.hashvalues.shape}"
            )

    def to_bytes(self) -> bytes:
        """The hash values as little-endian unsigned 32-bit integers."""
        return self.hashvalues.astype(_DTYPE, copy=False).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, size: int, num_perm: int, seed: int) -> Signature:
        """Inverse of :meth:`to_bytes`; the parameters are stored beside the bytes."""
        if len(data) != num_perm * _DTYPE.itemsize:
            raise ValueError(
                f"{len(data)} bytes cannot hold {num_perm} little-endian uint32 hash values"
            )
        values = np.frombuffer(data, dtype=_DTYPE).astype(np.uint32)
        return cls(values, size, num_perm, seed)

    def to_minhash(self) -> MinHash:
        """The same signature as a datasketch ``MinHash``."""
        return MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            scheme=SCHEME,
            hashvalues=self.hashvalues,
            permutations=_permutations(self.num_perm, self.seed),
        )

    def jaccard(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two feature sets."""
        if (self.num_perm, self.seed) != (other.num_perm, other.seed):
            raise ValueError("signatures with different num_perm or seed cannot be compared")
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / self.num_perm

    def containment_in(self, other: Signature) -> float:
        """Estimated share of this set's features that are also in ``other``'s set."""
        if self.size == 0:
            return 0.0
        j = self.jaccard(other)
        # |A n B| = J (|A| + |B|) / (1 + J)
        return min(1.0, j * (self.size + other.size) / ((1.0 + j) * self.size))


def sign(features: Iterable[str], *, num_perm: int = 128, seed: int = 1) -> Signature:
    """The MinHash signature of a set of string features (UTF-8 encoded, as datasketch does)."""
    unique = {f.encode("utf-8") for f in features}
    minhash = MinHash(
        num_perm=num_perm, seed=seed, scheme=SCHEME, permutations=_permutations(num_perm, seed)
    )
    if unique:
        minhash.update_batch(list(unique))
    return Signature(minhash.hashvalues.astype(np.uint32), len(unique), num_perm, seed)


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
