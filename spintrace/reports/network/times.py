"""Copy timing for the network report, on the time of a page (:mod:`spintrace.db.times`, the
one rule of DESIGN.md "Time of a page", re-exported here).

A capture only proves that the page was there by then. So for copy timing a captured time
bounds the copy to the span from its source's publication to the capture (:func:`copy_span`),
and two copies are "N hours apart" only when their spans allow no more (:func:`hours_apart`):
two farms crawled together months after copying a story are not 0 hours apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spintrace.db.times import Basis, PageTime, crawl_time, time_of_page

__all__ = [
    "Basis",
    "CopySpan",
    "PageTime",
    "copy_span",
    "crawl_time",
    "hours_apart",
    "time_of_page",
]


@dataclass(frozen=True)
class CopySpan:
    """When a copy can have appeared: from ``earliest`` to ``latest`` (equal for a date the
    page published itself)."""

    time: PageTime
    earliest: datetime
    latest: datetime


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
