"""Extraction quality: ``spintrace.ingest.extract.extract_html`` vs plain trafilatura, one run.

Data: the scrapinghub article-extraction-benchmark pages in ``../shared/data/html/scrapinghub``
(181 real article pages, ``html/<id>.html.gz``, and ``ground-truth.json`` with the expected
``articleBody`` and ``url`` of each). Every page is given, as the raw gzip-decompressed bytes and
its URL, to

- spintrace: ``extract_html(html, url)`` (the ``text`` field; ``None`` counts as empty), and
- plain trafilatura: ``trafilatura.extract(html, url=url)`` with its default settings,

interleaved page by page, each timed with ``time.perf_counter``. Scores are token-level: the
texts are lower-cased and split into ``\\w+`` tokens, compared as multisets (bags of words);
precision = shared tokens / extracted tokens, recall = shared tokens / expected tokens, F1 their
harmonic mean, per page, then averaged over pages (an empty extraction scores 0). A stricter
score on word 4-shingles (sets of 4 consecutive tokens, so order and boundaries matter) is
printed next to it.

``--variants`` also runs spintrace's extraction with other trafilatura options (through
``spintrace.ingest.extract._extract``, the function ``extract_html`` calls with its own options)
to document why the chosen options are the chosen ones. Last,
``spintrace.ingest.indicators.find_indicators`` is timed on the same pages (the crawler runs it
next to extraction) and the pages with each indicator kind are counted.

Usage: ``python bench/extraction.py [--data DIR] [--variants] [--worst N]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import shlex
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import trafilatura

from spintrace.ingest.extract import (
    FALLBACK_RATIO,
    FALLBACK_WORDS,
    PRECISE_OPTIONS,
    TRAFILATURA_OPTIONS,
    _extract,
    extract_html,
)
from spintrace.ingest.indicators import find_indicators

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/html/scrapinghub"
TOKEN = re.compile(r"\w+")

Extractor = Callable[[bytes, str | None], str | None]


@dataclass
class Scores:
    """Per-page scores and timings of one extractor."""

    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    shingle_f1: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    empty: int = 0


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def prf(expected: Counter[str], got: Counter[str]) -> tuple[float, float, float]:
    overlap = sum((expected & got).values())
    precision = overlap / sum(got.values()) if got else 0.0
    recall = overlap / sum(expected.values()) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def shingles(words: list[str], n: int = 4) -> Counter[str]:
    if len(words) < n:
        return Counter([" ".join(words)]) if words else Counter()
    return Counter({" ".join(words[i : i + n]): 1 for i in range(len(words) - n + 1)})


def spintrace_text(html: bytes, url: str | None) -> str | None:
    extracted = extract_html(html, url)
    return extracted.text if extracted else None


def trafilatura_text(html: bytes, url: str | None) -> str | None:
    return trafilatura.extract(html, url=url)


def variant(strip_heading: bool = True, **changes: Any) -> Extractor:
    options = {**TRAFILATURA_OPTIONS, **changes}

    def run(html: bytes, url: str | None) -> str | None:
        extracted = _extract(html, url, options, strip_heading=strip_heading)
        return extracted.text if extracted else None

    return run


# One trafilatura pass each, no fallback; "default options" is extract_html before the
# favor_precision + fallback change.
VARIANTS: dict[str, Extractor] = {
    "1 pass, default options": variant(),
    "1 pass, favor_precision=True": variant(favor_precision=True),
    "1 pass, favor_recall=True": variant(favor_recall=True),
    "1 pass, include_comments=True": variant(include_comments=True),
    "1 pass, include_tables=False": variant(include_tables=False),
    "1 pass, default options, heading kept": variant(strip_heading=False),
}


def load(folder: Path) -> list[tuple[str, bytes, str | None, str]]:
    truth_file = folder / "ground-truth.json"
    if not truth_file.is_file():
        sys.exit(
            f"extraction benchmark data not found: {truth_file} is missing.\n"
            "It is the scrapinghub article-extraction-benchmark, expected in "
            "../shared/data/html/scrapinghub beside the repository (or pass --data DIR)."
        )
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        html = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes())
        pages.append((key, html, truth[key].get("url"), truth[key]["articleBody"]))
    return pages


def run(
    pages: list[tuple[str, bytes, str | None, str]], extractors: dict[str, Extractor]
) -> dict[str, Scores]:
    scores = {name: Scores() for name in extractors}
    # Warm-up: imports and trafilatura's lazily built state are not per-page costs.
    for extractor in extractors.values():
        extractor(pages[0][1], pages[0][2])
    for number, (_, html, url, body) in enumerate(pages):
        expected_words = tokens(body)
        expected = Counter(expected_words)
        expected_shingles = shingles(expected_words)
        names = list(extractors)
        rotation = number % len(names)  # rotate the order so no side always runs first
        for name in names[rotation:] + names[:rotation]:
            start = time.perf_counter()
            text = extractors[name](html, url)
            scores[name].seconds.append(time.perf_counter() - start)
            words = tokens(text or "")
            if not words:
                scores[name].empty += 1
            precision, recall, f1 = prf(expected, Counter(words))
            scores[name].precision.append(precision)
            scores[name].recall.append(recall)
            scores[name].f1.append(f1)
            scores[name].shingle_f1.append(prf(expected_shingles, shingles(words))[2])
        print(f"\r{number + 1}/{len(pages)} pages", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return scores


def report(pages: int, scores: dict[str, Scores]) -> None:
    header = (
        f"{'extractor':<38} {'P':>6} {'R':>6} {'F1':>6} {'medF1':>6} {'4-shF1':>6} "
        f"{'empty':>5} {'ms/page':>8} {'p90 ms':>7}"
    )
    print(header)
    for name, s in scores.items():
        p90 = statistics.quantiles(s.seconds, n=10)[-1] * 1000
        print(
            f"{name:<38} {statistics.mean(s.precision):6.4f} {statistics.mean(s.recall):6.4f} "
            f"{statistics.mean(s.f1):6.4f} {statistics.median(s.f1):6.4f} "
            f"{statistics.mean(s.shingle_f1):6.4f} {s.empty:5d} "
            f"{statistics.mean(s.seconds) * 1000:8.1f} {p90:7.1f}"
        )
    base = scores["plain trafilatura.extract"]
    ours = scores["spintrace extract_html"]
    diff = [a - b for a, b in zip(ours.f1, base.f1, strict=True)]
    print(
        f"\nspintrace - plain trafilatura, per page F1: mean {statistics.mean(diff):+.4f}; "
        f"better on {sum(d > 0.001 for d in diff)}, worse on {sum(d < -0.001 for d in diff)}, "
        f"equal on {sum(abs(d) <= 0.001 for d in diff)} of {pages} pages"
    )
    print(f"time ratio spintrace / plain trafilatura: {sum(ours.seconds) / sum(base.seconds):.2f}x")


def worst(pages: list[tuple[str, bytes, str | None, str]], scores: Scores, count: int) -> None:
    print(f"\nlowest spintrace F1 ({count} pages):")
    order = sorted(range(len(pages)), key=lambda i: scores.f1[i])[:count]
    for i in order:
        print(
            f"  {pages[i][0]}  P {scores.precision[i]:.3f} R {scores.recall[i]:.3f} "
            f"F1 {scores.f1[i]:.3f}  {pages[i][2]}"
        )


def indicators(pages: list[tuple[str, bytes, str | None, str]]) -> None:
    """Time ``find_indicators`` on the same pages (the crawler runs it next to extraction)."""
    seconds: list[float] = []
    pages_with: Counter[str] = Counter()
    for _, html, url, _ in pages:
        start = time.perf_counter()
        found = find_indicators(html, url or "")
        seconds.append(time.perf_counter() - start)
        pages_with.update({item.kind for item in found})
    p90 = statistics.quantiles(seconds, n=10)[-1] * 1000
    print(
        f"\nfind_indicators: {statistics.mean(seconds) * 1000:.1f} ms/page mean, p90 {p90:.1f}, "
        f"max {max(seconds) * 1000:.1f}; pages with each kind:"
    )
    print("  " + ", ".join(f"{kind} {count}" for kind, count in pages_with.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="scrapinghub folder")
    parser.add_argument("--variants", action="store_true", help="also run option variants")
    parser.add_argument("--worst", type=int, default=0, help="list the N lowest-F1 pages")
    args = parser.parse_args()

    pages = load(args.data)
    extractors: dict[str, Extractor] = {
        "spintrace extract_html": spintrace_text,
        "plain trafilatura.extract": trafilatura_text,
    }
    if args.variants:
        extractors.update(VARIANTS)
    print(f"command:  python {shlex.join(['bench/extraction.py', *sys.argv[1:]])}")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"versions: python {platform.python_version()}, trafilatura {version('trafilatura')}, "
        f"lxml {version('lxml')}, htmldate {version('htmldate')}, justext {version('justext')}"
    )
    print(
        f"spintrace: {PRECISE_OPTIONS}, with_metadata=True, heading stripped; when that gives "
        f"< {FALLBACK_WORDS} words, the same without favor_precision if over "
        f"{1 / FALLBACK_RATIO:g}x longer"
    )
    print(f"data:     {args.data} - {len(pages)} pages")
    print("scores:   token multiset P/R/F1 per page, mean over pages; 4-shF1 = word 4-shingles\n")
    scores = run(pages, extractors)
    report(len(pages), scores)
    if args.worst:
        worst(pages, scores["spintrace extract_html"], args.worst)
    indicators(pages)


if __name__ == "__main__":
    main()
