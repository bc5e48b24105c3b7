"""Scale-out: jobs that any number of workers on any machines run through PostgreSQL.

The queue is procrastinate's, in the spintrace database itself (:mod:`spintrace.jobs.queue`);
the tasks run the existing stages (:mod:`spintrace.jobs.tasks`): crawl one site (in a
subprocess holding the site's lock, :mod:`spintrace.jobs.crawl`), process a batch of captures,
index a batch of sources, match a batch of pages. :mod:`spintrace.jobs.worker` runs a worker;
:mod:`spintrace.jobs.enqueue` queues the work of ``crawl``, ``captures process`` and ``match``
(``--queue``). Like ``cli`` and ``demo``, this room drives the stages; only ``cli`` imports it.
See docs/scale-out.md.
"""

from __future__ import annotations

from spintrace.jobs.enqueue import (
    enqueue_crawl,
    enqueue_match,
    enqueue_processing,
    unfinished_intake,
)
from spintrace.jobs.queue import QUEUES, JobCounts, ensure_schema, job_counts
from spintrace.jobs.worker import run_worker

__all__ = [
    "QUEUES",
    "JobCounts",
    "enqueue_crawl",
    "enqueue_match",
    "enqueue_processing",
    "ensure_schema",
    "job_counts",
    "run_worker",
    "unfinished_intake",
]
