"""Who came first, for every link: each side's time by the rule of :mod:`spintrace.db.times`
and the verdict (``source-earlier``, ``page-earlier`` or ``unknown``), stored on the link.

Run after each match run for the links that have no verdict yet: new links, and links stored
before the columns existed. A link's documents never change, so neither does its verdict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Select, update
from sqlalchemy.orm import Session

from spintrace.db.links import LinkTables
from spintrace.db.models import Match
from spintrace.db.times import link_times, order_of

__all__ = ["order_links", "unordered_links"]

# Links ordered per transaction.
_BATCH = 1000


def unordered_links() -> Select[Any]:
    """The next links without a verdict, with the times that order them (through a partial
    index on them, migration 0015: not walking past every link ordered before)."""
    t = LinkTables()
    return (
        t.select(Match.id, *t.time_columns())
        .where(Match.order.is_(None))
        .order_by(Match.id)
        .limit(_BATCH)
    )


def order_links(engine: Engine) -> int:
    """Store who came first on every link that lacks it; returns how many links were done."""
    query = unordered_links()
    done = 0
    while True:
        with Session(engine) as session, session.begin():
            rows = session.execute(query).all()
            if not rows:
                return done
            values = []
            for row in rows:
                page_time, source_time = link_times(row)
                values.append(
                    {
                        "id": row.id,
                        "page_time": page_time.at if page_time else None,
                        "page_time_basis": page_time.basis if page_time else None,
                        "source_time": source_time.at if source_time else None,
                        "source_time_basis": source_time.basis if source_time else None,
                        "order": order_of(page_time, source_time),
                    }
                )
            # One executemany by primary key (ORM bulk UPDATE), not a statement per link.
            session.execute(update(Match), values)
            done += len(rows)
