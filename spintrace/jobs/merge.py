"""Index merges in a child process.

A queued match run merges the index segments its batches stored (one of each kind,
:func:`spintrace.linking.stored.compact_index`) before its pages are matched. At a million
sources a merge holds about a gigabyte; run in the worker itself, much of it stayed resident
afterwards although ``malloc_trim`` was called (what kept it was not found), under the judge
the worker then loads. So a worker runs the merge in a child process (:func:`main`; see
:mod:`spintrace.jobs.child`: options as JSON on stdin, report as one JSON line on stdout, dies
with its worker), and the memory goes back to the system whole when the child ends.

A merge is one transaction under an advisory lock: a child killed part-way leaves the stored
segments as they were, the lock goes with its connection, and the retried job merges again.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from sqlalchemy import Engine

from spintrace.db.engine import open_engine
from spintrace.errors import SpintraceError
from spintrace.jobs.child import peak_rss, run_child
from spintrace.linking.stored import compact_index

__all__ = ["IndexMergeError", "main", "merge_in_subprocess"]

logger = logging.getLogger(__name__)


class IndexMergeError(Exception):
    """The index merge failed (its message says why); the stored segments are unchanged."""


async def merge_in_subprocess(engine: Engine) -> dict[str, Any]:
    """Merge the stored index of ``engine``'s database in a child process; return its report
    (``segments`` and ``tables`` merged, the child's ``peak_rss`` in bytes).
    :class:`IndexMergeError` when it failed."""
    payload = {"db_url": engine.url.render_as_string(hide_password=False)}
    code, result = await run_child("spintrace.jobs.merge", payload)
    if code != 0 or "error" in result:
        reason = result.get("error") or f"the index merge process exited with {code}"
        raise IndexMergeError(str(reason))
    logger.info(
        "index merged: %s segments, %s frequency tables (merge process peak RSS %.0f MB)",
        result.get("segments"),
        result.get("tables"),
        result.get("peak_rss", 0) / 2**20,
    )
    return result


def main() -> None:
    """The child: ``{"db_url": ...}`` on stdin, the report as one JSON line on stdout."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = json.load(sys.stdin)
    try:
        engine = open_engine(options["db_url"])
        try:
            merged: dict[str, Any] = dict(compact_index(engine))
        finally:
            engine.dispose()
    except SpintraceError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        sys.exit(1)
    merged["peak_rss"] = peak_rss()
    print(json.dumps(merged), flush=True)


if __name__ == "__main__":
    main()
