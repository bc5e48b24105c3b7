"""Locks that outlive a transaction (PostgreSQL advisory locks): one crawl per site anywhere,
one match run at a time.

A crawl holds its host's lock on a connection of its own for as long as it runs. The lock is a
PostgreSQL *session* advisory lock: it is released when the connection closes, and the server
closes it when the process dies, even by SIGKILL (the kernel closes its socket). So a host is
never crawled by two processes at once, whichever machines they run on, and a dead crawl never
keeps its host locked.

A match run in a process (``spintrace match``, a watch round) holds the match-run lock while it
runs (:func:`match_run_lock`): a second one waits for it, and none starts while a queued run
(``match --queue``, driven by workers across many jobs) is waiting or going, since the
learned substitutions must stay frozen for a run and learning happens after its last batch.

SQLite has one process per database in practice (no workers): there the locks are always free.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError

from spintrace.errors import SpintraceError

__all__ = [
    "EX_HOST_BUSY",
    "MATCH_RUN_KEY",
    "QUEUED_RUN_TASKS",
    "HostBusy",
    "MatchBusy",
    "host_lock",
    "lock_key",
    "match_run_lock",
    "queued_run_pending",
    "release_lock",
    "take_lock",
]

logger = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ends a wait

# The exit status of a crawl child that found its site locked (EX_TEMPFAIL: try again later).
EX_HOST_BUSY = 75

NAMESPACE = "spintrace-crawl-host:"


class HostBusy(Exception):
    """Another process holds the crawl lock of ``host``."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} is being crawled by another process")
        self.host = host


def lock_key(host: str) -> int:
    """The signed 64-bit advisory lock key of ``host`` (case-insensitive)."""
    digest = hashlib.blake2b((NAMESPACE + host.lower()).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def host_lock(engine: Engine, hosts: Iterable[str]) -> Iterator[None]:
    """Hold the crawl locks of every host in ``hosts`` until the block ends; :class:`HostBusy`
    at once (taking none) when another process holds one of them."""
    wanted = sorted({host.lower() for host in hosts})
    if engine.dialect.name != "postgresql" or not wanted:
        yield
        return
    with engine.connect() as connection:
        taken: list[int] = []
        try:
            for host in wanted:
                key = lock_key(host)
                if not take_lock(connection, key, wait=0):
                    raise HostBusy(host)
                taken.append(key)
            yield
        finally:
            for key in taken:
                release_lock(connection, key)


MATCH_RUN_KEY = lock_key("spintrace:match-run")
"""The advisory lock key of the one match run at a time."""

QUEUED_RUN_TASKS = ("spintrace:match_run", "spintrace:match_batch")
"""The job queue's task names of a queued match run (``spintrace.jobs``; checked by a test)."""


class MatchBusy(SpintraceError):
    """A queued match run is waiting or going: a match in process would mix with it."""

    def __init__(self) -> None:
        super().__init__(
            "a queued match run is waiting or going (`spintrace jobs` shows it): run `match` "
            "again when it is done (for the pages it did not take)"
        )


def queued_run_pending(connection: Connection) -> bool:
    """Whether a queued match run has jobs waiting or running (PostgreSQL)."""
    if connection.scalar(sql_text("SELECT to_regclass('procrastinate_jobs')")) is None:
        return False
    return bool(
        connection.scalar(
            sql_text(
                "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', "
                "'doing') AND task_name = ANY(:tasks))"
            ),
            {"tasks": list(QUEUED_RUN_TASKS)},
        )
    )


def take_lock(connection: Connection, key: int, wait: float | None = None) -> bool:
    """Take the session advisory lock ``key`` on ``connection`` (PostgreSQL): wait for it as
    long as it takes (``wait`` None; the statement timeout does not cut the wait short), try
    once (``wait`` 0), or wait up to ``wait`` seconds, in line with the other waiters (a
    lock timeout, not polling); returns whether it was taken."""
    if wait == 0:
        got = connection.scalar(sql_text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
        connection.commit()
        return bool(got)
    limit = 0 if wait is None else max(1, int(wait * 1000))
    try:
        connection.execute(sql_text("SET LOCAL statement_timeout = 0"))
        connection.execute(sql_text(f"SET LOCAL lock_timeout = {limit}"))
        connection.execute(sql_text("SELECT pg_advisory_lock(:k)"), {"k": key})
    except OperationalError as exc:
        connection.rollback()
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return False
        raise
    connection.commit()
    return True


def release_lock(connection: Connection, key: int) -> None:
    """Release the session advisory lock ``key`` taken on ``connection``."""
    connection.execute(sql_text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    connection.commit()


@contextmanager
def match_run_lock(engine: Engine) -> Iterator[None]:
    """Hold the match-run lock while a match runs in this process (PostgreSQL): waits for
    another process's match to end; :class:`MatchBusy` when a queued run is pending."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        if not take_lock(connection, MATCH_RUN_KEY, wait=0):
            logger.warning("another match is running (here or on another machine): waiting")
            take_lock(connection, MATCH_RUN_KEY)
        try:
            busy = queued_run_pending(connection)
            connection.commit()
            if busy:
                raise MatchBusy()
            yield
        finally:
            release_lock(connection, MATCH_RUN_KEY)
