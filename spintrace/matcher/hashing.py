"""Stable 32-bit hashes of tokens and shingles, computed with numpy.

Each distinct token is hashed once per process with SHA-1 (its first four bytes, little-endian:
datasketch's ``sha1_hash32``) and cached; a shingle's hash combines its tokens' hashes
arithmetically, so a document's feature hashes come from one vectorised expression instead of
one SHA-1 call per shingle. The hashes are stable across processes and machines (no Python
``hash()``), which stored signatures need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["CONTENT_SALT", "SKELETON_SALT", "fmix32", "shingle_hashes", "token_hashes"]

U32 = npt.NDArray[np.uint32]

# Distinct salts keep content and skeleton shingles of the same words apart.
CONTENT_SALT = np.uint32(0x5EED_C0DE)
SKELETON_SALT = np.uint32(0x5EED_5CE1)
_GOLDEN = np.uint32(0x9E37_79B1)
# Bounded so a long-running process over an open vocabulary cannot grow without limit.
_CACHE_LIMIT = 2_000_000
_cache: dict[str, int] = {}


def _sha1_32(token: str) -> int:
    return int.from_bytes(hashlib.sha1(token.encode("utf-8")).digest()[:4], "little")


def token_hashes(tokens: Sequence[str]) -> U32:
    """32-bit hashes of ``tokens`` (SHA-1 based, cached per distinct token)."""
    cache = _cache
    values = list(map(cache.get, tokens))
    if None in values:
        for i, value in enumerate(values):
            if value is None:
                token = tokens[i]
                value = cache.get(token)
                if value is None:
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    value = cache[token] = _sha1_32(token)
                values[i] = value
    return np.array(values, dtype=np.uint32)


def fmix32(values: U32) -> U32:
    """MurmurHash3's 32-bit finaliser: an avalanching bijection, element-wise."""
    h: U32 = values ^ (values >> np.uint32(16))
    h = h * np.uint32(0x85EB_CA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2_AE35)
    out: U32 = h ^ (h >> np.uint32(16))
    return out


def shingle_hashes(
    hashes: U32, k: int, salt: np.uint32, keep: npt.NDArray[np.bool_] | None = None
) -> U32:
    """Distinct hashes of the ``k``-token shingles over token ``hashes``.

    ``keep`` (one flag per shingle) drops shingles, e.g. those made only of stopwords. A text
    shorter than ``k`` tokens gives one shingle of all its tokens; an empty one gives none.
    """
    n = len(hashes)
    if n == 0:
        return np.empty(0, dtype=np.uint32)
    if n < k:
        k = n
    with np.errstate(over="ignore"):
        combined = hashes[: n - k + 1].copy()
        for j in range(1, k):
            combined = combined * _GOLDEN + hashes[j : n - k + 1 + j]
        combined = fmix32(combined ^ salt)
    if keep is not None:
        combined = combined[keep[: len(combined)]]
    if len(combined) == 0:
        return combined
    # sort + neighbour comparison: np.unique's fixed overhead dominates on arrays this small.
    combined.sort()
    distinct = np.empty(len(combined), dtype=np.bool_)
    distinct[0] = True
    np.not_equal(combined[1:], combined[:-1], out=distinct[1:])
    out: U32 = combined[distinct]
    return out
