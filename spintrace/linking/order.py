"""Who came first, for every link: each side's time by the rule of :mod:`spintrace.db.times`
and the verdict (``source-earlier``, ``page-earlier`` or ``unknown``), stored on the link.

Run after each match run for the links that have no verdict yet: new links, and links stored
before the columns existed. A link's documents never change, so neither does its verdict.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, aliased

from spintrace.db.models import Capture, Document, Match
from spintrace.db.times import link_times, order_of

__all__ = ["order_links"]

# Links ordered per transaction.
_BATCH = 1000


def order_links(engine: Engine) -> int:
    """Store who came first on every link that lacks it; returns how many links were done."""
    page, source = aliased(Document), aliased(Document)
    page_capture, source_capture = aliased(Capture), aliased(Capture)
    query = (
        select(
            Match.id,
            page.published,
            page.added_at,
            page_capture.fetched_at,
            page_capture.headers,
            source.published.label("source_published"),
            source.added_at.label("source_added_at"),
            source_capture.fetched_at.label("source_fetched_at"),
            source_capture.headers.label("source_headers"),
        )
        .select_from(Match)
        .join(page, page.id == Match.page_id)
        .join(source, source.id == Match.source_id)
        .outerjoin(page_capture, page_capture.id == page.capture_id)
        .outerjoin(source_capture, source_capture.id == source.capture_id)
        .where(Match.order.is_(None))
        .order_by(Match.id)
        .limit(_BATCH)
    )
    done = 0
    while True:
        with Session(engine) as session, session.begin():
            rows = session.execute(query).all()
            if not rows:
                return done
            for row in rows:
                page_time, source_time = link_times(row)
                session.execute(
                    update(Match)
                    .where(Match.id == row.id)
                    .values(
                        page_time=page_time.at if page_time else None,
                        page_time_basis=page_time.basis if page_time else None,
                        source_time=source_time.at if source_time else None,
                        source_time_basis=source_time.basis if source_time else None,
                        order=order_of(page_time, source_time),
                    )
                )
            done += len(rows)
