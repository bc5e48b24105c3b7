"""Signing speed and accuracy: spintrace's numpy MinHash against datasketch, same run.

Every document of the dev set's ``sources.jsonl`` is tokenised once (``spintrace.matcher.tokenize``,
not timed); then, from the same tokens, each side builds word 2-shingles and their MinHash
signatures (num_perm 128, seed 1, affine32):

- datasketch: shingle strings -> ``MinHash(num_perm=128).update_batch([s.encode() ...])``, a new
  MinHash per document as its docs show ("new MinHash"), and the same with the permutations
  drawn once and passed back via ``permutations=`` and ``scheme=`` ("cached permutations");
- spintrace: ``token_hashes`` + ``shingle_hashes`` per document, then ``minhash_many`` over all
  documents in one call ("batch"), or ``minhash`` per document ("per document").

The token-hash cache is cleared before each spintrace run ("cold": it fills during the run, as on
a first pass over a corpus); "warm" keeps it from the previous run (a long-running process).
Variants run interleaved, in a rotating order, ``--repeats`` times; the tables show medians and
ratios of medians, and the per-repeat (paired) ratio range. Then an accuracy check: Jaccard
estimates of both sides against each other and against the exact Jaccard of the shingle sets.

Usage: ``python bench/signatures.py [--data FILE] [--repeats N] [--pairs N]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datasketch
import numpy as np
import numpy.typing as npt
from datasketch import MinHash

from spintrace.matcher import hashing
from spintrace.matcher.hashing import CONTENT_SALT, shingle_hashes, token_hashes
from spintrace.matcher.minhash import minhash, minhash_many
from spintrace.matcher.tokens import tokenize

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/dev/sources.jsonl"
NUM_PERM = 128
SEED = 1
U32 = npt.NDArray[np.uint32]
Words = list[list[str]]


def shingles(words: Sequence[str]) -> set[str]:
    """Word 2-shingles; a 1-word text is one shingle (as features.py and ``shingle_hashes``)."""
    if len(words) < 2:
        return {" ".join(words)} if words else set()
    return {f"{words[i]} {words[i + 1]}" for i in range(len(words) - 1)}


def ds_new(docs: Words) -> U32:
    out = np.empty((len(docs), NUM_PERM), dtype=np.uint32)
    for i, words in enumerate(docs):
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode("utf-8") for s in shingles(words)])
        out[i] = m.hashvalues
    return out


_DS_PERMS = MinHash(num_perm=NUM_PERM, seed=SEED).permutations


def ds_cached(docs: Words) -> U32:
    out = np.empty((len(docs), NUM_PERM), dtype=np.uint32)
    for i, words in enumerate(docs):
        m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", permutations=_DS_PERMS)
        m.update_batch([s.encode("utf-8") for s in shingles(words)])
        out[i] = m.hashvalues
    return out


def features(docs: Words) -> list[U32]:
    return [shingle_hashes(token_hashes(words), 2, CONTENT_SALT) for words in docs]


def st_batch(docs: Words) -> U32:
    return minhash_many(features(docs), NUM_PERM, SEED)


def st_per_doc(docs: Words) -> U32:
    out = np.empty((len(docs), NUM_PERM), dtype=np.uint32)
    for i, words in enumerate(docs):
        out[i] = minhash(shingle_hashes(token_hashes(words), 2, CONTENT_SALT), NUM_PERM, SEED)
    return out


def cold(fn: Callable[[Words], U32]) -> Callable[[Words], U32]:
    def run(docs: Words) -> U32:
        hashing._cache.clear()
        return fn(docs)

    return run


VARIANTS: dict[str, Callable[[Words], U32]] = {
    "datasketch, new MinHash": ds_new,
    "datasketch, cached permutations": ds_cached,
    "spintrace batch, cold cache": cold(st_batch),
    "spintrace batch, warm cache": st_batch,
    "spintrace per document, cold": cold(st_per_doc),
}
BASELINE = "datasketch, new MinHash"


def environment() -> list[str]:
    lines = [
        f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}",
        f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"python:   {platform.python_version()}  numpy {np.__version__}  "
        f"datasketch {datasketch.__version__}",
    ]
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo") if "model name" in ln), "?"
    )
    usable = len(os.sched_getaffinity(0))
    lines.append(f"machine:  {platform.machine()} {cpu}; {usable} CPUs usable")
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"blas:     {blas.get('name')} {blas.get('version')} (numpy build)")
    except Exception:  # older numpy: show_config has no mode
        lines.append("blas:     unknown")
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    lines.append(f"threads:  {threads or 'no *_NUM_THREADS set'}")
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-not-found, unused-ignore]

        for pool in threadpool_info():
            lines.append(
                f"          {pool.get('internal_api')} {pool.get('version')}: "
                f"{pool.get('num_threads')} threads"
            )
    except ImportError:
        lines.append("          (threadpoolctl not installed: thread pools not listed)")
    lines.append("          (the elementwise ufuncs timed here are single-threaded, no BLAS)")
    return lines


def _read(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def time_variants(docs: Words, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            start = time.perf_counter()
            VARIANTS[name](docs)
            times[name].append(time.perf_counter() - start)
        print(f"  repeat {r + 1}/{repeats} done", file=sys.stderr, flush=True)
    return times


def estimate(x: U32, y: U32) -> float:
    return float(np.count_nonzero(x == y)) / len(x)


def exact(x: set[str], y: set[str]) -> float:
    return len(x & y) / len(x | y) if x or y else 1.0


def accuracy(name: str, pairs: list[tuple[list[str], list[str]]]) -> list[str]:
    """Jaccard estimates of both sides on document pairs, against each other and the truth."""
    flat = [w for pair in pairs for w in pair]
    ours, theirs = st_batch(flat), ds_new(flat)
    rows = []
    for k, (a, b) in enumerate(pairs):
        truth = exact(shingles(a), shingles(b))
        rows.append((estimate(ours[2 * k], ours[2 * k + 1]),
                     estimate(theirs[2 * k], theirs[2 * k + 1]), truth))  # fmt: skip
    o, d, t = (np.array(col) for col in zip(*rows, strict=True))
    sd = float(np.mean(np.sqrt(t * (1 - t) / NUM_PERM)))
    return [
        f"{name}: {len(pairs)} pairs, exact Jaccard mean {t.mean():.4f} "
        f"(min {t.min():.3f}, max {t.max():.3f}); binomial sd of one estimate ~{sd:.4f}",
        f"  mean |J_ours - J_datasketch| = {np.abs(o - d).mean():.4f}",
        f"  mean |J_ours - J_exact|      = {np.abs(o - t).mean():.4f}   "
        f"(bias {np.mean(o - t):+.4f})",
        f"  mean |J_datasketch - J_exact| = {np.abs(d - t).mean():.4f}   "
        f"(bias {np.mean(d - t):+.4f})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sources.jsonl")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (>= 5)")
    parser.add_argument("--pairs", type=int, default=500, help="document pairs for accuracy")
    args = parser.parse_args()
    if args.repeats < 5:
        print(f"warning: {args.repeats} repeats; medians need >= 5 to mean much", file=sys.stderr)
    if not args.data.is_file():
        sys.exit(
            f"error: {args.data} not found. This benchmark needs the dev set's sources.jsonl "
            "(../shared/data/dev/ beside the repository); pass --data FILE to use another."
        )
    records: list[dict[str, Any]] = [
        json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line
    ]
    start = time.perf_counter()
    docs = [[t.norm for t in tokenize(r["text"])] for r in records]
    tokenize_s = time.perf_counter() - start

    print("\n".join(environment()))
    n_shingles = sum(len(shingles(w)) for w in docs)
    print(
        f"data:     {args.data} - {len(docs)} documents, median {statistics.median(map(len, docs))}"
        f" tokens, {n_shingles} 2-shingles (distinct within each document)"
    )
    print(f"tokenize: {tokenize_s:.2f} s ({len(docs) / tokenize_s:.0f} docs/s), shared, not timed")

    # Compatibility on the real features: our values == datasketch's with an identity hashfunc.
    sets = features(docs)
    ours = minhash_many(sets, NUM_PERM, SEED)
    same = 0
    for row, feats in zip(ours, sets, strict=True):
        m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=lambda x: x)
        m.update_batch(feats)
        same += bool(np.array_equal(row, m.hashvalues))
    print(
        f"compat:   minhash_many == datasketch MinHash(hashfunc=identity): {same}/{len(sets)} docs"
    )

    print(f"\nspeed: {args.repeats} interleaved repeats, rotating order (medians)", flush=True)
    times = time_variants(docs, args.repeats)
    base = times[BASELINE]
    ds_cached_t = times["datasketch, cached permutations"]
    print("speed-up = datasketch median time / variant median time; paired = per repeat")
    head = f"{'variant':<34}{'median s':>9}{'docs/s':>8}{'vs new':>8}{'vs cached':>10}"
    print(head + f"{'paired vs new':>22}{'+tokenize':>11}")
    tok = tokenize_s
    for name, ts in times.items():
        med = statistics.median(ts)
        paired = [b / t for b, t in zip(base, ts, strict=True)]
        print(
            f"{name:<34}{med:>9.3f}{len(docs) / med:>8.0f}"
            f"{statistics.median(base) / med:>7.1f}x{statistics.median(ds_cached_t) / med:>9.1f}x"
            f"{statistics.median(paired):>9.1f}x ({min(paired):.1f}-{max(paired):.1f})"
            f"{(statistics.median(base) + tok) / (med + tok):>10.1f}x"
        )
    print("(+tokenize: speed-up vs new MinHash if the shared tokenize time were counted on both)")

    rng = np.random.default_rng(2024)
    random_pairs: list[tuple[list[str], list[str]]] = []
    while len(random_pairs) < args.pairs:
        i, j = (int(x) for x in rng.choice(len(docs), 2, replace=False))
        random_pairs.append((docs[i], docs[j]))
    # Random news pairs are nearly disjoint; overlapping windows of one document spread J over
    # (0, 1): same features and code paths, known exact Jaccard.
    window_pairs: list[tuple[list[str], list[str]]] = []
    while len(window_pairs) < args.pairs:
        words = docs[int(rng.integers(len(docs)))]
        n = len(words)
        cut_a, cut_b = sorted(int(x) for x in rng.integers(0, n, 2))
        window_pairs.append((words[: max(cut_b, 2)], words[cut_a:]))
    print("\naccuracy (num_perm 128; datasketch side = its default SHA-1 hash of shingle strings)")
    print("\n".join(accuracy("random document pairs", random_pairs)))
    print("\n".join(accuracy("overlapping windows of one document", window_pairs)))


if __name__ == "__main__":
    main()
