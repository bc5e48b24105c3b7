"""Locks that outlive a transaction: one crawl per site anywhere (PostgreSQL advisory locks).

A crawl holds its host's lock on a connection of its own for as long as it runs. The lock is a
PostgreSQL *session* advisory lock: it is released when the connection closes, and the server
closes it when the process dies, even by SIGKILL (the kernel closes its socket). So a host is
never crawled by two processes at once, whichever machines they run on, and a dead crawl never
keeps its host locked.

SQLite has one process per database in practice (no workers): there the lock is always free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy import text as sql_text

__all__ = ["EX_HOST_BUSY", "HostBusy", "host_lock", "lock_key"]

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
                got = connection.scalar(sql_text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                connection.commit()
                if not got:
                    raise HostBusy(host)
                taken.append(key)
            yield
        finally:
            for key in taken:
                connection.execute(sql_text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()
