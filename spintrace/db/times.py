"""When a page appeared: the time of a page (DESIGN.md, "Time of a page"), one rule, and the
order of a copy and its source ("who came first").

A page's time is its own published date (HTML metadata or the import's ``published``) when it
has one that is not later than its first capture and not identical to its source's published
time (farms often copy the original's date metadata); otherwise its first capture time. Import
time alone never counts: a page imported as text with no usable date has no time. Every time
says which one it is (:attr:`PageTime.basis`).

Used by the match stage (the order stored with every link) and by the reports (copy timing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from spintrace.db.captures import is_imported

__all__ = [
    "Basis",
    "CopyDelay",
    "Order",
    "PageTime",
    "copy_delay",
    "crawl_time",
    "link_times",
    "order_of",
    "time_of_page",
]

Basis = Literal["published", "captured"]
Order = Literal["source-earlier", "page-earlier", "unknown"]


@dataclass(frozen=True)
class PageTime:
    """A page's time and what it is: its own ``published`` date or its first ``captured`` time."""

    at: datetime
    basis: Basis


def crawl_time(fetched_at: datetime | None, headers: dict[str, Any] | None) -> datetime | None:
    """The fetch time of a crawled capture; ``None`` for no capture or an import's HTML."""
    if fetched_at is None or is_imported(headers if isinstance(headers, dict) else None):
        return None
    return fetched_at


def time_of_page(
    published: datetime | None,
    first_capture: datetime | None,
    imported: datetime,
    source_published: datetime | None = None,
) -> PageTime | None:
    """The time of a page, or ``None`` when it has no usable one.

    ``first_capture`` is the fetch time of its first crawled capture (:func:`crawl_time`),
    ``imported`` when spintrace stored it: with no capture, a published date later than that is
    impossible and is not used (import time is a bound here, never a time).
    ``source_published`` is the published time of the source it copies (``None`` for a source).
    """
    latest = first_capture if first_capture is not None else imported
    if published is not None and published <= latest and not _copied(published, source_published):
        return PageTime(published, "published")
    if first_capture is not None:
        return PageTime(first_capture, "captured")
    return None


def _copied(published: datetime, source_published: datetime | None) -> bool:
    """Whether a page's published time is its source's, copied: the same instant, or the same
    day given without a time (midnight), as farms that keep only the date write it."""
    if source_published is None:
        return False
    if published == source_published:
        return True
    midnight = published.hour == published.minute == published.second == 0
    return midnight and published.date() == source_published.date()


def link_times(row: Any) -> tuple[PageTime | None, PageTime | None]:
    """The page's and the source's time of a link, from a row with the columns ``published``,
    ``added_at``, ``fetched_at``, ``headers`` (the page and its capture) and the same prefixed
    ``source_`` (the source and its capture)."""
    source = time_of_page(
        row.source_published,
        crawl_time(row.source_fetched_at, row.source_headers),
        row.source_added_at,
    )
    page = time_of_page(
        row.published,
        crawl_time(row.fetched_at, row.headers),
        row.added_at,
        row.source_published,
    )
    return page, source


def order_of(page: PageTime | None, source: PageTime | None) -> Order:
    """Who came first: ``page-earlier`` when the copy's time is before its source's (a sign
    that the link may run the other way, or that a date is wrong), ``unknown`` when either
    side has no usable time."""
    if page is None or source is None:
        return "unknown"
    return "page-earlier" if page.at < source.at else "source-earlier"


@dataclass(frozen=True)
class CopyDelay:
    """How long after its source's publication a copy appeared, in hours (negative: before).

    ``captured``: to the page's first crawled capture (an upper bound on when it appeared);
    ``published``: to the page's own published date, when it has a usable one (the rule of
    :func:`time_of_page`: not later than its capture, not the source's date copied). Both are
    ``None`` when the source has no published date: a source's capture time is not its
    publication.
    """

    captured: float | None
    published: float | None


def copy_delay(row: Any) -> CopyDelay:
    """The :class:`CopyDelay` of a link, from a row with :func:`link_times`' columns."""
    source_published = row.source_published
    if source_published is None:
        return CopyDelay(None, None)
    captured = crawl_time(row.fetched_at, row.headers)
    page = time_of_page(row.published, captured, row.added_at, source_published)

    def hours(at: datetime | None) -> float | None:
        return None if at is None else round((at - source_published).total_seconds() / 3600, 3)

    return CopyDelay(
        hours(captured), hours(page.at if page and page.basis == "published" else None)
    )
