"""Benchmark of spintrace.matcher.index (ContainmentIndex) against datasketch, in one run.

(1) Candidate recall on the labelled dev set (top 10), next to the current datasketch LSH Ensemble
    (baselines.CandidateIndex over sign(content_features(...)), threshold 0.1, top 10).
(2) Scale: synthetic sources (feature statistics drawn from the dev set, see ``SYNTHETIC``) at
    several sizes: sketch and build time, index bytes per source, query p50/p99 and recall of
    perturbed partial copies, incremental add + merge, next to datasketch ``MinHashLSH``
    (threshold 0.5, num_perm 128) at sizes up to ``--peer-max``.

Usage: ``python bench/index.py [--data DIR] [--sizes 10000,100000,1000000] [--queries 1000]
[--peer-max 100000] [--seed 0]``. See bench/README.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per query, as measured

import argparse
import csv
import gc
import json
import platform
import resource
import shlex
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import datasketch
import numpy as np
import numpy.typing as npt
from baselines import CandidateIndex, sign
from datasketch import MinHash, MinHashLSH

from spintrace.matcher import content_features, tokenize
from spintrace.matcher.features import STOPWORDS
from spintrace.matcher.hashing import fmix32
from spintrace.matcher.index import (
    ContainmentIndex,
    Features,
    IndexParams,
    QueryOptions,
    Segment,
    Sketch,
    sketch,
    text_features,
)
from spintrace.matcher.tokens import Token

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"
U32 = npt.NDArray[np.uint32]
I32 = npt.NDArray[np.int32]
KINDS = ("1.0", "0.7", "0.5", "0.35", "short")
SHORT_TOKENS = 13
SPIN_CONTENT = 1 - 0.75**2  # a 2-shingle survives only if both words do (25% replaced)
SPIN_SKELETON = 0.06  # skeleton containment of a real spun article: 0.94 (DESIGN.md)
BOILERPLATE = (20, 3)  # content, skeleton features added to half of the queries
PEER_PERM, PEER_THRESHOLD, PEER_SCHEME = 128, 0.5, "affine32"
SYNTHETIC = """\
Synthetic sources: each copies the layout of a random dev source (its token count and the token
positions of its content and skeleton 2-shingles, hence its lead), with new feature values.
Each shingle occurrence is, by the dev set's own shares for its kind (content / skeleton):
  head   - a dev shingle of dev df >= 10, drawn with probability proportional to its dev df
           (common phrases keep their dev rate per source at every size);
  mid    - a dev shingle of dev df 2..9 (drawn by dev df) in one of R = ceil(sqrt(N/1500))
           variants (vocabulary grows like Heaps' law with beta 0.5: at 1M a mid shingle
           is in ~26x more sources than in dev);
  unique - a fresh random 32-bit hash (names, rare phrases; dev df 1).
Queries: a random source; kind 1.0 / 0.7 / 0.5 / 0.35 = a contiguous window of that share of
its tokens at a random start, short = its first 13 tokens; spun: each content shingle replaced
(by a fresh draw from the mixture) with p = 0.4375 (25% of words), each skeleton shingle with
p = 0.06; half of them get 20 content + 3 skeleton boilerplate shingles."""


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_queries(
    run: Callable[[Any], list[Any]], queries: Sequence[Any]
) -> tuple[list[list[Any]], dict[str, float]]:
    """Results, and wall-clock and CPU (this thread) p50/p99 in milliseconds."""
    for q in queries[:20]:  # warm up
        run(q)
    results, wall, cpu = [], [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.thread_time()
        results.append(run(q))
        cpu.append((time.thread_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    times = {"p50": percentile(wall, 50), "p99": percentile(wall, 99)}
    times.update({"cpu_p50": percentile(cpu, 50), "cpu_p99": percentile(cpu, 99)})
    return results, times


def fmt_times(t: dict[str, float]) -> str:
    return (
        f"query p50 {t['p50']:.2f} ms, p99 {t['p99']:.2f} ms "
        f"(CPU time: p50 {t['cpu_p50']:.2f} ms, p99 {t['cpu_p99']:.2f} ms)"
    )


# ----------------------------------------------------------------------------- dev set


def dev_set(
    data: Path,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[dict[str, str]]]:
    with (data / "sources.jsonl").open() as f:
        sources = [json.loads(line) for line in f]
    with (data / "pages_text.jsonl").open() as f:
        pages = {p["url"]: p for p in map(json.loads, f)}
    with (data / "truth.csv").open() as f:
        truth = list(csv.DictReader(f))
    return sources, pages, truth


def bench_dev(data: Path, params: IndexParams) -> None:
    sources, pages, truth = dev_set(data)
    key = {s["url"]: i for i, s in enumerate(sources)}
    source_tokens = [tokenize(s["text"]) for s in sources]
    page_tokens = {u: tokenize(p["text"]) for u, p in pages.items()}
    pairs = list(zip(source_tokens, sources, strict=True))

    t0 = time.perf_counter()
    ours = ContainmentIndex(params=params).add(
        (i, sketch(text_features(tok, s["text"], lead_tokens=params.lead_tokens), params))
        for i, (tok, s) in enumerate(pairs)
    )
    ours_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensemble = CandidateIndex(
        ((i, sign(content_features(tok, s["text"]))) for i, (tok, s) in enumerate(pairs)),
        threshold=0.1,
    )
    ens_build = time.perf_counter() - t0

    texts = [(page_tokens[r["page_url"]], pages[r["page_url"]]["text"]) for r in truth]
    ours_q = [text_features(tok, text, lead_tokens=0) for tok, text in texts]
    ens_q = [sign(content_features(tok, text)) for tok, text in texts]
    ours_res, ours_t = timed_queries(lambda q: ours.query(q, 10), ours_q)
    ens_res, ens_t = timed_queries(lambda q: ensemble.query(q, 10), ens_q)
    any_hit = [len(ours.query(q, None)) for q in ours_q]

    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    cands: dict[str, tuple[list[int], list[int]]] = {
        "ContainmentIndex, returned": ([], []),
        "ContainmentIndex, any hit (before the top-10 cut)": ([], []),
        "LSH Ensemble, returned": ([], []),
    }
    for r, o, e, hit in zip(truth, ours_res, ens_res, any_hit, strict=True):
        copy = bool(r["source_url"])
        for lists, value in zip(cands.values(), (len(o), hit, len(e)), strict=True):
            lists[not copy].append(value)
        if not copy:
            continue
        want = key[r["source_url"]]
        short = len(page_tokens[r["page_url"]]) < 40
        labels = ["all copies", f"keep_frac {r['keep_frac']}", f"spinner {r['spinner']}"]
        labels.append("pages < 40 words" if short else "pages >= 40 words")
        for label in labels:
            g = groups[label]
            g[0] += 1
            g[1] += want in [k for k, _ in o]
            g[2] += bool(o) and o[0][0] == want
            g[3] += want in [k for k, _ in e]
            g[4] += bool(e) and e[0][0] == want

    print("\n## (1) Dev set: candidate recall in the top 10 (600 copies, 250 non-copies)")
    print(
        f"ContainmentIndex {params}, {QueryOptions()}:\n  build {ours_build:.1f} s (features + "
        f"sketch + index), {ours.nbytes / len(ours):.0f} bytes/source, {fmt_times(ours_t)}"
    )
    print(
        f"LSH Ensemble (CandidateIndex over sign(content_features), threshold 0.1, num_perm 128): "
        f"build {ens_build:.1f} s (incl. signing), {fmt_times(ens_t)}"
    )
    print(f"{'':<20}{'pages':>6}{'ours R@10':>11}{'ours R@1':>10}{'LSHE R@10':>11}{'LSHE R@1':>10}")
    for label in sorted(groups, key=lambda s: (s != "all copies", s)):
        n, o10, o1, e10, e1 = groups[label]
        print(f"{label:<20}{n:>6}{o10 / n:>11.4f}{o1 / n:>10.4f}{e10 / n:>11.4f}{e1 / n:>10.4f}")
    for name, (copies, others) in cands.items():
        print(
            f"mean candidates per page, {name}: copies {np.mean(copies):.2f}, "
            f"non-copies {np.mean(others):.2f}"
        )


# ----------------------------------------------------------------------------- synthetic


def _layout(tokens: Sequence[Token], text: str) -> tuple[int, I32, I32]:
    """Token count, start positions of kept content shingles and of skeleton shingles."""
    words = [t.norm for t in tokens]
    stop = np.array([w in STOPWORDS for w in words], dtype=np.bool_)
    content = np.flatnonzero(~(stop[:-1] & stop[1:])) if len(words) > 1 else np.flatnonzero(~stop)
    skeleton, previous_end = [], 0  # as features.skeleton_tokens, with positions
    for i, t in enumerate(tokens):
        starts = previous_end == 0 or any(c in ".!?\n" for c in text[previous_end : t.start])
        previous_end = t.end
        if t.norm not in STOPWORDS and (t.norm.isdigit() or (t.capitalised and not starts)):
            skeleton.append(i)
    skel = np.array(skeleton[:-1] if len(skeleton) > 1 else skeleton, dtype=np.int32)
    return len(tokens), content.astype(np.int32), skel


Source = tuple[int, U32, I32, U32, I32]  # tokens, content, positions, skeleton, positions


class Synthetic:
    """Feature sets with the dev set's statistics (see ``SYNTHETIC``)."""

    def __init__(self, sources: list[dict[str, Any]]) -> None:
        self.rng = np.random.default_rng(0)
        self.variants = 1
        self.layouts = []
        sets: dict[str, list[U32]] = {"c": [], "s": []}
        for s in sources:
            tokens = tokenize(s["text"])
            self.layouts.append(_layout(tokens, s["text"]))
            f = text_features(tokens, s["text"], lead_tokens=0)
            sets["c"].append(f.content)
            sets["s"].append(f.skeleton)
        self.n_dev = len(sources)
        self.pools: dict[str, Any] = {}
        self.stats: dict[str, str] = {}
        for kind, arrays in sets.items():
            values, df = np.unique(np.concatenate(arrays), return_counts=True)
            occ = df.sum()
            head, mid = df >= 10, (df >= 2) & (df < 10)
            shares = df[head].sum() / occ, df[mid].sum() / occ
            pools = [(values[m], np.cumsum(df[m]) / df[m].sum()) for m in (head, mid)]
            self.pools[kind] = (shares, pools)
            self.stats[kind] = (
                f"{len(values):,} distinct, {occ:,} occurrences; head {head.sum():,} shingles "
                f"= {shares[0]:.3f} of occurrences, mid {mid.sum():,} = {shares[1]:.3f}, unique "
                f"{1 - sum(shares):.3f}; highest dev df {df.max()} of {len(sources)} sources"
            )

    def reset(self, n: int, seed: int) -> None:
        """Start a corpus of ``n`` sources."""
        self.rng = np.random.default_rng(seed)
        self.variants = int(np.ceil(np.sqrt(n / self.n_dev)))

    def _pick(self, pool: tuple[U32, Any], k: int) -> U32:
        values, cdf = pool
        return values[np.minimum(np.searchsorted(cdf, self.rng.random(k)), len(values) - 1)]

    def draw(self, kind: str, n: int) -> U32:
        (share_head, share_mid), (head, mid) = self.pools[kind]
        rng = self.rng
        out = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
        u = rng.random(n)
        is_head, is_mid = u < share_head, (u >= share_head) & (u < share_head + share_mid)
        out[is_head] = self._pick(head, int(is_head.sum()))
        base = self._pick(mid, int(is_mid.sum()))
        variant = rng.integers(0, self.variants, size=len(base), dtype=np.uint64)
        with np.errstate(over="ignore"):
            mixed = fmix32(base + variant.astype(np.uint32) * np.uint32(0x9E3779B1))
        out[is_mid] = np.where(variant == 0, base, mixed)
        return out

    def sources(self, count: int) -> Iterator[Source]:
        """``count`` synthetic sources, generated in vectorised chunks."""
        for first in range(0, count, 20_000):
            picks = self.rng.integers(0, len(self.layouts), size=min(20_000, count - first))
            lays = [self.layouts[p] for p in picks]
            cpos = np.concatenate([c for _, c, _ in lays])
            spos = np.concatenate([s for _, _, s in lays])
            cval, sval = self.draw("c", len(cpos)), self.draw("s", len(spos))
            c_ends = np.cumsum([len(c) for _, c, _ in lays])
            s_ends = np.cumsum([len(s) for _, _, s in lays])
            cs, ss = 0, 0
            for (n_tok, _, _), ce, se in zip(lays, c_ends, s_ends, strict=True):
                yield n_tok, cval[cs:ce], cpos[cs:ce], sval[ss:se], spos[ss:se]
                cs, ss = ce, se

    def query(self, kind: str, source: Source) -> Features:
        """A spun copy of part of ``source`` (see ``SYNTHETIC``), as a page's features."""
        n_tok, cval, cpos, sval, spos = source
        rng = self.rng
        if kind == "short":
            start, end = 0, min(SHORT_TOKENS, n_tok)
        else:
            width = max(2, round(float(kind) * n_tok))
            start = int(rng.integers(0, n_tok - width + 1))
            end = start + width
        c = cval[(cpos >= start) & (cpos + 1 < end)].copy()
        s = sval[(spos >= start) & (spos < end)].copy()
        spun = rng.random(len(c)) < SPIN_CONTENT
        c[spun] = self.draw("c", int(spun.sum()))
        spun = rng.random(len(s)) < SPIN_SKELETON
        s[spun] = self.draw("s", int(spun.sum()))
        if rng.random() < 0.5:
            c = np.concatenate([c, self.draw("c", BOILERPLATE[0])])
            s = np.concatenate([s, self.draw("s", BOILERPLATE[1])])
        return Features(np.unique(c), np.unique(s), np.empty(0, dtype=np.uint32))


def source_features(source: Source, lead_tokens: int) -> Features:
    _, c, cpos, s, spos = source
    lead = np.union1d(c[cpos < lead_tokens], s[spos < lead_tokens])
    return Features(np.unique(c), np.unique(s), lead)


def peer_minhash(values: U32, perms: Any) -> MinHash:
    """datasketch's own MinHash of feature hashes (identity hashfunc on the 32-bit values)."""
    m = MinHash(num_perm=PEER_PERM, seed=1, hashfunc=int, permutations=perms, scheme=PEER_SCHEME)
    m.update_batch(values.tolist())
    return m


def recall_by_kind(
    queries: list[tuple[int, str, Features]], found: list[list[int]]
) -> dict[str, float]:
    hit: dict[str, list[bool]] = defaultdict(list)
    for (key, kind, _), keys in zip(queries, found, strict=True):
        hit[kind].append(key in keys)
        hit["all"].append(key in keys)
    return {k: float(np.mean(v)) for k, v in hit.items()}


def bench_scale(
    n: int, synth: Synthetic, params: IndexParams, n_queries: int, peer_max: int, seed: int
) -> dict[str, Any]:
    synth.reset(n, seed + n)
    picks = synth.rng.choice(n, size=min(n_queries, n), replace=False)
    kind_of = {int(p): KINDS[i % len(KINDS)] for i, p in enumerate(picks)}
    with_peer = n <= peer_max
    perms = MinHash(num_perm=PEER_PERM, seed=1, scheme=PEER_SCHEME).permutations
    sketches: list[Sketch] = []
    peer_values: list[Any] = []
    queries: list[tuple[int, str, Features]] = []
    sketch_s = 0.0
    t0 = time.perf_counter()
    for i, src in enumerate(synth.sources(n)):
        features = source_features(src, params.lead_tokens)
        t1 = time.perf_counter()
        sketches.append(sketch(features, params))
        sketch_s += time.perf_counter() - t1
        if i in kind_of:
            queries.append((i, kind_of[i], synth.query(kind_of[i], src)))
        if with_peer:
            values = np.union1d(features.content, features.skeleton)
            peer_values.append(peer_minhash(values, perms).hashvalues)
    r: dict[str, Any] = {"n": n, "generate_s": time.perf_counter() - t0, "sketch_s": sketch_s}
    gc.collect()
    t0 = time.perf_counter()
    index = ContainmentIndex(params=params).add(enumerate(sketches))
    r["build_s"] = time.perf_counter() - t0
    del sketches
    gc.collect()
    r["bytes"], r["postings"] = index.nbytes, sum(len(s.low) for s in index.segments)
    feats = [q for _, _, q in queries]
    res, r["times"] = timed_queries(partial(index.query, limit=10), feats)
    r["recall"] = recall_by_kind(queries, [[k for k, _ in x] for x in res])
    r["cands"] = float(np.mean([len(x) for x in res]))
    r["load"] = os.getloadavg()[0]

    t0 = time.perf_counter()
    blob = index.segments[0].to_bytes()
    r["to_bytes_s"], r["blob_mb"] = time.perf_counter() - t0, len(blob) / 1e6
    t0 = time.perf_counter()
    Segment.from_bytes(blob)
    r["from_bytes_s"] = time.perf_counter() - t0
    del blob
    r["added"] = added = max(1000, n // 100)
    extra = [
        (n + j, sketch(source_features(src, params.lead_tokens), params))
        for j, src in enumerate(synth.sources(added))
    ]
    t0 = time.perf_counter()
    grown = index.add(extra)
    r["add_s"] = time.perf_counter() - t0
    _, r["times_2seg"] = timed_queries(partial(grown.query, limit=10), feats)
    t0 = time.perf_counter()
    merged = grown.merged()
    r["merge_s"] = time.perf_counter() - t0
    r["merge_same"] = all(merged.query(q, 10) == grown.query(q, 10) for q in feats[:200])
    del grown, merged, index, extra
    gc.collect()
    r["rss_mb"] = rss_mb()
    if with_peer:
        r["peer"] = bench_peer(peer_values, queries, perms)
    return r


def bench_peer(
    values: list[Any], queries: list[tuple[int, str, Features]], perms: Any
) -> dict[str, Any]:
    def build() -> MinHashLSH:
        lsh = MinHashLSH(threshold=PEER_THRESHOLD, num_perm=PEER_PERM)
        for i, hv in enumerate(values):
            m = MinHash(PEER_PERM, seed=1, hashvalues=hv, permutations=perms, scheme=PEER_SCHEME)
            lsh.insert(i, m)
        return lsh

    gc.collect()
    t0 = time.perf_counter()
    lsh = build()
    out: dict[str, Any] = {"build_s": time.perf_counter() - t0}
    signed = [peer_minhash(np.union1d(q.content, q.skeleton), perms) for _, _, q in queries]
    res, out["times"] = timed_queries(lsh.query, signed)
    out["recall"] = recall_by_kind(queries, res)
    out["cands"] = float(np.mean([len(x) for x in res]))
    del lsh
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    lsh = build()
    out["bytes"] = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del lsh
    gc.collect()
    return out


def print_scale(results: list[dict[str, Any]], params: IndexParams) -> None:
    print(
        f"\n## (2) Scale: ContainmentIndex {params}, {QueryOptions()}, top 10; peer datasketch "
        f"MinHashLSH(threshold={PEER_THRESHOLD}, num_perm={PEER_PERM}), its whole result set"
    )
    print("p50/p99: wall-clock ms per single query; cpu: this thread's CPU time (the machine is")
    print("shared, so wall-clock includes waiting for a core); R <kind>: recall of that query kind")
    kinds = [*KINDS, "all"]
    print(
        f"{'sources':>9} {'index':<12}{'build s':>8}{'B/src':>7}{'p50':>7}{'p99':>7}{'cpu50':>7}"
        f"{'cpu99':>7}{'cands':>7}" + "".join(f"{'R ' + k:>8}" for k in kinds)
    )
    for r in results:
        rows = [("Containment", r["build_s"], r["bytes"], r["times"], r["cands"], r["recall"])]
        if "peer" in r:
            p = r["peer"]
            rows.append(
                ("MinHashLSH", p["build_s"], p["bytes"], p["times"], p["cands"], p["recall"])
            )
        for name, build, size, t, cands, rec in rows:
            print(
                f"{r['n']:>9,} {name:<12}{build:>8.1f}{size / r['n']:>7.0f}{t['p50']:>7.2f}"
                f"{t['p99']:>7.2f}{t['cpu_p50']:>7.2f}{t['cpu_p99']:>7.2f}{cands:>7.1f}"
                + "".join(f"{rec.get(k, float('nan')):>8.3f}" for k in kinds)
            )
    for r in results:
        print(
            f"{r['n']:>9,}: generate + sketch {r['generate_s']:.1f} s (of which sketch() "
            f"{r['sketch_s']:.1f} s); {r['postings'] / r['n']:.1f} postings/source; load average "
            f"{r['load']:.1f}; to_bytes {r['to_bytes_s']:.2f} s, from_bytes {r['from_bytes_s']:.2f}"
            f" s ({r['blob_mb']:.1f} MB)\n{'':>11}add {r['added']:,} sources as a 2nd segment "
            f"{r['add_s']:.2f} s, then {fmt_times(r['times_2seg'])}\n{'':>11}merge "
            f"{r['merge_s']:.1f} s, merged answers == 2-segment answers: {r['merge_same']}; "
            f"peak RSS so far {r['rss_mb']:,.0f} MB"
        )
        if "peer" in r:
            p = r["peer"]
            print(
                f"{'':>11}MinHashLSH memory (tracemalloc) {p['bytes'] / 1e6:,.0f} MB = "
                f"{p['bytes'] / r['n']:,.0f} B/source; ContainmentIndex is "
                f"{p['bytes'] / r['bytes']:.1f}x smaller"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dev set directory")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="synthetic index sizes")
    parser.add_argument("--queries", type=int, default=1000, help="queries per size")
    parser.add_argument("--peer-max", type=int, default=100_000, help="largest MinHashLSH size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-dev", action="store_true", help="skip the dev-set recall table")
    args = parser.parse_args()
    if not (args.data / "sources.jsonl").exists():
        sys.exit(f"dev set not found at {args.data} (pass --data)")
    params = IndexParams()
    print("# spintrace candidate index benchmark (bench/index.py)")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"numpy {np.__version__}, datasketch {datasketch.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if not args.skip_dev:
        bench_dev(args.data, params)
    sources, _, _ = dev_set(args.data)
    synth = Synthetic(sources)
    print("\n" + SYNTHETIC)
    for kind, text in synth.stats.items():
        print(f"dev {'content' if kind == 'c' else 'skeleton'} shingles: {text}")
    results = []
    for n in (int(s) for s in args.sizes.split(",") if s):
        results.append(bench_scale(n, synth, params, args.queries, args.peer_max, args.seed))
        print(f"... {n:,} sources done at {time.strftime('%H:%M:%S')}", file=sys.stderr)
    print_scale(results, params)
    print(f"\npeak RSS {rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
