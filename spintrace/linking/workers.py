"""Local worker processes for ``spintrace match --workers N``: judging in parallel, one writer.

The parent process indexes the sources, loads the index, the rarity tables and the de-spinner
(with the run's learned substitutions, frozen until the run's last batch), and forks ``N``
workers that inherit all of it, loaded once. For each batch it claims, the parent sends the
pages' texts to the workers in chunks, gathers their verdicts in order and writes them in its
own transaction: the database has one writer, as SQLite needs, and the links are those a
single process makes (each page's verdict depends only on the page, the index and the frozen
substitutions). Workers read sources through their own connections.

Forking needs a POSIX system; elsewhere :func:`judge_pool` returns ``None`` and the match stage
runs in one process.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from spintrace.linking.judge import Judge, Verdict

__all__ = ["Job", "judge_all", "judge_pool"]

logger = logging.getLogger(__name__)

Job = tuple[int, str, int | None]
"""A page to judge: its id, its text, and the newest source it was judged with (or None)."""

_judge: Judge | None = None  # the parent's, inherited by every forked worker


def _start() -> None:
    """In a new worker: its own database connections, never the parent's."""
    assert _judge is not None
    _judge.engine.dispose(close=False)


def _run(jobs: Sequence[Job]) -> list[Verdict | None]:
    assert _judge is not None
    return [_judge.judge(text, since) for _, text, since in jobs]


@contextmanager
def judge_pool(judge: Judge, workers: int) -> Iterator[Executor | None]:
    """``workers`` forked processes that judge with ``judge``'s state; ``None`` when one
    process is asked for or forking is not available."""
    global _judge
    if workers <= 1:
        yield None
        return
    if "fork" not in multiprocessing.get_all_start_methods():
        logger.warning("no fork on this system: matching in one process, not %d", workers)
        yield None
        return
    _judge = judge
    judge.engine.dispose()  # no pooled connection is shared with the children
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
        _judge = None


def judge_all(judge: Judge, pool: Executor | None, jobs: Sequence[Job]) -> list[Verdict | None]:
    """The verdicts of ``jobs``, in order: in this process, or spread over ``pool``'s workers
    in chunks (a few per worker, so a slow page does not hold the others back)."""
    if pool is None:
        return [judge.judge(text, since) for _, text, since in jobs]
    size = max(1, min(32, len(jobs) // 16))
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    return [verdict for part in pool.map(_run, chunks) for verdict in part]
