"""Peak memory of the index merges at a given size, against a previous release, in one run.

A queued match run merges the thousand batch segments and frequency tables a million sources
leave into one of each (``spintrace.linking.stored.compact_index``); that merge set the peak
memory of a worker. This makes batches of that size without a database (random sketches of
``--postings`` features per source; random frequency tables of ``--keys`` keys per batch drawn
so that the million's distinct keys come out near the 51 million measured by
``bench/scale.py``), then in a fresh process per case reads them one at a time as a merge
reads stored rows, merges them and serialises the result, and prints the process's peak
resident size (``VmHWM``) for this tree and for ``--previous`` (a git ref), with the ratio.

Usage: ``python bench/merges.py [--sources 1000000] [--batch 1000] [--previous 9bc7834]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import extract_release, print_header  # noqa: E402

# Run in a fresh process with the tree to measure first on sys.path: merge what ``folder`` holds.
CHILD = """
import sys
from pathlib import Path
root, kind, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
sys.path.insert(0, root)
import numpy as np
from spintrace.matcher.index import ContainmentIndex, Segment
from spintrace.matcher.rarity import DocumentFrequencies

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024

before = peak()
if kind == "segments":
    files = sorted(folder.glob("s*.bin"))
    segments = [Segment.from_bytes(f.read_bytes()) for f in files]
    (merged,) = ContainmentIndex(segments).merged().segments
    del segments  # as the merge in the store frees its inputs before writing
    data = merged.to_bytes()
else:
    def tables():
        for f in sorted(folder.glob("t*.npy")):
            keys = np.load(f)
            yield DocumentFrequencies(keys, np.ones(len(keys), np.uint32), 1000)
    if hasattr(DocumentFrequencies, "merged_bytes"):
        data, _ = DocumentFrequencies.merged_bytes(tables())
    else:
        data = DocumentFrequencies.merge(tables()).to_bytes()
print(before, peak(), len(data))
"""


def make(folder: Path, sources: int, batch: int, postings: int, keys: int) -> None:
    from spintrace.matcher.index import Segment, Sketch

    rng = np.random.default_rng(7)
    batches = sources // batch
    # Uniform draws from a universe sized so that the distinct keys of all batches come out
    # near 51 million at a million sources (the size bench/scale.py measured).
    universe = int(70_000_000 * sources / 1_000_000)
    for b in range(batches):
        drawn = rng.integers(0, universe, keys, dtype=np.uint64)
        hashed = (drawn * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
        np.save(folder / f"t{b:05d}.npy", np.unique(hashed.astype(np.uint32)))
        entries = [
            (
                b * batch + i,
                Sketch(
                    np.unique(rng.integers(0, 2**32, postings, dtype=np.uint64)).astype(np.uint32),
                    1 << 20,
                ),
            )
            for i in range(batch)
        ]
        (folder / f"s{b:05d}.bin").write_bytes(Segment.build(entries).to_bytes())


def measure(root: Path, kind: str, folder: Path) -> tuple[int, int, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), kind, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, peak, _ = (int(x) for x in done.stdout.split())
    return before, peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="sources per batch (as queued)")
    parser.add_argument("--postings", type=int, default=70, help="stored features per source")
    parser.add_argument("--keys", type=int, default=93_000, help="distinct keys per batch table")
    parser.add_argument("--previous", default="9bc7834", help="the git ref to compare with")
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory() as tmp:
        folder, previous = Path(tmp) / "data", Path(tmp) / "previous"
        folder.mkdir()
        started = time.perf_counter()
        make(folder, args.sources, args.batch, args.postings, args.keys)
        print(
            f"made {args.sources // args.batch:,} batch segments and tables of {args.batch:,} "
            f"sources in {time.perf_counter() - started:.0f} s"
        )
        extract_release(args.previous, previous)
        for kind in ("segments", "tables"):
            rows = {}
            for name, root in (("this tree", REPO), (args.previous, previous)):
                before, peak, took = measure(root, kind, folder)
                rows[name] = peak
                print(
                    f"merge {kind:8} {name:>10}: peak RSS {peak:6,} MB "
                    f"(process {before:,} MB before reading; {took:.0f} s)"
                )
            ratio = rows["this tree"] / rows[args.previous]
            print(f"  ratio this tree / {args.previous}: {ratio:.2f}")


if __name__ == "__main__":
    main()
