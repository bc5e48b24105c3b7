"""Where bench/scale.py's missed copies are lost: in the candidate query or in the link rule.

On a database matched from the files ``bench/scale.py --data DIR`` generated (kept: the scale
bench drops its own), for every page the generator made to copy a source and that has no link
to it, re-runs the page's candidate query and says why: the source shares no sampled feature
with the page, it is not among the page's candidates (with its two estimates and their rank),
or it is a candidate that the link rule did not link. The query runs with the substitutions
the match learned (the stored verdicts were made before), so a few pages find their source now.
Then, for the first ``--sample`` pages, how many true sources a few other candidate rules would
bring in, and at how many candidates (alignments) per page: the 0.08 floor at 0.05 and 0.03,
and the floor plus the best 3 sources by estimated containment whatever their estimate.

Usage::

    python bench/scale.py --sources 100000 --runs 1 --data /work/scale-data   # the files
    createdb -h 127.0.0.1 -U postgres scale100k
    spintrace --db postgresql+psycopg://postgres@127.0.0.1/scale100k db upgrade
    spintrace --db ... sources import /work/scale-data/100000-10000/sources.jsonl.gz
    spintrace --db ... pages import /work/scale-data/100000-10000/pages.jsonl.gz
    spintrace --db ... match
    python bench/candidates.py --db postgresql+psycopg://postgres@127.0.0.1/scale100k \\
        --sources 100000 [--pages 10000] [--sample 6000]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import print_header  # noqa: E402
from scale import page_truth  # noqa: E402

from spintrace.config import Settings  # noqa: E402
from spintrace.db import open_engine  # noqa: E402
from spintrace.linking.index import load_rarity, text_tokens_and_features  # noqa: E402
from spintrace.linking.judge import Judge  # noqa: E402
from spintrace.linking.match import load_despinner  # noqa: E402
from spintrace.linking.stored import load_index  # noqa: E402
from spintrace.matcher.index import ContainmentIndex, Features  # noqa: E402

RULES = ("floor 0.08 (now)", "floor 0.05", "floor 0.03", "floor 0.08 + best 3 by containment")


def candidates(index: ContainmentIndex, features: Features, limit: int) -> dict[str, set[int]]:
    """The page's candidate sources under each rule of :data:`RULES`."""
    found = {
        RULES[0]: index.candidates(features, limit=limit),
        RULES[1]: index.candidates(features, limit=limit, floor=0.05),
        RULES[2]: index.candidates(features, limit=limit, floor=0.03),
    }
    out = {rule: {key for key, _, _ in rows} for rule, rows in found.items()}
    out[RULES[3]] = out[RULES[0]] | {key for key, _ in index.query(features, limit=3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a database matched from scale.py's files")
    parser.add_argument("--sources", type=int, required=True, help="as given to scale.py")
    parser.add_argument("--pages", type=int, default=10_000, help="as given to scale.py")
    parser.add_argument("--sample", type=int, default=6_000, help="pages for the rule table")
    args = parser.parse_args()
    print_header()
    truth = page_truth(args.sources, args.pages)
    engine = open_engine(args.db)
    with engine.connect() as connection:
        ids = {str(u): int(i) for u, i in connection.execute(text("SELECT url, id FROM documents"))}
        texts = {
            str(u): str(t)
            for u, t in connection.execute(
                text("SELECT url, text FROM documents WHERE role = 'page'")
            )
        }
        links = {
            (str(p), str(s))
            for p, s in connection.execute(
                text(
                    "SELECT p.url, s.url FROM matches m JOIN documents p ON p.id = m.page_id "
                    "JOIN documents s ON s.id = m.source_id"
                )
            )
        }
    settings = Settings()
    despinner = load_despinner(engine)
    with Session(engine) as session:
        index = load_index(session)
    judge = Judge(engine, index, despinner, load_rarity(engine, despinner), settings)
    limit = settings.max_candidates

    causes: Counter[tuple[str, str]] = Counter()
    for url, (kind, source) in truth.items():
        if not source or (url, source) in links:
            continue
        _, features = text_tokens_and_features(despinner, texts[url], source=False)
        key = ids[source]
        everyone, containment, coverage = index._estimates(features)  # both estimates
        at = np.flatnonzero(everyone == key)
        if not len(at):
            causes[kind, "shares no sampled feature"] += 1
            print(f"  {kind:9} {url}: shares no sampled feature with its source")
            continue
        i = int(at[0])
        if key not in candidates(index, features, limit)[RULES[0]]:
            causes[kind, "not a candidate"] += 1
            print(
                f"  {kind:9} {url}: not a candidate; containment {containment[i]:.3f} (rank "
                f"{int((containment > containment[i]).sum())}), coverage {coverage[i]:.3f} "
                f"(rank {int((coverage > coverage[i]).sum())}) of {len(everyone)} sources"
            )
            continue
        verdict = judge.judge(texts[url])
        if verdict is not None and key in {linked for linked, _ in verdict[1]}:
            # The stored verdict came before the run learned substitutions, which change
            # the page's de-spun features (and so its candidates) when it is judged again.
            causes[kind, "linked when judged again (learned substitutions)"] += 1
            print(f"  {kind:9} {url}: a candidate now, and linked when judged again")
            continue
        causes[kind, "a candidate, not linked by the rule"] += 1
        print(f"  {kind:9} {url}: a candidate, not linked ({verdict[0] if verdict else '?'})")
    print("missed pairs by cause:")
    for (kind, cause), count in sorted(causes.items()):
        print(f"  {kind:9} {cause}: {count}")

    found: Counter[tuple[str, str]] = Counter()
    alignments: Counter[tuple[str, str]] = Counter()
    pages: Counter[str] = Counter()
    for url in list(truth)[: args.sample]:
        kind, source = truth[url]
        _, features = text_tokens_and_features(despinner, texts[url], source=False)
        pages[kind] += 1
        for rule, chosen in candidates(index, features, limit).items():
            alignments[kind, rule] += len(chosen)
            found[kind, rule] += bool(source) and ids[source] in chosen
    kinds = sorted(pages)
    print(f"candidate rules, first {args.sample:,} pages: true sources among the candidates, and")
    print("candidates (alignments) per page")
    print(f"  {'rule':38}" + "".join(f"{kind:>28}" for kind in kinds))
    for rule in RULES:
        cells = "".join(
            f"{found[kind, rule]:>9,}/{pages[kind]:<6,} "
            f"{alignments[kind, rule] / pages[kind]:6.2f}/pg"
            for kind in kinds
        )
        print(f"  {rule:38}{cells}")


if __name__ == "__main__":
    main()
