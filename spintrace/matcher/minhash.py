"""Vectorised MinHash, bit-compatible with datasketch's default ``affine32`` scheme.

For the same 32-bit feature hashes, :func:`minhash` gives exactly the hash values of
``datasketch.MinHash(num_perm=n, seed=s, hashfunc=lambda x: x)`` updated with them: each hash is
pre-mixed with MurmurHash3's ``fmix32`` finaliser, permuted with ``a * h + b mod 2**32`` (``a``
odd, ``a`` and ``b`` drawn from ``numpy.random.RandomState(seed)`` as datasketch draws them), and
the signature is the minimum of each permutation over the set; an empty set gives all
``0xFFFFFFFF``.

:func:`minhash_many` signs many sets in one call. It concatenates them and works one permutation
at a time over cache-sized chunks of features, reducing each chunk per set with
``np.minimum.reduceat``: four ufunc calls per (chunk, permutation) instead of per set, and
temporaries bounded by the chunk, not by ``features x num_perm``. On the dev set (1,500 news
articles, 525k features) that takes ~16 ms; a ``(features x num_perm)`` matrix reduced per set
along axis 0 took 200-1,000 ms, ``(permutations x features)`` blocks 19-57 ms (bench/README.md).
Small inputs take the matrix route, which has less fixed overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from spintrace.matcher.hashing import fmix32

__all__ = ["EMPTY", "SCHEME", "minhash", "minhash_many", "permutations", "to_datasketch"]

SCHEME = "affine32"
"""datasketch's name for the hashing these signatures reproduce (stored beside them)."""

U32 = npt.NDArray[np.uint32]

EMPTY = np.uint32(0xFFFF_FFFF)
"""The hash value of every permutation of an empty set (datasketch's initial value)."""

# Features per chunk of the permutation-major route: 64 Ki uint32 = 256 KiB, which stays in L2
# cache across the multiply, add and reduceat passes. Measured on the dev set (525k features):
# 8 Ki 36 ms, 16 Ki 25, 32 Ki 19, 64 Ki 16, 128 Ki 17, 1 Mi 18 (smaller: more ufunc calls).
_CHUNK_FEATURES = 1 << 16
# The matrix route costs ~0.5-1 ns per (feature, permutation) product plus ~15 us per set; the
# permutation-major route ~0.3 ns per product plus ~3 us of ufunc calls per (chunk,
# permutation), which it wins back from ~5,000 features up (measured at num_perm 128; both
# costs scale with num_perm). Below this many features in all, use the matrix.
_ROWS_MIN_FEATURES = 4096
# Products per block of the matrix route: a reused 512 KiB temporary.
_MATRIX_BLOCK = 1 << 17


@lru_cache(maxsize=32)
def permutations(num_perm: int = 128, seed: int = 1) -> tuple[U32, U32]:
    """The ``(a, b)`` parameters of datasketch's ``affine32`` permutations (read-only, cached).

    Equal to ``datasketch.MinHash(num_perm, seed).permutations`` (rows ``a`` and ``b``).
    """
    if num_perm < 1:
        raise ValueError(f"num_perm must be positive, got {num_perm}")
    gen = np.random.RandomState(seed)
    a: U32 = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b: U32 = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _as_u32(hashes: npt.ArrayLike) -> U32:
    """``hashes`` as a 1-D uint32 array; other integer types must hold values in range."""
    arr = np.asarray(hashes)
    if arr.ndim != 1:
        raise ValueError(f"feature hashes must be a 1-D array, got shape {arr.shape}")
    if arr.dtype == np.uint32:
        return arr
    if arr.size == 0:
        return np.empty(0, dtype=np.uint32)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"feature hashes must be unsigned 32-bit integers, got dtype {arr.dtype}")
    if int(arr.min()) < 0 or int(arr.max()) > 0xFFFF_FFFF:
        raise ValueError("feature hashes must lie in [0, 2**32)")
    return arr.astype(np.uint32)


def _matrix(values: U32, a: U32, b: U32) -> U32:
    """Signature of one non-empty set of raw hashes via ``(features, num_perm)`` matrix blocks."""
    mixed = fmix32(values)
    rows = max(1, _MATRIX_BLOCK // len(a))
    buf = np.empty((min(rows, len(mixed)), len(a)), dtype=np.uint32)
    out = np.full(len(a), EMPTY, dtype=np.uint32)
    for lo in range(0, len(mixed), rows):
        block = buf[: min(rows, len(mixed) - lo)]
        np.multiply(mixed[lo : lo + rows, None], a, out=block)
        np.add(block, b, out=block)
        np.minimum(out, block.min(axis=0), out=out)
    return out


def _rows(flat: U32, offsets: npt.NDArray[np.intp], a: U32, b: U32, chunk: int) -> U32:
    """Signatures ``(n_sets, num_perm)`` of non-empty sets ``flat[offsets[i]:offsets[i + 1]]``.

    ``flat`` holds raw (not yet pre-mixed) hashes. Chunks of ``chunk`` features may cut a set in
    two; its partial minima are combined with the running ones, so any chunk size is exact.
    """
    n_sets = len(offsets) - 1
    starts, ends = offsets[:-1], offsets[1:]
    out = np.full((n_sets, len(a)), EMPTY, dtype=np.uint32)
    buf = np.empty(min(chunk, len(flat)), dtype=np.uint32)
    # Each set in a chunk has a feature in it: at most ``chunk`` segments per chunk.
    reduced = np.empty(min(n_sets, chunk), dtype=np.uint32)
    # numpy scalars: a Python int would make numpy < 2 pick a wider result type.
    a_list, b_list = list(a), list(b)
    for lo in range(0, len(flat), chunk):
        hi = min(lo + chunk, len(flat))
        first = int(np.searchsorted(ends, lo, side="right"))
        stop = int(np.searchsorted(starts, hi, side="left"))
        # Non-empty sets, so these segment starts strictly increase: no reduceat surprises.
        segments = np.maximum(starts[first:stop], lo) - lo
        mixed = fmix32(flat[lo:hi])
        values = buf[: hi - lo]
        part = reduced[: stop - first]
        block = out[first:stop]
        for k in range(len(a_list)):
            np.multiply(mixed, a_list[k], out=values)
            np.add(values, b_list[k], out=values)
            np.minimum.reduceat(values, segments, out=part)
            column = block[:, k]
            np.minimum(column, part, out=column)
    return out


def minhash(hashes: npt.ArrayLike, num_perm: int = 128, seed: int = 1) -> U32:
    """The MinHash signature (``num_perm`` uint32 values) of one set of uint32 feature hashes.

    Duplicates do not matter (a set's minimum ignores them); an empty set gives all
    :data:`EMPTY`. Same values as datasketch's ``MinHash(num_perm, seed, hashfunc=identity)``.
    """
    values = _as_u32(hashes)
    a, b = permutations(num_perm, seed)
    if len(values) == 0:
        return np.full(num_perm, EMPTY, dtype=np.uint32)
    if len(values) < _ROWS_MIN_FEATURES:
        return _matrix(values, a, b)
    offsets = np.array([0, len(values)], dtype=np.intp)
    signature: U32 = _rows(values, offsets, a, b, _CHUNK_FEATURES)[0]
    return signature


def minhash_many(sets: Sequence[npt.ArrayLike], num_perm: int = 128, seed: int = 1) -> U32:
    """MinHash signatures of many sets at once: row ``i`` is ``minhash(sets[i], num_perm, seed)``.

    Returns a C-contiguous ``(len(sets), num_perm)`` uint32 array. Memory: the concatenated
    input, the output (twice when some sets are empty) and temporaries of about 2 MiB, whatever
    the number and size of the sets.
    """
    arrays = [_as_u32(s) for s in sets]
    a, b = permutations(num_perm, seed)
    lengths = np.fromiter((len(s) for s in arrays), dtype=np.intp, count=len(arrays))
    nonempty = np.flatnonzero(lengths)
    if int(lengths.sum()) < _ROWS_MIN_FEATURES:
        result = np.full((len(arrays), num_perm), EMPTY, dtype=np.uint32)
        for i in nonempty:
            result[i] = _matrix(arrays[i], a, b)
        return result
    offsets = np.zeros(len(nonempty) + 1, dtype=np.intp)
    np.cumsum(lengths[nonempty], out=offsets[1:])
    flat = np.concatenate([arrays[i] for i in nonempty])
    signatures = _rows(flat, offsets, a, b, _CHUNK_FEATURES)
    if len(nonempty) == len(arrays):
        return signatures
    result = np.full((len(arrays), num_perm), EMPTY, dtype=np.uint32)
    result[nonempty] = signatures
    return result


def to_datasketch(hashvalues: npt.ArrayLike, seed: int = 1) -> Any:
    """A stored signature as a ``datasketch.LeanMinHash``, for analysts who want datasketch's
    LSH, LSH Forest or Ensemble over spintrace's signatures (same values, same permutations).

    ``hashvalues`` are the ``num_perm`` uint32 values (e.g. the little-endian bytes of a
    ``signatures`` row read with ``numpy.frombuffer(data, "<u4")``) and ``seed`` the one stored
    beside them.
    """
    from datasketch import LeanMinHash

    values = _as_u32(hashvalues)
    return LeanMinHash(seed=seed, hashvalues=values, scheme=SCHEME)
