"""spintrace.matcher.minhash: bit-equal to datasketch's affine32 MinHash, and a sound estimator."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from spintrace.matcher.hashing import CONTENT_SALT, shingle_hashes, token_hashes
from spintrace.matcher.minhash import (
    _CHUNK_FEATURES,
    _ROWS_MIN_FEATURES,
    EMPTY,
    _rows,
    minhash,
    minhash_many,
    permutations,
    to_datasketch,
)
from spintrace.matcher.tokens import tokenize

U32 = npt.NDArray[np.uint32]
PARAMS = [(1, 0), (16, 1), (128, 1), (128, 42), (200, 7), (256, 2**32 - 1)]

hash_lists = st.lists(st.integers(0, 2**32 - 1), max_size=300)
params = st.sampled_from(PARAMS)


def datasketch_values(hashes: U32 | list[int], num_perm: int, seed: int) -> U32:
    """What datasketch gives for these feature hashes, taken as they are (identity hashfunc)."""
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda x: x)
    m.update_batch(hashes)
    assert m.hashvalues.dtype == np.uint32
    values: U32 = m.hashvalues
    return values


def random_hashes(rng: np.random.Generator, n: int) -> U32:
    values: U32 = rng.integers(0, 2**32, n, dtype=np.uint32)
    return values


@pytest.mark.parametrize(("num_perm", "seed"), PARAMS)
def test_permutations_are_datasketchs(num_perm: int, seed: int) -> None:
    a, b = permutations(num_perm, seed)
    expected = MinHash(num_perm=num_perm, seed=seed).permutations
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, expected[0]) and np.array_equal(b, expected[1])
    assert permutations(num_perm, seed)[0] is a  # cached
    with pytest.raises(ValueError):
        a[0] = 1  # read-only, so the cache cannot be corrupted


@given(hashes=hash_lists, p=params)
@settings(max_examples=150, deadline=None)
def test_bit_equal_to_datasketch(hashes: list[int], p: tuple[int, int]) -> None:
    num_perm, seed = p
    ours = minhash(np.array(hashes, dtype=np.uint32), num_perm, seed)
    assert ours.dtype == np.uint32 and ours.shape == (num_perm,)
    assert np.array_equal(ours, datasketch_values(hashes, num_perm, seed))


@pytest.mark.parametrize(("num_perm", "seed"), PARAMS)
@pytest.mark.parametrize("n", [0, 1, 2, 5_000, _ROWS_MIN_FEATURES - 1, _CHUNK_FEATURES + 3])
def test_bit_equal_to_datasketch_sizes(num_perm: int, seed: int, n: int) -> None:
    """Empty, single-element and large sets, on both routes (matrix and permutation-major)."""
    hashes = random_hashes(np.random.default_rng(n + seed), n)
    expected = datasketch_values(hashes, num_perm, seed)
    assert np.array_equal(minhash(hashes, num_perm, seed), expected)
    assert np.array_equal(minhash_many([hashes], num_perm, seed)[0], expected)


def test_empty_and_extreme_values() -> None:
    assert np.array_equal(minhash(np.empty(0, dtype=np.uint32)), np.full(128, EMPTY))
    extremes = np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32)
    assert np.array_equal(minhash(extremes), datasketch_values(extremes, 128, 1))
    # Duplicates do not change a set's signature.
    assert np.array_equal(minhash(np.repeat(extremes, 3)), minhash(extremes))


def test_real_features_match_datasketch() -> None:
    text = "The quick brown fox jumps over the lazy dog, near the quick brown cat."
    tokens = [t.norm for t in tokenize(text)]
    features = shingle_hashes(token_hashes(tokens), 2, CONTENT_SALT)
    assert np.array_equal(minhash(features), datasketch_values(features, 128, 1))


@given(
    sets=st.lists(hash_lists, max_size=12),
    chunk=st.integers(1, 40),
    p=st.sampled_from([(1, 0), (16, 1), (128, 3)]),
)
@settings(max_examples=150, deadline=None)
def test_minhash_many_equals_per_set(sets: list[list[int]], chunk: int, p: tuple[int, int]) -> None:
    num_perm, seed = p
    arrays = [np.array(s, dtype=np.uint32) for s in sets]
    expected = np.array([minhash(s, num_perm, seed) for s in arrays], dtype=np.uint32)
    expected = expected.reshape(len(arrays), num_perm)
    many = minhash_many(arrays, num_perm, seed)
    assert many.dtype == np.uint32 and many.shape == (len(arrays), num_perm)
    assert many.flags.c_contiguous
    assert np.array_equal(many, expected)
    # The permutation-major route with tiny chunks: sets cut across chunk boundaries.
    nonempty = [s for s in arrays if len(s)]
    if nonempty:
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in nonempty])]).astype(np.intp)
        a, b = permutations(num_perm, seed)
        rows = _rows(np.concatenate(nonempty), offsets, a, b, chunk)
        assert np.array_equal(rows, expected[[i for i, s in enumerate(arrays) if len(s)]])


def test_minhash_many_large_batch_with_empty_sets() -> None:
    """Enough features for the permutation-major route, empty sets first, inside and last."""
    rng = np.random.default_rng(5)
    sizes = [0, 0, 1, 7000, 0, 300, 1, 0, *rng.integers(0, 900, 150).tolist(), 45_000, 0]
    arrays = [random_hashes(rng, int(n)) for n in sizes]
    for num_perm, seed in [(128, 1), (64, 9)]:
        many = minhash_many(arrays, num_perm, seed)
        for row, hashes in zip(many, arrays, strict=True):
            assert np.array_equal(row, datasketch_values(hashes, num_perm, seed))


def test_minhash_many_edge_cases() -> None:
    assert minhash_many([]).shape == (0, 128)
    assert np.array_equal(minhash_many([[], []], num_perm=4), np.full((2, 4), EMPTY))


def test_input_types() -> None:
    values = [3, 2**32 - 1, 0, 12345]
    expected = minhash(np.array(values, dtype=np.uint32))
    for converted in (values, np.array(values, dtype=np.int64), np.array(values, dtype=">u4")):
        assert np.array_equal(minhash(converted), expected)
    strided = np.repeat(np.array(values, dtype=np.uint32), 2)[::2]
    assert np.array_equal(minhash_many([strided])[0], expected)
    with pytest.raises(ValueError):
        minhash(np.array([-1]))
    with pytest.raises(ValueError):
        minhash(np.array([2**32]))
    with pytest.raises(TypeError):
        minhash(np.array([1.5]))
    with pytest.raises(ValueError):
        minhash(np.zeros((2, 2), dtype=np.uint32))
    with pytest.raises(ValueError):
        minhash([1], num_perm=0)


@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_jaccard_estimates_are_unbiased(num_perm: int) -> None:
    """200 pairs with known Jaccard: estimates within binomial error of the truth.

    An estimate is the share of equal values, Binomial(num_perm, J) / num_perm, with standard
    deviation sqrt(J (1 - J) / num_perm) <= 0.5 / sqrt(num_perm); the mean absolute error of a
    normal is sqrt(2 / pi) ~ 0.8 of that. Bounds leave room for ~5 standard errors of the mean.
    """
    rng = np.random.default_rng(num_perm)
    truths, estimates = [], []
    for _ in range(200):
        universe = rng.choice(2**32, size=3000, replace=False).astype(np.uint32)
        shared, only_a, only_b = (int(x) for x in rng.integers(0, 1000, 3))
        shared = max(shared, 1)
        a = np.concatenate([universe[:shared], universe[1000 : 1000 + only_a]])
        b = np.concatenate([universe[:shared], universe[2000 : 2000 + only_b]])
        truths.append(shared / (shared + only_a + only_b))
        sig_a, sig_b = minhash_many([a, b], num_perm, seed=11)
        estimates.append(float(np.mean(sig_a == sig_b)))
    errors = np.array(estimates) - np.array(truths)
    sd = 0.5 / math.sqrt(num_perm)
    assert float(np.mean(np.abs(errors))) < 0.8 * sd * 1.25
    assert abs(float(np.mean(errors))) < 5 * sd / math.sqrt(len(errors))
    assert float(np.max(np.abs(errors))) < 5 * sd


def test_signatures_work_in_datasketchs_lsh() -> None:
    """A stored signature handed to datasketch is found by datasketch's own LSH and has the
    same Jaccard estimate as the MinHash datasketch computes itself."""
    from datasketch import MinHashLSH

    a = np.arange(1_000, 1_400, dtype=np.uint32)
    b = np.arange(1_100, 1_500, dtype=np.uint32)
    theirs_a, theirs_b = (MinHash(num_perm=128, seed=7, hashfunc=lambda x: x) for _ in "ab")
    theirs_a.update_batch([int(x) for x in a])
    theirs_b.update_batch([int(x) for x in b])
    stored = minhash(a, 128, 7).astype("<u4").tobytes()
    ours_a = to_datasketch(np.frombuffer(stored, "<u4"), 7)
    ours_b = to_datasketch(minhash(b, 128, 7), 7)
    assert np.array_equal(ours_a.hashvalues, theirs_a.hashvalues)
    assert ours_a.jaccard(ours_b) == theirs_a.jaccard(theirs_b)
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    lsh.insert("theirs", theirs_a)
    assert lsh.query(ours_a) == ["theirs"]
    with pytest.raises(ValueError):
        ours_a.jaccard(to_datasketch(minhash(a, 128, 8), 8))
