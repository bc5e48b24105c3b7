"""Linking copies made by a spinner spintrace knows nothing about.

The dev set's spinners draw on WordNet-like and Moby thesauri, which spintrace ships. The
held-out judgement also uses spinners whose thesaurus is not available, including one that swaps
words for *unrelated* words. This script builds such copies from the dev sources — every
lower-case, non-stopword word replaced with probability ``rate`` by a random word of the corpus
vocabulary; the first ``keep`` share of the paragraphs kept; half of them with paragraphs
shuffled — adds the dev set's 250 non-copies, runs the library's import + match on a fresh
SQLite database, and prints recall per rate and kept share, false links and wrong sources.

Usage: ``python bench/robustness.py [--data DIR] [--copies 300] [--seed 7]``
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from spintrace.db import open_engine, upgrade
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.matcher.features import STOPWORDS
from spintrace.reports.export import iter_rows

RATES = (0.2, 0.3, 0.4, 0.5)
KEEPS = (0.35, 0.5, 1.0)


def spin(text: str, rate: float, vocabulary: list[str], rng: random.Random) -> str:
    def replace(m: re.Match[str]) -> str:
        word = m.group()
        if word.lower() in STOPWORDS or word[0].isupper() or rng.random() > rate:
            return word
        return rng.choice(vocabulary)

    return re.sub(r"[A-Za-z]+", replace, text)


def main() -> None:
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not (args.data / "sources.jsonl").is_file():
        sys.exit(f"dev set not found at {args.data} (pass --data DIR)")
    rng = random.Random(args.seed)
    sources = [json.loads(line) for line in (args.data / "sources.jsonl").open()]
    vocabulary = sorted(
        {w for s in sources for w in re.findall(r"[a-z]+", s["text"]) if len(w) > 3}
    )
    pages, truth = [], {}
    for k, source in enumerate(rng.sample(sources, args.copies)):
        rate, keep = rng.choice(RATES), rng.choice(KEEPS)
        paragraphs = source["text"].split("\n\n")
        kept = paragraphs[: max(1, round(len(paragraphs) * keep))]
        if rng.random() < 0.5:
            rng.shuffle(kept)
        url = f"https://unknown-spinner.example/{k}"
        pages.append({"url": url, "text": spin("\n\n".join(kept), rate, vocabulary, rng)})
        truth[url] = (source["url"], rate, keep)
    with (args.data / "truth.csv").open(newline="") as handle:
        negatives = {r["page_url"] for r in csv.DictReader(handle) if not r["source_url"]}
    for line in (args.data / "pages_text.jsonl").open():
        page = json.loads(line)
        if page["url"] in negatives:
            pages.append({"url": page["url"], "text": page["text"]})
            truth[page["url"]] = (None, 0.0, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "pages.jsonl"
        page_file.write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
        engine = open_engine(f"sqlite:///{tmp}/robustness.db", create=True)
        upgrade(engine)
        import_file(engine, args.data / "sources.jsonl", "source")
        import_file(engine, page_file, "page")
        report = match_pages(engine)
        links = {row["page_url"]: row["source_url"] for row in iter_rows(engine, "matches")}
        engine.dispose()
    cells: defaultdict[tuple[float, float], list[int]] = defaultdict(lambda: [0, 0])
    false_links = wrong = 0
    for url, (source_url, rate, keep) in truth.items():
        if source_url is None:
            false_links += url in links
            continue
        cells[rate, keep][1] += 1
        if links.get(url) == source_url:
            cells[rate, keep][0] += 1
        elif url in links:
            wrong += 1
    found = sum(c[0] for c in cells.values())
    print(f"command:  python bench/robustness.py --copies {args.copies} --seed {args.seed}")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"pages:    {args.copies} unrelated-word spun copies + {len(negatives)} non-copies")
    print(f"matched:  {report.checked} pages in {report.match_seconds:.1f} s")
    print(
        f"recall {found}/{args.copies} = {found / args.copies:.3f}; "
        f"false links {false_links}/{len(negatives)}; wrong sources {wrong}"
    )
    print("\nrate  kept   found/copies")
    for (rate, keep), (ok, n) in sorted(cells.items()):
        print(f"{rate:4.1f}  {keep:4.2f}   {ok:3d}/{n}")


if __name__ == "__main__":
    main()
