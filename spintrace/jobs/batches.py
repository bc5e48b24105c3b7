"""Cutting work into jobs, and reading the queue's state (shared by tasks and commands)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from spintrace.db.models import Capture, Site
from spintrace.db.urls import site_domain

__all__ = [
    "TASK_PREFIX",
    "Intake",
    "chunks",
    "failed_jobs_of",
    "intake_before",
    "pending_jobs",
    "unprocessed_captures",
    "waiting_crawl",
]

T = TypeVar("T")

TASK_PREFIX = "spintrace:"
"""The namespace of spintrace's task names in procrastinate's tables."""


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` cut into lists of at most ``size``, in order."""
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def unprocessed_captures(
    engine: Engine,
    since: datetime | None = None,
    urls: Sequence[str] | None = None,
    role: str | None = None,
) -> list[int]:
    """The ids of captures not processed yet: fetched since ``since``, of ``urls``' sites,
    with ``role``, where given."""
    query = select(Capture.id).where(Capture.processed_at.is_(None), Capture.role.is_not(None))
    if since is not None:
        query = query.where(Capture.fetched_at >= since)
    if role is not None:
        query = query.where(Capture.role == role)
    if urls is not None:
        domains = {site_domain(url) for url in urls}
        query = query.where(Capture.site_id.in_(select(Site.id).where(Site.domain.in_(domains))))
    with Session(engine) as session:
        return list(session.scalars(query.order_by(Capture.id)))


def pending_jobs(engine: Engine, task: str | None = None, run: str | None = None) -> int:
    """How many jobs (of ``task``, by short name; of match run ``run``) are queued or running;
    the queue's own upkeep (``retry_stalled``) is not counted."""
    query = (
        "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
        "AND task_name != :upkeep"
    )
    params: dict[str, Any] = {"upkeep": f"{TASK_PREFIX}retry_stalled"}
    if task is not None:
        query += " AND task_name = :task"
        params["task"] = f"{TASK_PREFIX}{task}"
    if run is not None:
        query += " AND args->>'run' = :run"
        params["run"] = run
    with engine.connect() as connection:
        return int(connection.scalar(sql_text(query), params) or 0)


@dataclass(frozen=True)
class Intake:
    """Crawl jobs and capture batches still queued or running (true when there are any)."""

    crawl: int
    process: int

    def __bool__(self) -> bool:
        return bool(self.crawl or self.process)


def intake_before(engine: Engine, since: str) -> Intake:
    """Crawl jobs queued before ``since`` (a match run's start time, ISO 8601), and capture
    batches, still queued or running: what the run waits for before it chooses its sources
    and pages. Crawls queued after the run do not hold it up; capture batches are short, and
    those of an earlier crawl are queued only when it ends, so every one is waited for."""
    query = (
        "SELECT task_name, count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
        "AND (task_name = :process OR (task_name = :crawl "
        "AND CAST(args->>'since' AS timestamptz) < CAST(:since AS timestamptz))) "
        "GROUP BY task_name"
    )
    params = {"process": f"{TASK_PREFIX}process_batch", "crawl": f"{TASK_PREFIX}crawl_site"}
    with engine.connect() as connection:
        counts = {
            str(t): int(n)
            for t, n in connection.execute(sql_text(query), {**params, "since": since})
        }
    return Intake(counts.get(params["crawl"], 0), counts.get(params["process"], 0))


def waiting_crawl(engine: Engine, lock: str) -> bool:
    """Whether a crawl job with job lock ``lock`` (its site) is queued and not started."""
    query = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' AND lock = :lock"
    with engine.connect() as connection:
        return bool(connection.scalar(sql_text(query), {"lock": lock}))


def failed_jobs_of(engine: Engine, task: str, run: str) -> int:
    """How many jobs of ``task`` (short name) of match run ``run`` failed for good."""
    query = (
        "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed' "
        "AND task_name = :task AND args->>'run' = :run"
    )
    with engine.connect() as connection:
        return int(
            connection.scalar(sql_text(query), {"task": f"{TASK_PREFIX}{task}", "run": run}) or 0
        )
