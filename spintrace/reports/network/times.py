"""When a page appeared: the time of a page (DESIGN.md, "Time of a page"), one rule.

A page's time is its own published date (HTML metadata or the import's ``published``) when
it has one that is not later than its first capture and not identical to its source's
published time (farms often copy the original's date metadata); otherwise its first capture
time. Import time alone never counts: a page imported as text with no usable date has no time.
Every time says which one it is (:attr:`PageTime.basis`).

A capture only proves that the page was there by then. So for copy timing a captured time
bounds the copy to the span from its source's publication to the capture (:func:`copy_span`),
and two copies are "N hours apart" only when their spans allow no more (:func:`hours_apart`):
two farms crawled together months after copying a story are not 0 hours apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from spintrace.db.captures import is_imported

__all__ = [
    "Basis",
    "CopySpan",
    "PageTime",
    "copy_span",
    "crawl_time",
    "hours_apart",
    "time_of_page",
]

Basis = Literal["published", "captured"]


@dataclass(frozen=True)
class PageTime:
    """A page's time and what it is: its own ``published`` date or its first ``captured`` time."""

    at: datetime
    basis: Basis


@dataclass(frozen=True)
class CopySpan:
    """When a copy can have appeared: from ``earliest`` to ``latest`` (equal for a date the
    page published itself)."""

    time: PageTime
    earliest: datetime
    latest: datetime


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
    if published is not None and published <= latest and published != source_published:
        return PageTime(published, "published")
    if first_capture is not None:
        return PageTime(first_capture, "captured")
    return None


def copy_span(time: PageTime | None, source: PageTime | None) -> CopySpan | None:
    """When a copy with ``time`` of a source with ``source`` time can have appeared.

    A published date is a point. A capture time is only the end of a span that starts at the
    source's publication; without a published source (or with a capture before it) the span
    has no start, and the copy's timing is unknown (``None``).
    """
    if time is None:
        return None
    if time.basis == "published":
        return CopySpan(time, time.at, time.at)
    if source is None or source.basis != "published" or source.at > time.at:
        return None
    return CopySpan(time, source.at, time.at)


def hours_apart(a: CopySpan, b: CopySpan) -> float:
    """The most hours that can separate two copies (exact for two published dates)."""
    seconds = max((a.latest - b.earliest).total_seconds(), (b.latest - a.earliest).total_seconds())
    return max(seconds, 0.0) / 3600
