"""Matching in local worker processes (``spintrace match --workers N``): speed-up and sameness.

Imports the dev set (sources and text pages) into a fresh SQLite database and a fresh
PostgreSQL database, matches with 1 worker, forgets the links and checks, matches again with
2 workers (the index and learned substitutions are the same both times), and prints the
matching step's pages/s, the speed-up, the CPU seconds of this process and of its children,
and whether both runs stored the same links.

Usage: ``python bench/workers.py [--data DIR] [--pg URL]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spintrace.db import Match, MatchCheck, open_engine, upgrade
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import PG_ADMIN, print_header, scratch_pg  # noqa: E402


def cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def run(url: str, data: Path) -> None:
    engine = open_engine(url, create=True)
    upgrade(engine)
    import_file(engine, data / "sources.jsonl", "source")
    import_file(engine, data / "pages_text.jsonl", "page")
    links = {}
    speed = {}
    for workers in (1, 2):
        with Session(engine) as session, session.begin():
            session.execute(delete(Match))
            session.execute(delete(MatchCheck))
        before = cpu()
        start = time.perf_counter()
        report = match_pages(engine, workers=workers)
        wall = time.perf_counter() - start
        after = cpu()
        with Session(engine) as session:
            links[workers] = session.execute(
                select(Match.page_id, Match.source_id, Match.score).order_by(Match.id)
            ).all()
            links[workers] = sorted(links[workers])
        speed[workers] = report.pages_per_second
        print(
            f"  {workers} worker{'s' if workers > 1 else ' '}: matched {report.checked} pages at "
            f"{report.pages_per_second:5.0f} pages/s (match step {report.match_seconds:.1f} s; "
            f"whole run {wall:.1f} s); CPU s: this process {after[0] - before[0]:.1f}, workers "
            f"{after[1] - before[1]:.1f}"
        )
    same = links[1] == links[2]
    print(f"  speed-up of 2 workers: {speed[2] / speed[1]:.2f}x; same links: {same}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dev")
    parser.add_argument("--pg", default=PG_ADMIN)
    args = parser.parse_args()
    print_header(f"; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="spintrace-workers-") as tmp:
        print("SQLite")
        run(f"sqlite:///{Path(tmp) / 'workers.db'}", args.data)
    with scratch_pg(args.pg, "spintrace_workers") as url:
        print("PostgreSQL")
        run(url, args.data)


if __name__ == "__main__":
    main()
