"""Index merges in a child process.

A queued match run merges the index segments its batches stored (one of each kind,
:func:`spintrace.linking.stored.compact_index`) before its pages are matched. At a million
sources a merge holds about a gigabyte; run in one process, much of it stayed resident
afterwards although ``malloc_trim`` was called (what keeps it was not found): the worker's
judge loaded next, or the next merge, came on top (the segments' merge left a process at
1.4 GB, and the tables' merge took it to 1.9 GB). So a worker runs each kind's merge in a
child process of its own (:func:`main`; see :mod:`spintrace.jobs.child`: options as JSON on
stdin, report as one JSON line on stdout, dies with its worker), and the memory goes back to
the system whole when each child ends.

Each merge is one transaction under an advisory lock: a child killed part-way leaves the
stored rows of its kind as they were, the lock goes with its connection, and the retried job
merges again.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from sqlalchemy import Engine

from spintrace.db.engine import open_engine
from spintrace.errors import SpintraceError
from spintrace.jobs.child import exit_reason, peak_rss, run_child
from spintrace.linking.stored import MERGE_KINDS, compact_index

__all__ = ["IndexMergeError", "main", "merge_in_subprocess"]

logger = logging.getLogger(__name__)


class IndexMergeError(Exception):
    """The index merge failed (its message says why); the stored segments are unchanged."""


async def merge_in_subprocess(engine: Engine) -> dict[str, Any]:
    """Merge the stored index of ``engine``'s database, each kind of row (index segments,
    frequency tables) in a child process of its own; return how many rows of each kind were
    merged and each child's peak resident size in bytes (``<kind>_peak_rss``).
    :class:`IndexMergeError` when a merge failed."""
    report: dict[str, Any] = {}
    for kind in MERGE_KINDS:
        payload = {"db_url": engine.url.render_as_string(hide_password=False), "kind": kind}
        code, result = await run_child("spintrace.jobs.merge", payload)
        if code != 0 or "error" in result:
            reason = result.get("error") or f"the index merge process {exit_reason(code)}"
            raise IndexMergeError(str(reason))
        report[kind] = result.get(kind, 0)
        report[f"{kind}_peak_rss"] = result.get("peak_rss", 0)
        report[f"{kind}_pid"] = result.get("pid")
        logger.info(
            "index merged: %s %s (merge process peak RSS %.0f MB)",
            report[kind],
            "segments" if kind == "segments" else "frequency tables",
            report[f"{kind}_peak_rss"] / 2**20,
        )
    return report


def main() -> None:
    """The child: ``{"db_url": ..., "kind": ...}`` on stdin (a kind of
    :data:`~spintrace.linking.stored.MERGE_KINDS`), the report as one JSON line on stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = json.load(sys.stdin)
    try:
        engine = open_engine(options["db_url"])
        try:
            merged: dict[str, Any] = dict(compact_index(engine, [options["kind"]]))
        finally:
            engine.dispose()
    except SpintraceError as exc:  # its message says what to fix
        print(json.dumps({"error": str(exc)}), flush=True)
        sys.exit(1)
    except Exception as exc:  # the database gone mid-merge, out of memory: said in the job
        logging.getLogger(__name__).exception("the index merge failed")
        reason = f"{type(exc).__name__}: {exc}"[:500]  # SQLAlchemy's can carry a statement
        print(json.dumps({"error": f"the index merge failed: {reason}"}), flush=True)
        sys.exit(1)
    merged["peak_rss"] = peak_rss()
    merged["pid"] = os.getpid()
    print(json.dumps(merged), flush=True)


if __name__ == "__main__":
    main()
