"""``spintrace worker``: run queued jobs until stopped (or, with ``burst``, until none is left).

A worker runs one job at a time (run one worker per core); it beats a heartbeat every
``heartbeat`` seconds, and any worker queues again the jobs of a worker silent for three
heartbeats (the periodic task :func:`spintrace.jobs.tasks.retry_stalled`). SIGTERM or Ctrl-C
stops it after the running job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import Engine

from spintrace.config import Settings
from spintrace.jobs.batches import pending_jobs
from spintrace.jobs.queue import QUEUES, ensure_schema, make_app
from spintrace.jobs.tasks import WorkerState

__all__ = ["UPKEEP_QUEUE", "run_worker"]

logger = logging.getLogger(__name__)

UPKEEP_QUEUE = "maintenance"
"""Every worker takes the queue's upkeep jobs (requeueing stalled jobs) besides its queues."""


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
