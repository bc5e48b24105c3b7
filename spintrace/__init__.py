"""spintrace: find scraped and synonym-spun copies of articles and link them to their sources.

The package is layered (see ``docs/architecture.md``); importing it has no side effects: no
database engine, no Scrapy reactor and no pandas are created or imported here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from spintrace._version import __version__
from spintrace.errors import (
    DatabaseError,
    InputError,
    NotMigratedError,
    SpintraceError,
)

if TYPE_CHECKING:
    from spintrace.reports.frames import Database


__all__ = [
    "DatabaseError",
    "InputError",
    "NotMigratedError",
    "SpintraceError",
    "__version__",
    "open",
]


def open(url: str | None = None) -> Database:
    """Open a spintrace database for analysis: ``db.pages()``, ``db.matches()``, ... as DataFrames.

    Every frame takes ``columns=``, ``site=`` and ``since=``, applied by the database; the
    frames carry the ids that join them (``matches().page_id`` -> ``pages()``, ...), and
    ``db.frame(sql)`` runs a read-only query (:class:`spintrace.reports.frames.Database`).
    ``url`` defaults to ``$SPINTRACE_DB``, then ``sqlite:///spintrace.db``; a plain path is a
    SQLite file. pandas is imported only when a frame is asked for.
    """
    from spintrace.reports.frames import open_database

    return open_database(url)


logging.getLogger(__name__).addHandler(logging.NullHandler())
