"""``spintrace worker``: run queued jobs until stopped (or, with ``burst``, until none is left).

A worker runs one job at a time (run one worker per core); it beats a heartbeat every
``heartbeat`` seconds, and any worker queues again the jobs of a worker silent for three
heartbeats (the periodic task :func:`spintrace.jobs.tasks.retry_stalled`). SIGTERM or Ctrl-C
stops it after the running job, and the heartbeat goes on until that job ends
(:func:`beat_while_running`): procrastinate stops its own heartbeat first when it stops, and
a long job (a crawl, the finish step) would otherwise be queued again while it still ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from procrastinate import JobContext
from procrastinate.worker import Worker
from sqlalchemy import Engine

from spintrace.config import Settings
from spintrace.db.locks import HostBusy
from spintrace.errors import SpintraceError
from spintrace.jobs.batches import pending_jobs
from spintrace.jobs.crawl import CrawlInterrupted, CrawlJobError
from spintrace.jobs.merge import IndexMergeError
from spintrace.jobs.queue import QUEUES, ensure_schema, make_app
from spintrace.jobs.tasks import RunStopped, WorkerState

__all__ = ["UPKEEP_QUEUE", "ExpectedFailures", "beat_while_running", "run_worker"]

logger = logging.getLogger(__name__)

UPKEEP_QUEUE = "maintenance"
"""Every worker takes the queue's upkeep jobs (requeueing stalled jobs) besides its queues."""


async def beat_while_running(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Worker
) -> Any:
    """A procrastinate worker middleware: beat the worker's heartbeat for as long as the job
    runs, whatever procrastinate's own heartbeat does (it is cancelled first when the worker
    is asked to stop, while the job it waits for may run for minutes)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(worker.update_heartbeat_interval)
            if worker.worker_id is None:
                continue
            try:
                await worker.app.job_manager.update_heartbeat(worker.worker_id)
            except Exception as exc:  # a database hiccup: the next beat tries again
                logger.warning("could not beat the heartbeat: %s", exc)

    beating = asyncio.create_task(beat(), name="spintrace-heartbeat")
    try:
        return await call_next()
    finally:
        beating.cancel()


class ExpectedFailures(logging.Filter):
    """Log a job that failed for a reason its message says (a crawl whose start page cannot
    be fetched, a busy host, a stopped run, a failed merge, any spintrace error) as one line
    with that reason, not a traceback; a traceback stays for anything else (a bug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, _EXPECTED):
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_EXPECTED = (CrawlJobError, CrawlInterrupted, HostBusy, IndexMergeError, RunStopped, SpintraceError)
# procrastinate logs each job's outcome on this logger, with the exception when it failed.
_JOB_LOGGER = logging.getLogger("procrastinate.worker")


async def _until_idle(engine: Engine, worker: asyncio.Task[None], poll: float) -> None:
    """Stop ``worker`` once no job is queued or running, seen twice ``poll`` seconds apart."""
    idle = 0
    while not worker.done():
        await asyncio.sleep(poll)
        idle = idle + 1 if not await asyncio.to_thread(pending_jobs, engine) else 0
        if idle >= 2:
            worker.cancel()


def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    queues: Sequence[str] = (),
    burst: bool = False,
    heartbeat: float = 10.0,
    name: str | None = None,
) -> None:
    """Run jobs of ``queues`` (all of :data:`QUEUES` when empty) from ``engine``'s database."""
    ensure_schema(engine)
    if not any(isinstance(f, ExpectedFailures) for f in _JOB_LOGGER.filters):
        _JOB_LOGGER.addFilter(ExpectedFailures())
    app = make_app(engine)
    state = WorkerState(engine, settings, stalled_after=3 * heartbeat)
    wanted = [*(queues or QUEUES), UPKEEP_QUEUE]

    async def work() -> None:
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=wanted,
                    name=name or "spintrace-worker",
                    concurrency=1,
                    update_heartbeat_interval=heartbeat,
                    stalled_worker_timeout=3 * heartbeat,
                    additional_context={"spintrace": state},
                    install_signal_handlers=True,
                    worker_middleware=[beat_while_running],
                )
            )
            if burst:
                watcher = asyncio.create_task(_until_idle(engine, worker, min(1.0, heartbeat)))
            try:
                await worker
            except asyncio.CancelledError:
                if not burst:
                    raise
            finally:
                if burst:
                    watcher.cancel()

    asyncio.run(work())
