"""The stored copies (matches) of suspect sites, each with its time, and the copy-timing
evidence between sites.

Times follow one rule (:mod:`spintrace.reports.network.times`): a page's own published date
when it is believable, else its first crawl capture; import time alone never counts. Two sites'
copies of one story (a source, or the near-duplicate editions of one work) are timely when the
most hours that can separate them (exact for two published dates, bounded by the source's
publication for a capture) is within the window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import Engine, func

from spintrace.db.links import LinkTables
from spintrace.db.models import Match
from spintrace.db.times import link_times
from spintrace.reports.network.model import MAX_SHARING_SITES, TIMING_WEIGHT, TimingEvidence
from spintrace.reports.network.times import (
    CopySpan,
    PageTime,
    copy_span,
    hours_apart,
)

__all__ = ["Copy", "lag_hours", "read_copies", "timing_evidence"]


@dataclass(frozen=True)
class Copy:
    """One stored match: the page's site and id, its source, and when each appeared."""

    site: str
    page_id: int
    source_id: int
    """The copied story: the source's work (its near-duplicate editions count as one story,
    :mod:`spintrace.linking.duplicates`), else the source itself."""
    source_url: str
    time: PageTime | None
    """The page's time; ``None`` when it has none (imported as text with no usable date)."""
    source_time: PageTime | None
    span: CopySpan | None
    """When the copy can have appeared; ``None`` when that is unknown."""


def read_copies(engine: Engine, suspects: dict[int, str]) -> list[Copy]:
    """One :class:`Copy` per match of a page of a suspect site (``suspects``: id -> domain)."""
    t = LinkTables()
    query = t.select(
        t.page.site_id,
        t.page.id.label("page_id"),
        func.coalesce(t.source.work_id, t.source.id).label("source_id"),
        t.source.url.label("source_url"),
        *t.time_columns(),
    ).order_by(Match.id)
    copies = []
    with engine.connect() as connection:
        for row in connection.execute(query):
            if row.site_id not in suspects:
                continue
            time, source_time = link_times(row)
            copies.append(
                Copy(
                    suspects[row.site_id],
                    row.page_id,
                    row.source_id,
                    row.source_url,
                    time,
                    source_time,
                    copy_span(time, source_time),
                )
            )
    return copies


def lag_hours(copy: Copy) -> float | None:
    """Hours from the source's publication to the copy's time; ``None`` when either is unknown
    (or the source has no published date)."""
    if copy.time is None or copy.source_time is None or copy.source_time.basis != "published":
        return None
    return (copy.time.at - copy.source_time.at).total_seconds() / 3600


def _earliest_spans(copies: list[Copy]) -> dict[int, dict[str, tuple[str, CopySpan]]]:
    """Per source, each site's copy known to have appeared first: (source URL, its span)."""
    first: dict[int, dict[str, tuple[str, CopySpan]]] = defaultdict(dict)
    for copy in copies:
        if copy.span is None:
            continue
        seen = first[copy.source_id]
        if copy.site not in seen or copy.span.latest < seen[copy.site][1].latest:
            seen[copy.site] = (copy.source_url, copy.span)
    return first


def timing_evidence(
    copies: list[Copy], window_hours: float
) -> dict[tuple[str, str], list[TimingEvidence]]:
    """Per pair of sites ``(a, b)``, ``a < b``: the sources both copied within
    ``window_hours`` of each other, each weighed ``TIMING_WEIGHT x (1 - 0.5 x gap / window) /
    sqrt(sites copying it - 1)``."""
    copiers: dict[int, set[str]] = defaultdict(set)
    for copy in copies:
        copiers[copy.source_id].add(copy.site)
    found: dict[tuple[str, str], list[TimingEvidence]] = defaultdict(list)
    for source_id, spans in _earliest_spans(copies).items():
        count = len(copiers[source_id])
        if count > MAX_SHARING_SITES:
            continue
        for a, b in combinations(sorted(spans), 2):
            (url, span_a), (_, span_b) = spans[a], spans[b]
            apart = hours_apart(span_a, span_b)
            if apart > window_hours:
                continue
            closeness = 1.0 - 0.5 * (apart / window_hours if window_hours else 0.0)
            weight = TIMING_WEIGHT * closeness / (count - 1) ** 0.5
            found[a, b].append(
                TimingEvidence(url, a, span_a.time, b, span_b.time, apart, count, weight)
            )
    return found
