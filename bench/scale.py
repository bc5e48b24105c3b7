"""Scale run on the local PostgreSQL: synthetic sources imported, indexed and queried, pages
matched, by 1 and by 2 queued workers (``spintrace worker``) measured in the same run.

Generates ``--sources`` source articles (made-up words in the structure of news text: function
words, two topics' words, a long tail, names and numbers, see :class:`Corpus`; lengths
log-normal around 450 words) and ``--pages`` pages (a third copy a
source with words changed and padding added, a sixth carry an excerpt, the rest copy nothing),
nothing downloaded. Then, in a fresh database:

1. ``spintrace sources import`` and ``pages import`` (rows/s);
2. ``spintrace match --queue`` run by 1 worker, then — the index, links and checks dropped —
   by 2 workers: index and match wall time from the jobs' own start and end times, CPU seconds
   per worker process and of the PostgreSQL server processes, peak RSS per worker (its own,
   its index merge children's, and the largest sum of both at one moment), and
   whether both runs stored the same links;
3. the stored sizes per source (containment index, frequency tables, tokens, signatures, band
   table), candidate-query latency (p50/p99 over 2,000 pages, index in memory), and a matching
   worker's memory step by step (``bench/memory.py``);
4. per run, recall against what the generator made: copies and excerpts linked to the source
   they copy, pages that copy nothing linked at all, links to another source.

Usage: ``python bench/scale.py [--sources 100000] [--pages 10000] [--runs 1,2] [--data DIR]
[--pg ADMIN_URL]``; ``--data`` keeps the generated files for the next run of the same sizes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

from spintrace.db import open_engine, upgrade
from spintrace.matcher.features import STOPWORDS

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import CLI, PG_ADMIN, print_header, scratch_pg  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# The line a worker logs after an index merge (spintrace.jobs.merge.merge_in_subprocess).
MERGE_PEAK = re.compile(r"merge process peak RSS (\d+) MB")


def vocabulary(rng: np.random.Generator, size: int = 40_000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    words = set()
    while len(words) < size:
        n = int(rng.integers(1, 4))
        words.add("".join(syllables[int(i)] for i in rng.integers(0, len(syllables), n)))
    return sorted(words)


class Corpus:
    """Made-up news text with the structure of the real thing: function words (spintrace's
    own stopword list, so stopword-only shingles are dropped as in English), words of the
    article's two topics (3,000 topics of 250 words each), a long tail of other words, names
    and numbers. Unrelated articles share little beyond function words, as real ones do."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.words = vocabulary(rng)
        self.stop = sorted(STOPWORDS)
        rng.shuffle(self.words)  # rank order unrelated to spelling
        rng.shuffle(self.stop)
        weights = 1.0 / np.arange(1, len(self.words) + 1) ** 0.9
        self.topics = [
            rng.choice(len(self.words), size=250, replace=False, p=weights / weights.sum())
            for _ in range(3000)
        ]

    def article(self, n: int) -> str:
        rng, words = self.rng, self.words
        topics = [self.topics[int(t)] for t in rng.integers(0, len(self.topics), 2)]
        kind = rng.random(n)
        stop = np.minimum(rng.zipf(1.3, n) - 1, len(self.stop) - 1)
        topic = rng.integers(0, 2, n)
        in_topic = np.minimum(rng.zipf(1.15, n) - 1, 249)
        tail = np.minimum(rng.zipf(1.1, n) - 1, len(words) - 1)
        out = []
        for i in range(n):
            if kind[i] < 0.45:
                out.append(self.stop[stop[i]])
            elif kind[i] < 0.85:
                out.append(words[topics[topic[i]][in_topic[i]]])
            elif kind[i] < 0.96:
                out.append(words[tail[i]])
            elif kind[i] < 0.98:
                out.append(str(int(rng.integers(2, 99_999))))
            else:
                out.append(words[int(rng.integers(0, len(words)))].capitalize())
        for i in range(0, n, int(rng.integers(9, 22))):
            out[i] = out[i].capitalize()
            if i:
                out[i - 1] += "."
        return " ".join(out) + "."


def generate(folder: Path, sources: int, pages: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(20261130)
    corpus = Corpus(rng)
    words = corpus.words
    source_file, page_file = folder / "sources.jsonl.gz", folder / "pages.jsonl.gz"
    copied: dict[int, str] = {}
    wanted = set(rng.choice(sources, size=pages // 2, replace=False).tolist())
    with gzip.open(source_file, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(sources):
            n = int(np.clip(rng.lognormal(np.log(450), 0.5), 80, 2500))
            body = corpus.article(n)
            if i in wanted:
                copied[i] = body
            url = f"https://publisher{i % 500}.example/{i}"
            out.write(json.dumps({"url": url, "text": body, "title": f"Story {i}"}) + "\n")
    keys = sorted(copied)
    with gzip.open(page_file, "wt", encoding="utf-8", compresslevel=1) as out:
        for j in range(pages):
            kind = j % 6
            if kind in (0, 1) and keys:
                tokens = copied[keys[j % len(keys)]].split()
                for k in rng.integers(0, len(tokens), len(tokens) // 5):  # a fifth changed
                    tokens[int(k)] = words[int(rng.integers(0, len(words)))]
                pad = corpus.article(int(rng.integers(50, 400)))
                body = " ".join(tokens) + " " + pad
            elif kind == 2 and keys:
                tokens = copied[keys[(j * 7) % len(keys)]].split()
                start = int(rng.integers(0, max(1, len(tokens) - 120)))
                pad = corpus.article(int(rng.integers(200, 600)))
                body = pad + " " + " ".join(tokens[start : start + 120])
            else:
                body = corpus.article(int(rng.integers(150, 900)))
            out.write(
                json.dumps({"url": f"https://farm{j % 40}.example/p/{j}", "text": body}) + "\n"
            )
    return source_file, page_file


def page_truth(sources: int, pages: int) -> dict[str, tuple[str, str]]:
    """What :func:`generate` made each page of: page URL -> (kind, URL of the source it copies,
    empty for none), drawn again from the same seed (only the corpus and the draw of copied
    sources, not the articles: a second)."""
    rng = np.random.default_rng(20261130)
    Corpus(rng)
    keys = sorted(set(rng.choice(sources, size=pages // 2, replace=False).tolist()))
    truth = {}
    for j in range(pages):
        kind = j % 6
        url = f"https://farm{j % 40}.example/p/{j}"
        if kind in (0, 1) and keys:
            i = keys[j % len(keys)]
            truth[url] = ("spun copy", f"https://publisher{i % 500}.example/{i}")
        elif kind == 2 and keys:
            i = keys[(j * 7) % len(keys)]
            truth[url] = ("excerpt", f"https://publisher{i % 500}.example/{i}")
        else:
            truth[url] = ("no copy", "")
    return truth


def recall(links: set[tuple[str, ...]], truth: dict[str, tuple[str, str]]) -> str:
    """Per kind of page: how many are linked to the source they copy (or, for pages that copy
    nothing, linked at all), and links to any other source."""
    linked: dict[str, set[str]] = {}
    for page, source, *_ in links:
        linked.setdefault(page, set()).add(source)
    parts = []
    for kind in ("spun copy", "excerpt", "no copy"):
        urls = [u for u, (k, _) in truth.items() if k == kind]
        if kind == "no copy":
            hit = sum(1 for u in urls if u in linked)
            parts.append(f"{kind} {hit}/{len(urls)} linked (false links)")
        else:
            hit = sum(1 for u in urls if truth[u][1] in linked.get(u, ()))
            parts.append(f"{kind} {hit}/{len(urls)} linked to their source")
    other = sum(
        1 for u, found in linked.items() for s in found if truth.get(u, ("", ""))[1] not in ("", s)
    )
    return "; ".join(parts) + f"; {other} links to another source"


def generated(tmp: Path, sources: int, pages: int, keep: Path | None) -> tuple[Path, Path]:
    """The generated files: made in ``tmp``, or in ``keep`` and reused from there by a later
    run with the same sizes (generating a million sources takes the better part of an hour;
    the generator is seeded, so the files are the same either way)."""
    if keep is None:
        return generate(tmp, sources, pages)
    folder = keep / f"{sources}-{pages}"
    done = folder / "complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, sources, pages)
        done.write_text("generated by bench/scale.py\n")
    else:
        print(f"reusing the files generated in {folder}")
    return folder / "sources.jsonl.gz", folder / "pages.jsonl.gz"


def cli(url: str, *args: str) -> str:
    done = subprocess.run([*CLI, "--db", url, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"spintrace {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / TICKS


def proc_memory(pid: int, field: str) -> int:
    """``VmHWM`` (peak resident size) or ``VmRSS`` (resident now) of ``pid``, in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (a worker's merge and crawl children) and theirs."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [grandchild for c in found for grandchild in child_pids(c)]


def postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += proc_cpu(int(entry.name))
            except OSError:
                continue
    return total


def _seconds(engine: object, where: str, params: dict[str, str], first: str) -> float:
    """Wall seconds from the ``first`` ('min' or 'max') start to the last success of the jobs
    chosen by ``where``, from procrastinate's own events."""
    with engine.connect() as c:  # type: ignore[attr-defined]
        row = c.execute(
            text(
                "SELECT extract(epoch FROM max(e.at) FILTER (WHERE e.type = 'succeeded') "
                f"- {first}(e.at) FILTER (WHERE e.type = 'started')) FROM procrastinate_events e "
                f"JOIN procrastinate_jobs j ON j.id = e.job_id WHERE {where}"
            ),
            params,
        ).scalar()
    return float(row or 0.0)


def stage_times(engine: object, task: str) -> float:
    """Wall seconds from the first start to the last success of ``task``'s jobs."""
    return _seconds(engine, "j.task_name = :t", {"t": f"spintrace:{task}"}, "min")


def last_stage(engine: object) -> float:
    """Wall seconds of the match run's last stage (the finish step)."""
    last = "j.id = (SELECT max(id) FROM procrastinate_jobs WHERE task_name = :t)"
    return _seconds(engine, last, {"t": "spintrace:match_run"}, "max")


def queued_run(url: str, engine: object, workers: int) -> dict[str, object]:
    with engine.begin() as c:  # type: ignore[attr-defined]
        if c.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is not None:
            c.execute(text("DELETE FROM procrastinate_jobs"))
    cli(url, "match", "--queue")
    pg_before = postgres_cpu()
    started = time.perf_counter()
    # Each worker's log (-v: info) says the peak of each index merge child it ran.
    logs = [tempfile.TemporaryFile() for _ in range(workers)]  # noqa: SIM115 (closed below)
    procs = [
        subprocess.Popen(
            [*CLI, "-v", "--db", url, "worker", "--burst"], stdout=subprocess.DEVNULL, stderr=log
        )
        for log in logs
    ]
    cpu = dict.fromkeys(range(workers), 0.0)
    # Peak resident size of each worker (its own, exact: VmHWM), of its merge children (their
    # VmHWM, as it reported it), and the largest sum of the resident sizes of the worker and
    # its children at one moment (sampled every half second; shared pages count twice).
    rss = dict.fromkeys(range(workers), 0)
    together = dict.fromkeys(range(workers), 0)
    while any(p.poll() is None for p in procs):
        for i, p in enumerate(procs):
            if p.poll() is None:
                cpu[i] = max(cpu[i], proc_cpu(p.pid))
                rss[i] = max(rss[i], proc_memory(p.pid, "VmHWM"))
                now = sum(proc_memory(pid, "VmRSS") for pid in [p.pid, *child_pids(p.pid)])
                together[i] = max(together[i], now)
        time.sleep(0.5)
    wall = time.perf_counter() - started
    merge_rss = dict.fromkeys(range(workers), 0)
    for i, log in enumerate(logs):
        log.seek(0)
        for found in MERGE_PEAK.finditer(log.read().decode("utf-8", "replace")):
            merge_rss[i] = max(merge_rss[i], int(found.group(1)) * 2**20)
        log.close()
    with engine.connect() as c:  # type: ignore[attr-defined]
        links = c.execute(
            text(
                "SELECT p.url, s.url, round(m.score::numeric, 6) FROM matches m "
                "JOIN documents p ON p.id = m.page_id JOIN documents s ON s.id = m.source_id"
            )
        ).all()
        failed = c.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE status='failed'"))
    return {
        "wall": wall,
        "index": stage_times(engine, "index_batch"),
        "match": stage_times(engine, "match_batch"),
        "finish": last_stage(engine),
        "cpu": cpu,
        "rss": rss,
        "merge_rss": merge_rss,
        "together": together,
        "pg_cpu": postgres_cpu() - pg_before,
        "links": {tuple(map(str, row)) for row in links},
        "failed": failed,
    }


def reset(engine: object) -> None:
    with engine.begin() as c:  # type: ignore[attr-defined]
        # Learned substitutions too: the second run must start from what the first one did.
        tables = ("matches", "match_checks", "spin_pairs", "lsh_bands", "signatures")
        for table in (*tables, "substitution_sites", "substitutions"):
            c.execute(text(f"DELETE FROM {table}"))
        c.execute(text("DELETE FROM index_segments"))
        c.execute(text("DELETE FROM document_tokens"))
        c.execute(text("UPDATE documents SET work_id = NULL"))


def sizes(engine: object, sources: int) -> None:
    with engine.connect() as c:  # type: ignore[attr-defined]

        def one(sql: str) -> float:
            return float(c.scalar(text(sql)) or 0)

        rows = {
            "containment index (segments)": one(
                "SELECT sum(length(data)) FROM index_segments WHERE name LIKE 'containment%'"
            ),
            "frequency tables (rarity)": one(
                "SELECT sum(length(data)) FROM index_segments WHERE name LIKE 'rarity%'"
            ),
            "tokens (document_tokens)": one("SELECT pg_total_relation_size('document_tokens')"),
            "signatures": one("SELECT pg_total_relation_size('signatures')"),
            "band table (lsh_bands)": one("SELECT pg_total_relation_size('lsh_bands')"),
            "source texts (documents)": one("SELECT pg_total_relation_size('documents')"),
        }
    for name, total in rows.items():
        print(f"  {name:32} {total / sources:10.0f} B/source  ({total / 1e6:,.0f} MB)")


def query_latency(url: str, page_file: Path) -> None:
    from sqlalchemy.orm import Session

    from spintrace.linking.index import text_tokens_and_features
    from spintrace.linking.match import load_despinner
    from spintrace.linking.stored import load_index

    engine = open_engine(url)
    despinner = load_despinner(engine)
    with Session(engine) as session:
        started = time.perf_counter()
        index = load_index(session)
        load = time.perf_counter() - started
    texts = []
    with gzip.open(page_file, "rt", encoding="utf-8") as lines:
        for line in lines:
            texts.append(json.loads(line)["text"])
            if len(texts) >= 2000:
                break
    features = [text_tokens_and_features(despinner, t, source=False)[1] for t in texts]
    times = []
    for f in features:
        t0 = time.perf_counter()
        index.candidates(f, limit=10)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    print(
        f"candidate query (index in memory, loaded in {load:.1f} s): "
        f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, "
        f"max {ms.max():.2f} ms over {len(ms)} pages"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--pg", default=PG_ADMIN, help="an admin URL of the PostgreSQL server")
    parser.add_argument(
        "--runs", default="1,2", help="worker counts to run, in order (e.g. 2 alone at 1M)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the generated files in this folder and reuse them next time (same sizes)",
    )
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory() as tmp, scratch_pg(args.pg, "spintrace_scale") as url:
        started = time.perf_counter()
        source_file, page_file = generated(Path(tmp), args.sources, args.pages, args.data)
        print(
            f"generated {args.sources:,} sources, {args.pages:,} pages in "
            f"{time.perf_counter() - started:.0f} s"
            + (f" (kept in {args.data})" if args.data else "")
        )
        truth = page_truth(args.sources, args.pages)
        engine = open_engine(url, create=True)
        upgrade(engine)
        for role, file, count in (
            ("sources", source_file, args.sources),
            ("pages", page_file, args.pages),
        ):
            started = time.perf_counter()
            cli(url, role, "import", str(file))
            took = time.perf_counter() - started
            print(f"import {role}: {count / took:,.0f} rows/s ({took:.0f} s)")
        runs = {}
        counts = [int(n) for n in args.runs.split(",")]
        for workers in counts:
            if runs:
                reset(engine)
            runs[workers] = run = queued_run(url, engine, workers)
            cpu = ", ".join(f"{v:.0f}" for v in run["cpu"].values())  # type: ignore[attr-defined]
            rss = "; ".join(
                f"worker {own / 2**20:.0f} MB, its merge children {child / 2**20:.0f} MB, together "
                f"{both / 2**20:.0f} MB"
                for own, child, both in zip(
                    run["rss"].values(),  # type: ignore[attr-defined]
                    run["merge_rss"].values(),  # type: ignore[attr-defined]
                    run["together"].values(),  # type: ignore[attr-defined]
                    strict=True,
                )
            )
            print(
                f"{workers} worker{'s' * (workers > 1)}: index {run['index']:.0f} s "
                f"({args.sources / max(run['index'], 1e-9):,.0f} sources/s), match "
                f"{run['match']:.0f} s ({args.pages / max(run['match'], 1e-9):,.0f} pages/s), "
                f"finish (order, near-duplicates, learning) {run['finish']:.0f} s, "
                f"wall {run['wall']:.0f} s; worker CPU s [{cpu}], PostgreSQL CPU s "
                f"{run['pg_cpu']:.0f}; peak RSS [{rss}]; {len(run['links']):,} links; "
                f"failed jobs {run['failed']}"
            )
            print(f"  recall: {recall(run['links'], truth)}")  # type: ignore[arg-type]
            if workers == counts[0]:
                sizes(engine, args.sources)
        if 1 in runs and 2 in runs:
            one, two = runs[1], runs[2]
            print(
                f"speed-up of 2 workers over 1: index "
                f"{one['index'] / max(two['index'], 1e-9):.2f}x, match "
                f"{one['match'] / max(two['match'], 1e-9):.2f}x; same links: "
                f"{one['links'] == two['links']}"
            )
        engine.dispose()
        query_latency(url, page_file)
        # Where a matching worker's memory goes at this size (bench/memory.py, one process).
        probe = [sys.executable, str(REPO / "bench" / "memory.py"), "--db", url, "--pages", "500"]
        lines = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
        print("matching worker's memory by step (bench/memory.py --pages 500):")
        print("".join(line + "\n" for line in lines.splitlines() if line.startswith("  ")), end="")


if __name__ == "__main__":
    main()
