"""MinHash LSH band keys: equal bands give equal keys, and near-duplicates share a band."""

from __future__ import annotations

import numpy as np
import pytest

from spintrace.matcher.lsh import Banding, band_keys, candidate_probability, jaccard
from spintrace.matcher.minhash import minhash_many


def _sets(seed: int, overlap: float, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.integers(0, 2**32, int(n * overlap), dtype=np.uint64).astype(np.uint32)
    a = np.concatenate([shared, rng.integers(0, 2**32, n - len(shared), dtype=np.uint64)])
    b = np.concatenate([shared, rng.integers(0, 2**32, n - len(shared), dtype=np.uint64)])
    return a.astype(np.uint32), b.astype(np.uint32)


def test_keys_are_per_band_and_stable() -> None:
    banding = Banding(32, 4)
    a, b = _sets(1, 0.9)
    sig = minhash_many([a, b, a], 128)
    keys = band_keys(sig, banding)
    assert keys.shape == (3, 32) and keys.dtype == np.int64
    assert (keys[0] == keys[2]).all()
    # The same values in two different bands give different keys.
    same = np.tile(sig[0, :4], 32)
    assert len(set(band_keys(same, banding)[0].tolist())) == 32


def test_near_duplicates_share_a_band_and_strangers_do_not() -> None:
    banding = Banding(32, 4)
    shared = strangers = 0
    for seed in range(40):
        a, b = _sets(seed, 0.8)  # Jaccard 0.8 / 1.2 = 0.67
        keys = band_keys(minhash_many([a, b], 128), banding)
        shared += bool((keys[0] == keys[1]).any())
        c, d = _sets(1000 + seed, 0.05)
        keys = band_keys(minhash_many([c, d], 128), banding)
        strangers += bool((keys[0] == keys[1]).any())
    assert shared == 40 and strangers == 0
    assert candidate_probability(0.67, banding) > 0.99
    assert candidate_probability(0.03, banding) < 0.001


def test_banding_is_checked() -> None:
    with pytest.raises(ValueError):
        Banding(0, 4)
    with pytest.raises(ValueError):
        band_keys(np.zeros((1, 64), np.uint32), Banding(32, 4))
    assert Banding(16, 8).threshold == pytest.approx(0.707, abs=0.001)


def test_jaccard_is_exact() -> None:
    assert jaccard([1, 2, 3], [2, 3, 4]) == 0.5
    assert jaccard([], []) == 0.0
