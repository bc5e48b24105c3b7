"""Where a matching worker's memory goes: the resident size after each step of loading a judge
(de-spinner, frequency tables, containment index) and of judging pages, on an indexed database.

Runs the steps a worker's :class:`~spintrace.linking.steps.JudgeCache` runs, one at a time, and
prints the process's resident size (RSS) and its peak so far (``VmHWM``) after each, with the
size of what the step keeps (array bytes). Then judges ``--pages`` pages of the database.

Usage: ``python bench/memory.py --db URL [--pages 2000]`` (an indexed database: e.g. one
``bench/scale.py`` made, or any ``spintrace match``-ed one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import print_header  # noqa: E402


def status(field: str) -> int:
    """A ``/proc/self/status`` size field, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def show(step: str, started: float, kept: str = "") -> None:
    print(
        f"  {step:34} RSS {status('VmRSS') / 2**20:7,.0f} MB   peak {status('VmHWM') / 2**20:7,.0f}"
        f" MB   {time.perf_counter() - started:6.1f} s" + (f"   keeps {kept}" if kept else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the SQLAlchemy URL of an indexed database")
    parser.add_argument("--pages", type=int, default=2000, help="pages to judge (default 2000)")
    args = parser.parse_args()
    print_header()
    started = time.perf_counter()
    show("python started", started)
    from spintrace.config import Settings
    from spintrace.db import open_engine
    from spintrace.db.models import Document, IndexSegment
    from spintrace.linking.index import load_rarity
    from spintrace.linking.judge import Judge
    from spintrace.linking.match import load_despinner
    from spintrace.linking.stored import RARITY_NAME, load_index

    show("spintrace imported", started)
    engine = open_engine(args.db)
    despinner = load_despinner(engine)
    show("de-spinner loaded", started)
    rarity = load_rarity(engine, despinner)
    mb = (rarity.keys.nbytes + rarity.counts.nbytes) / 2**20
    with Session(engine) as session:
        stored = session.scalar(
            select(func.sum(func.length(IndexSegment.data))).where(IndexSegment.name == RARITY_NAME)
        )
    kept = f"{len(rarity):,} keys, {mb:,.0f} MB (stored: {(stored or 0) / 2**20:,.0f} MB)"
    show("frequency tables loaded", started, kept)
    with Session(engine) as session:
        index = load_index(session)
    show(
        "containment index loaded",
        started,
        f"{len(index):,} sources, {index.nbytes / 2**20:,.0f} MB",
    )
    judge = Judge(engine, index, despinner, rarity, Settings())
    with Session(engine) as session:
        ids = session.scalars(
            select(Document.id)
            .where(Document.role == "page")
            .order_by(Document.id)
            .limit(args.pages)
        ).all()
    linked = 0
    for n, page_id in enumerate(ids, 1):
        with Session(engine) as session:
            text = session.scalar(select(Document.text).where(Document.id == page_id)) or ""
        verdict = judge.judge(text)
        linked += verdict is not None and verdict[0] == "linked"
        if n in (10, 100, 500) or n == len(ids):
            cached = len(judge.sources.cache)
            show(f"{n:,} pages judged ({linked:,} linked)", started, f"{cached:,} sources cached")
    engine.dispose()


if __name__ == "__main__":
    main()
