"""Import speed: ``sources import`` of synthetic text records into PostgreSQL and SQLite, this
tree (one multi-row INSERT per batch for records without HTML) against a previous release (one
ORM flush per record), measured in the same run.

The records are generated, not downloaded: ``--records`` articles of 250-900 words drawn from a
Zipf-distributed vocabulary, with a title and a date, on 200 sites. Each tree imports them into
a fresh database (created and dropped by this script on PostgreSQL), then imports them again
(nothing new: the same counts prove it idempotent). A few broken lines are mixed in, and each
import must report them.

Usage: ``python bench/import_speed.py --previous REF [--records 20000]
[--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import PG_ADMIN, cli_of, extract_release, print_header, scratch_pg  # noqa: E402


def records(path: Path, n: int, seed: int = 3) -> int:
    """Write ``n`` synthetic articles (and a broken line every 5,000); returns the broken."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(30_000)]
    ranks = np.arange(1, len(vocabulary) + 1)
    weights = 1.0 / ranks
    weights /= weights.sum()
    broken = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            words = rng.choice(len(vocabulary), size=int(rng.integers(250, 900)), p=weights)
            text = " ".join(vocabulary[w] for w in words)
            record = {
                "url": f"https://publisher{i % 200}.example/news/{i}",
                "title": f"Story {i}",
                "published": f"2026-0{1 + i % 9}-1{i % 10}",
                "text": text,
            }
            handle.write(json.dumps(record) + "\n")
            if i % 5000 == 4999:
                handle.write('{"url": "https://broken.example/x", "text": \n')
                broken += 1
    return broken


def run(cli: list[str], url: str, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*cli, "--db", url, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: some lines were rejected, as planted
        raise SystemExit(f"error: {shlex.join(args)}: {proc.stderr.strip()[-2000:]}")
    return seconds, proc.stdout + proc.stderr


def measure(cli: list[str], url: str, data: Path) -> tuple[float, str, str]:
    run(cli, url, "db", "upgrade")
    seconds, first = run(cli, url, "sources", "import", str(data))
    _, again = run(cli, url, "sources", "import", str(data))
    summary = re.compile(r"\d+ new, \d+ unchanged, \d+ rejected")
    return seconds, summary.search(first).group(0), summary.search(again).group(0)  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--previous", required=True, metavar="REF")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--pg", default=PG_ADMIN)
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="spintrace-import-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "sources.jsonl"
        broken = records(data, args.records)
        print(f"records:  {args.records:,} synthetic articles (+{broken} broken lines)\n")
        release = extract_release(args.previous, tmp / "previous-release")
        seconds: dict[tuple[str, str], float] = {}
        for backend in ("PostgreSQL", "SQLite"):
            for label, root in (("this tree", None), (args.previous, release)):
                if backend == "PostgreSQL":
                    with scratch_pg(args.pg, "spintrace_import") as url:
                        took, first, again = measure(cli_of(root), url, data)
                else:
                    url = f"sqlite:///{tmp / f'import-{len(seconds)}.db'}"
                    took, first, again = measure(cli_of(root), url, data)
                seconds[backend, label] = took
                print(
                    f"{backend:<10} {label:<10} {took:7.1f} s  {args.records / took:8,.0f} "
                    f"records/s   first: {first}; again: {again}"
                )
            ratio = seconds[backend, args.previous] / seconds[backend, "this tree"]
            print(f"{backend:<10} speed-up of this tree: {ratio:.1f}x\n")


if __name__ == "__main__":
    main()
