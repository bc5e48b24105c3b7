"""MinHash LSH band keys: near-duplicate candidates found by equality, so a database index finds
them (the band table), not a structure held in memory.

A signature of ``bands * rows`` MinHash values is cut into ``bands`` bands of ``rows`` values; two
documents are candidates when any band is equal. With Jaccard similarity ``s``, the chance is
``1 - (1 - s**rows) ** bands`` (:func:`candidate_probability`); the threshold where it rises
steepest is about ``(1 / bands) ** (1 / rows)``. Each band is reduced to one signed 64-bit key
(what a ``BIGINT`` column holds) by multiplying its values with fixed odd constants, summing and
mixing (a 64-bit finaliser), vectorised over many signatures at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Banding", "band_keys", "candidate_probability", "jaccard"]

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

# Odd 64-bit multipliers (from splitmix64's golden ratio sequence), one per row of a band.
_MULTIPLIERS = np.array(
    [(0x9E3779B97F4A7C15 * (2 * i + 1)) & 0xFFFF_FFFF_FFFF_FFFF for i in range(64)],
    dtype=np.uint64,
)


@dataclass(frozen=True)
class Banding:
    """How a signature is cut: ``bands`` bands of ``rows`` values (``bands * rows`` values)."""

    bands: int
    rows: int

    def __post_init__(self) -> None:
        if not (0 < self.bands <= 1024 and 0 < self.rows <= len(_MULTIPLIERS)):
            raise ValueError(f"bands must be in 1..1024 and rows in 1..64: {self}")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """The similarity where the candidate probability rises steepest (approximately)."""
        return float((1.0 / self.bands) ** (1.0 / self.rows))


def _mix64(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser, element-wise."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> np.uint64(33))
        h = h * np.uint64(0xC4CEB9FE1A85EC53)
        out: npt.NDArray[np.uint64] = h ^ (h >> np.uint64(33))
    return out


def band_keys(signatures: U32, banding: Banding) -> I64:
    """``(documents, bands)`` signed 64-bit keys of ``(documents, num_perm)`` signatures (the
    first ``bands * rows`` values are used; a 1-d signature is one document)."""
    values = np.atleast_2d(np.asarray(signatures, dtype=np.uint32))
    if values.shape[1] < banding.num_perm:
        raise ValueError(f"{banding} needs {banding.num_perm} values, not {values.shape[1]}")
    cut = values[:, : banding.num_perm].astype(np.uint64)
    cut = cut.reshape(len(values), banding.bands, banding.rows)
    with np.errstate(over="ignore"):
        summed = (cut * _MULTIPLIERS[: banding.rows]).sum(axis=2, dtype=np.uint64)
        band = np.arange(banding.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        keys = _mix64(summed ^ band)
    out: I64 = keys.view(np.int64)
    return out


def candidate_probability(similarity: float, banding: Banding) -> float:
    """The chance that two documents of Jaccard ``similarity`` share a band."""
    return float(1.0 - (1.0 - similarity**banding.rows) ** banding.bands)


def jaccard(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """The exact Jaccard similarity of two sets of feature hashes (0 for two empty sets)."""
    left, right = np.unique(np.asarray(a)), np.unique(np.asarray(b))
    union = len(np.union1d(left, right))
    return len(np.intersect1d(left, right, assume_unique=True)) / union if union else 0.0
