"""Cost of the near-duplicate search (spintrace.linking.duplicates), measured.

(1) Indexing on the dev set: ``spintrace match`` on a database of the dev set's sources only
    (indexing, and for this tree banding the sources and grouping works), this tree against a
    previous release (``--previous REF``, extracted with ``git archive``), in the same run.
(2) The band table at scale, on PostgreSQL (``--pg``, a database this script creates and drops)
    and SQLite: ``--docs`` synthetic signatures (random MinHash values, with 1% planted
    near-duplicates), banded 16 x 8 (the sources' kind) and 32 x 4 (the pages' kind): band keys
    per second, rows loaded per second (COPY on PostgreSQL, executemany on SQLite), table and
    index bytes per document, and the candidate join for 1,000 documents spread over the table
    (about 1% of them planted near-duplicates, so the join returns real pairs).

Usage: ``python bench/duplicates.py [--data DIR] [--previous REF] [--repeats N] [--docs 1000000]
[--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]``; ``--docs 0`` runs part (1) only.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spintrace.matcher.lsh import Banding, band_keys

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import PG_ADMIN, cli_of, extract_release, print_header, scratch_pg  # noqa: E402

BANDINGS = {"content-f2": Banding(16, 8), "page-text-f1": Banding(32, 4)}
"""The kinds as stored (their names are part of every row and of the index)."""


def run_cli(cli: list[str], url: str, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*cli, "--db", url, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: {shlex.join(args)}: {proc.stderr.strip()}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def indexing(data: Path, release: Path | None, tmp: Path) -> tuple[float, float]:
    """Seconds of the index step and of the whole ``match`` on the dev set's sources."""
    db = tmp / f"index-{'previous' if release else 'this'}.db"
    db.unlink(missing_ok=True)  # a fresh database each repeat
    url = f"sqlite:///{db}"
    cli = cli_of(release)
    run_cli(cli, url, "db", "upgrade")
    run_cli(cli, url, "sources", "import", str(data / "sources.jsonl"))
    total, out = run_cli(cli, url, "match")
    found = re.search(r"indexed (\d+) new sources in ([\d.]+) s", out)
    return (float(found.group(2)) if found else float("nan")), total


def signatures(n: int, seed: int = 7) -> np.ndarray:
    """Random signatures; 1% of the documents are near-duplicates (a tenth of the values
    changed, estimated Jaccard about 0.9) of another 1%."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**32, size=(n, 128), dtype=np.uint64).astype(np.uint32)
    chosen = rng.choice(n, size=2 * (n // 100), replace=False)
    originals, copies = chosen[: n // 100], chosen[n // 100 :]
    change = rng.random((len(copies), 128)) < 0.1
    noise = rng.integers(0, 2**32, size=change.shape, dtype=np.uint64).astype(np.uint32)
    values[copies] = np.where(change, noise, values[originals])
    return values


def load_pg(url: str, keys: np.ndarray, kind: str) -> dict[str, float]:
    import psycopg

    with scratch_pg(url, "spintrace_bands") as target_url:
        target = target_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE lsh_bands (document_id integer, kind varchar(32), band integer, "
                "key bigint, PRIMARY KEY (document_id, kind, band))"
            )
            n, bands = keys.shape
            start = time.perf_counter()
            with conn.cursor().copy(
                "COPY lsh_bands (document_id, kind, band, key) FROM STDIN"
            ) as copy:
                for doc in range(n):
                    for band in range(bands):
                        copy.write_row((doc + 1, kind, band, int(keys[doc, band])))
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            conn.execute("CREATE INDEX ix_lsh_bands_kind_band_key ON lsh_bands (kind, band, key)")
            indexed = time.perf_counter() - start
            conn.execute("ANALYZE lsh_bands")
            size = conn.execute("SELECT pg_total_relation_size('lsh_bands')").fetchone()[0]
            new = list(range(1, n + 1, max(1, n // 1000)))[:1000]
            start = time.perf_counter()
            pairs = conn.execute(
                "SELECT DISTINCT a.document_id, b.document_id FROM lsh_bands a JOIN lsh_bands b "
                "ON b.kind = a.kind AND b.band = a.band AND b.key = a.key "
                "AND b.document_id <> a.document_id WHERE a.kind = %s AND a.document_id = ANY(%s)",
                (kind, new),
            ).fetchall()
            query = time.perf_counter() - start
        return {
            "rows_per_s": n * bands / loaded,
            "index_s": indexed,
            "bytes_per_doc": size / n,
            "query_ms_per_doc": query * 1000 / len(new),
            "pairs": len(pairs),
        }


def load_sqlite(path: Path, keys: np.ndarray, kind: str) -> dict[str, float]:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE lsh_bands (document_id integer, kind varchar(32), band integer, "
        "key bigint, PRIMARY KEY (document_id, kind, band))"
    )
    n, bands = keys.shape
    start = time.perf_counter()
    conn.executemany(
        "INSERT INTO lsh_bands VALUES (?, ?, ?, ?)",
        ((doc + 1, kind, band, int(keys[doc, band])) for doc in range(n) for band in range(bands)),
    )
    conn.commit()
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("CREATE INDEX ix_lsh_bands_kind_band_key ON lsh_bands (kind, band, key)")
    conn.commit()
    indexed = time.perf_counter() - start
    conn.execute("VACUUM")
    size = path.stat().st_size
    new = list(range(1, n + 1, max(1, n // 1000)))[:1000]
    start = time.perf_counter()
    marks = ",".join("?" * len(new))
    pairs = conn.execute(
        "SELECT DISTINCT a.document_id, b.document_id FROM lsh_bands a JOIN lsh_bands b "
        "ON b.kind = a.kind AND b.band = a.band AND b.key = a.key "
        f"AND b.document_id <> a.document_id WHERE a.kind = ? AND a.document_id IN ({marks})",
        [kind, *new],
    ).fetchall()
    query = time.perf_counter() - start
    conn.close()
    return {
        "rows_per_s": n * bands / loaded,
        "index_s": indexed,
        "bytes_per_doc": size / n,
        "query_ms_per_doc": query * 1000 / len(new),
        "pairs": len(pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dev")
    parser.add_argument("--previous", metavar="REF", help="a previous release to compare with")
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--pg", default=PG_ADMIN)
    parser.add_argument("--skip-indexing", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="indexing runs per side (1)")
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="spintrace-dups-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_indexing:
            data = args.data.resolve()
            release = (
                extract_release(args.previous, tmp / "previous-release") if args.previous else None
            )
            sides: dict[str, list[tuple[float, float]]] = {"this tree": []}
            if release is not None:
                sides[args.previous] = []
            for repeat in range(args.repeats):
                # Interleaved, the order turning each repeat: a busy spell hits both sides.
                order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
                for side in order:
                    other = release if side != "this tree" else None
                    sides[side].append(indexing(data, other, tmp))
            print(
                f"\n(1) dev sources ({args.data}): index step / whole match (s), median of "
                f"{args.repeats}"
            )
            medians = {
                side: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
                for side, runs in sides.items()
            }
            for side, (index_s, match_s) in medians.items():
                print(f"  {side:<17} {index_s:6.2f} / {match_s:6.2f}")
            if release is not None:
                this, before = medians["this tree"], medians[args.previous]
                pairs = zip(sides["this tree"], sides[args.previous], strict=True)
                paired = [a[0] / b[0] for a, b in pairs]
                print(
                    f"  ratio this/previous: {this[0] / before[0]:.2f} / {this[1] / before[1]:.2f}"
                    f" (index step per repeat: {', '.join(f'{r:.2f}' for r in paired)})"
                )
        if args.docs <= 0:
            return
        print(f"\n(2) band table, {args.docs:,} synthetic signatures (1% planted near-duplicates)")
        values = signatures(args.docs)
        for label, banding in BANDINGS.items():
            start = time.perf_counter()
            keys = band_keys(values, banding)
            per_s = args.docs / (time.perf_counter() - start)
            print(f"\n  {label}: {banding.bands} x {banding.rows}; band keys {per_s:,.0f} docs/s")
            for engine in ("PostgreSQL", "SQLite"):
                (tmp / "bands.db").unlink(missing_ok=True)
                got = (
                    load_pg(args.pg, keys, label)
                    if engine == "PostgreSQL"
                    else load_sqlite(tmp / "bands.db", keys, label)
                )
                print(
                    f"    {engine:<10} load {got['rows_per_s']:,.0f} rows/s; index built in "
                    f"{got['index_s']:.1f} s; {got['bytes_per_doc']:.0f} B/doc (table + "
                    f"indexes); candidates of 1,000 new docs {got['query_ms_per_doc']:.2f} "
                    f"ms/doc ({got['pairs']} pairs)"
                )


if __name__ == "__main__":
    main()
