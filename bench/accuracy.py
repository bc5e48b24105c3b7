"""Accuracy of spintrace on a labelled dev set, next to plain MinHash LSH baselines.

Runs the real CLI (``db upgrade``, ``sources import``, ``pages import``, ``match``, ``export
matches``) on a fresh SQLite database per form, scores every stored link against
``truth.csv``, and computes two datasketch MinHash LSH baselines in the same run (no spintrace
code; each links a page to its top candidate only). ``truth.csv`` is either one row per page
(``dev``: the page's source, or empty) or one row per (page, source) pair that must be linked
(``dev2``, ``dev-llm``: with a ``kind``; a page that copies nothing has one row with an empty
source): recall is over required pairs, a false link is any link of a page that copies nothing,
a wrong link any link of a copying page to a source it did not copy.

With ``--previous REF`` (a git commit or tag of an earlier release) the same steps also run,
text form, with that release's code (``git archive REF`` into a temporary directory, put first
on ``sys.path``; same interpreter and libraries), and its scores and matching speed are printed
beside this tree's, measured in the same run.

Usage: ``python bench/accuracy.py [--data DIR] [--form text|html|both] [--db-dir DIR]
[--jobs] [--json FILE] [--previous REF]``. See bench/README.md and docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datasketch
from datasketch import MinHash, MinHashLSH

from spintrace.db.urls import canonical_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import CLI, cli_of, extract_release, print_header  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"
PAGE_FILES = {"text": "pages_text.jsonl", "html": "pages_html.jsonl"}
BASELINES = {"5-gram LSH": (5, 0.5), "3-gram LSH": (3, 0.2)}  # shingle words, LSH threshold
METHODS = ("spintrace", *BASELINES)
DIMENSIONS = ("spinner", "rate", "keep_frac", "shuffle", "boilerplate")
WORD = re.compile(r"\w+")
NUM_PERM = 128

Links = dict[str, set[str]]  # page URL -> source URLs it is linked to


@dataclass
class Score:
    """Link outcomes of one method over the required pairs, overall and per truth attribute."""

    copies: int = 0  # required (page, source) pairs
    correct: int = 0  # of those, linked
    wrong_sources: int = 0  # links of copying pages to sources they did not copy
    non_copies: int = 0  # pages that copy nothing
    false_links: int = 0  # of those, pages with any link
    groups: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # dim -> value -> [n, ok]

    @property
    def recall(self) -> float:
        return self.correct / self.copies if self.copies else 0.0


@dataclass
class FormRun:
    """One form's CLI run: step timings, the CLI's own summary lines, and its scores."""

    form: str
    seconds: dict[str, float] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    unknown_pages: int = 0
    scores: dict[str, Score] = field(default_factory=dict)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def dimensions(truth: list[dict[str, str]]) -> tuple[str, ...]:
    """The attributes to report recall by: dev's spin settings, or the pair sets' kinds."""
    if truth and "kind" in truth[0]:
        return ("kind", "spinner", "rate")
    return DIMENSIONS


def group_values(row: dict[str, str], dims: tuple[str, ...]) -> dict[str, str]:
    values = {dim: row.get(dim, "") for dim in dims}
    if row.get("spinner") == "moby" and "consistent" in row:
        values["spinner"] = "moby-consistent" if row["consistent"] == "True" else "moby-random"
    if values.get("rate"):
        values["rate"] = f"{float(values['rate']):.1f}"
    return values


def score(truth: list[dict[str, str]], links: Links) -> Score:
    dims = dimensions(truth)
    result = Score(groups={dim: {} for dim in dims})
    required: dict[str, set[str]] = {}
    for row in truth:
        if row["source_url"]:
            required.setdefault(row["page_url"], set()).add(row["source_url"])
    for row in truth:
        linked = links.get(row["page_url"], set())
        if not row["source_url"]:
            result.non_copies += 1
            result.false_links += bool(linked)
            continue
        ok = row["source_url"] in linked
        result.copies += 1
        result.correct += ok
        for dim, value in group_values(row, dims).items():
            cell = result.groups[dim].setdefault(value, [0, 0])
            cell[0] += 1
            cell[1] += ok
    for page, sources in required.items():
        result.wrong_sources += len(links.get(page, set()) - sources)
    return result


def shingle_minhash(text: str, n: int) -> MinHash | None:
    words = WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
    if not shingles:
        return None
    minhash = MinHash(num_perm=NUM_PERM)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


def minhash_baseline(sources: dict[str, str], pages: dict[str, str], n: int, t: float) -> Links:
    """Plain near-duplicate linking: LSH candidates, top link = highest estimated Jaccard."""
    lsh = MinHashLSH(threshold=t, num_perm=NUM_PERM)
    signatures: dict[str, MinHash] = {}
    for url, text in sources.items():
        if (minhash := shingle_minhash(text, n)) is not None:
            lsh.insert(url, minhash)
            signatures[url] = minhash
    links: Links = {}
    for url, text in pages.items():
        if (minhash := shingle_minhash(text, n)) is None:
            continue
        candidates = lsh.query(minhash)
        if candidates:
            links[url] = {max(candidates, key=lambda c: (minhash.jaccard(signatures[c]), c))}
    return links


def run_step(db_url: str, cwd: Path, *args: str, cli: list[str] = CLI) -> tuple[float, list[str]]:
    start = time.perf_counter()
    proc = subprocess.run([*cli, "--db", db_url, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"error: `spintrace {shlex.join(args)}` exited {proc.returncode}:\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return elapsed, [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def all_links(export: Path) -> Links:
    """Every stored link of the matches export, URLs in their canonical form (truth.csv's are
    canonicalised the same way)."""
    links: Links = {}
    with export.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            links.setdefault(canonical_url(row["page_url"]), set()).add(
                canonical_url(row["source_url"])
            )
    return links


def run_form(
    form: str, data: Path, db_dir: Path, counts: dict[str, int], release: Path | None = None
) -> tuple[FormRun, Links]:
    tag = "-previous" if release is not None else ""
    db_path = db_dir / f"accuracy-{form}{tag}.db"
    export = db_dir / f"matches-{form}{tag}.csv"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), export):
        stale.unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path}"
    pages = str(data / PAGE_FILES[form])
    steps: list[tuple[str, tuple[str, ...], int]] = [  # name, CLI arguments, items handled
        ("db upgrade", ("db", "upgrade"), 0),
        ("sources import", ("sources", "import", str(data / "sources.jsonl")), counts["sources"]),
        ("pages import", ("pages", "import", pages), counts["pages"]),
        ("match", ("match",), counts["pages"]),
        ("export matches", ("export", "matches", "--format", "csv", "--output", str(export)), 0),
    ]
    run = FormRun(form + (" (previous release)" if release is not None else ""))
    for name, args, items in steps:
        print(f"[{run.form}] {name} ...", file=sys.stderr, flush=True)
        run.seconds[name], lines = run_step(db_url, db_dir, *args, cli=cli_of(release))
        run.items[name] = items
        run.log.extend(f"{name}: {line}" for line in lines)
    return run, all_links(export)


def matched_per_second(log: list[str]) -> float:
    """The pages/s the ``match`` command reported (its matching step only)."""
    for line in log:
        if found := re.search(r"\((\d+) pages/s\)", line):
            return float(found.group(1))
    return 0.0


def print_run_header(data: Path, counts: dict[str, int]) -> None:
    overrides = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("SPINTRACE_"))
    print_header()
    print(f"data:     {data}")
    print(
        f"          {counts['sources']} sources; {counts['pages']} pages; {counts['copies']} "
        "required (page, source) pairs"
    )
    print(f"settings: {', '.join(overrides) or 'defaults (no SPINTRACE_* variables set)'}")
    print(
        f"baselines: datasketch {datasketch.__version__} MinHash(num_perm={NUM_PERM}) + "
        "MinHashLSH on lowercase \\w+ word shingles of pages_text.jsonl (the same for both forms)"
    )


def print_form(run: FormRun, baseline_seconds: dict[str, float]) -> None:
    print(f"\n=== {run.form} form: {PAGE_FILES[run.form.split()[0]]} ===\n")
    print(f"{'step':<16}{'seconds':>9}{'items/s':>10}")
    for name, seconds in run.seconds.items():
        items = run.items.get(name)
        rate = f"{items / seconds:>10.1f}" if items else ""
        print(f"{name:<16}{seconds:>9.1f}{rate}")
    total = sum(run.seconds.values())
    print(f"{'total':<16}{total:>9.1f}")
    for name, seconds in baseline_seconds.items():
        print(f"{name + ' (all)':<16}{seconds:>9.1f}  (sign + index + query, in-process)")
    print()
    for line in run.log:
        print(f"  {line}")
    if run.unknown_pages:
        print(f"  WARNING: {run.unknown_pages} exported page URLs are not in truth.csv")
    scores = [run.scores[m] for m in METHODS]
    head = "".join(f"{m:>13}" for m in METHODS)
    print(f"\n{'':<28}{head}")
    first = scores[0]
    print(
        f"{f'pair recall (linked/{first.copies})':<28}"
        + "".join(f"{s.recall:>13.3f}" for s in scores)
    )
    print(
        f"{f'false links (pages/{first.non_copies})':<28}"
        + "".join(f"{s.false_links:>13}" for s in scores)
    )
    print(f"{'wrong links':<28}" + "".join(f"{s.wrong_sources:>13}" for s in scores))
    for dim in first.groups:
        print(f"\n{'by ' + dim:<22}{'n':>6}{head}")
        for value in sorted(first.groups[dim]):
            n = first.groups[dim][value][0]
            recalls = "".join(f"{s.groups[dim][value][1] / n:>13.3f}" for s in scores)
            print(f"  {value:<20}{n:>6}{recalls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--data", type=Path, default=DEFAULT_DATA, metavar="DIR", help="dev set (%(default)s)")
    add("--form", choices=("text", "html", "both"), default="both", help="pages file to import")
    add("--db-dir", type=Path, metavar="DIR", help="keep databases + exports here (default: tmp)")
    add("--jobs", action="store_true", help="run the forms in parallel (times then contend)")
    add("--json", type=Path, metavar="FILE", help="also write the numbers to FILE")
    add("--previous", metavar="REF", help="also run this git commit/tag's release (text form)")
    args = parser.parse_args()

    data = args.data.resolve()
    needed = ["truth.csv", "sources.jsonl", *PAGE_FILES.values()]
    if not data.is_dir() or (missing := [n for n in needed if not (data / n).is_file()]) == needed:
        sys.exit(f"error: dev set not found at {data} (pass --data DIR; see ../shared/data)")
    if missing:
        sys.exit(f"error: {data} lacks {', '.join(missing)}")
    with (data / "truth.csv").open(encoding="utf-8", newline="") as handle:
        truth = list(csv.DictReader(handle))
    for row in truth:  # as spintrace stores them (spintrace.db.urls)
        row["page_url"] = canonical_url(row["page_url"])
        row["source_url"] = canonical_url(row["source_url"]) if row["source_url"] else ""
    sources = {canonical_url(r["url"]): r["text"] for r in read_jsonl(data / "sources.jsonl")}
    pages = {canonical_url(r["url"]): r["text"] for r in read_jsonl(data / PAGE_FILES["text"])}
    counts = {
        "sources": len(sources),
        "pages": len({row["page_url"] for row in truth}),
        "copies": sum(1 for row in truth if row["source_url"]),
    }
    print_run_header(data, counts)

    baselines: dict[str, Score] = {}
    baseline_seconds: dict[str, float] = {}
    for name, (n, threshold) in BASELINES.items():
        print(f"[baseline] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        baselines[name] = score(truth, minhash_baseline(sources, pages, n, threshold))
        baseline_seconds[name] = time.perf_counter() - start

    forms = ["text", "html"] if args.form == "both" else [args.form]
    with tempfile.TemporaryDirectory(prefix="spintrace-accuracy-") as tmp:
        db_dir = (args.db_dir or Path(tmp)).resolve()
        db_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=len(forms) if args.jobs else 1) as pool:
            futures = [pool.submit(run_form, form, data, db_dir, counts) for form in forms]
            results = [future.result() for future in futures]
        if args.previous:
            release = extract_release(args.previous, Path(tmp) / "previous-release")
            results.append(run_form("text", data, db_dir, counts, release))
    known = {row["page_url"] for row in truth}
    for run, links in results:
        run.unknown_pages = len(set(links) - known)
        run.scores = {"spintrace": score(truth, links), **baselines}
        print_form(run, baseline_seconds)
    if args.jobs and len(forms) > 1:
        print("\n(--jobs: the forms ran in parallel, so their step times include contention)")
    if args.previous:
        speeds = {run.form: matched_per_second(run.log) for run, _ in results}
        now, before = speeds.get("text"), speeds.get("text (previous release)")
        print("\nmatching speed, text form (the match step's own pages/s, same run):")
        print(
            f"  this tree {now:.0f} pages/s; previous release {args.previous} {before:.0f} pages/s"
        )
        if now and before:
            print(f"  ratio this/previous: {now / before:.2f}")

    if args.json:
        report = {
            "command": sys.argv,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": str(data),
            "counts": counts,
            "baseline_seconds": baseline_seconds,
            "forms": {
                run.form: {
                    "seconds": run.seconds,
                    "match_pages_per_s": counts["pages"] / run.seconds["match"],
                    "matching_pages_per_s": matched_per_second(run.log),
                    "log": run.log,
                    "scores": {m: {**asdict(s), "recall": s.recall} for m, s in run.scores.items()},
                }
                for run, _links in results
            },
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
