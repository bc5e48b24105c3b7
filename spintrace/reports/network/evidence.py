"""The stored evidence that links suspect sites, read from the database (never re-matched).

:func:`read_evidence` returns each suspect site's counts and, for every pair of sites, the
indicators, timely copies of the same source and spinner substitutions they share, each
weighed as :mod:`spintrace.reports.network.model` says.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from spintrace.db.models import (
    Capture,
    Document,
    LearnedSubstitution,
    Match,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.reports.network.model import (
    EVIDENCE_LIMIT,
    INDICATOR_WEIGHTS,
    MAX_SHARING_SITES,
    SUBSTITUTION_WEIGHT,
    TIMING_WEIGHT,
    EdgeEvidence,
    IndicatorEvidence,
    SiteStats,
    SubstitutionEvidence,
    TimingEvidence,
    noisy_or,
)

__all__ = ["PairEvidence", "StoredEvidence", "read_evidence"]

_Item = TypeVar("_Item", IndicatorEvidence, TimingEvidence, SubstitutionEvidence)


@dataclass
class PairEvidence:
    """Everything two sites share, as collected (uncapped, in reading order)."""

    indicators: list[IndicatorEvidence] = field(default_factory=list)
    timing: list[TimingEvidence] = field(default_factory=list)
    substitutions: list[SubstitutionEvidence] = field(default_factory=list)

    def channel_strengths(self) -> dict[str, float]:
        """Each channel's strength (``<channel>_strength``: its items combined by noisy-OR)."""
        return {
            "indicator_strength": noisy_or(item.weight for item in self.indicators),
            "timing_strength": noisy_or(item.weight for item in self.timing),
            "substitution_strength": noisy_or(item.weight for item in self.substitutions),
        }

    def edge_evidence(self) -> EdgeEvidence:
        """The strongest :data:`EVIDENCE_LIMIT` items of each kind, and the full counts."""
        return EdgeEvidence(
            indicators=_top(self.indicators),
            timing=_top(self.timing),
            substitutions=_top(self.substitutions),
            indicator_count=len(self.indicators),
            timing_count=len(self.timing),
            substitution_count=len(self.substitutions),
        )


def _top(items: list[_Item]) -> tuple[_Item, ...]:
    return tuple(sorted(items, key=lambda item: -item.weight)[:EVIDENCE_LIMIT])


_Pairs = defaultdict[tuple[str, str], PairEvidence]


@dataclass(frozen=True)
class StoredEvidence:
    """What :func:`read_evidence` found.

    ``sites`` has every suspect site (a site with pages), by domain; ``ids`` each site's
    account IDs ("kind value"), absent for a site with none; ``pairs`` the evidence of every
    pair of sites sharing anything, keyed ``(a, b)`` with ``a < b``.
    """

    sites: list[SiteStats]
    ids: dict[str, list[str]]
    pairs: dict[tuple[str, str], PairEvidence]


def read_evidence(engine: Engine, window_hours: float) -> StoredEvidence:
    """Read the sites and what they share; copies count as timely within ``window_hours``."""
    suspects = _suspects(engine)
    copies = _copies(engine, suspects)
    pairs: _Pairs = defaultdict(PairEvidence)
    ids = _add_indicators(engine, suspects, pairs)
    _add_timing(copies, window_hours, pairs)
    _add_substitutions(engine, suspects, pairs)
    return StoredEvidence(_site_stats(suspects, engine, copies), ids, pairs)


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _indicator_weight(kind: str, sites: int) -> float:
    base, rule = INDICATOR_WEIGHTS.get(kind, (0.0, "rare"))
    if rule == "id":
        return base
    if rule == "rare":
        return base if sites == 2 else 0.0
    return base / (sites - 1) if sites <= MAX_SHARING_SITES else 0.0


def _suspects(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Site.id, Site.domain)
            .where(
                select(Document.id)
                .where(Document.site_id == Site.id, Document.role == "page")
                .exists()
            )
            .order_by(Site.domain)
        )
        return {row.id: row.domain for row in rows}


def _add_indicators(
    engine: Engine, suspects: dict[int, str], pairs: _Pairs
) -> dict[str, list[str]]:
    """Adds shared indicators to ``pairs``; returns each site's account IDs ("kind value")."""
    shared: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    ids: dict[str, list[str]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                SiteIndicator.site_id,
                SiteIndicator.kind,
                SiteIndicator.value,
                SiteIndicator.evidence,
            ).order_by(SiteIndicator.kind, SiteIndicator.value, SiteIndicator.site_id)
        )
        for row in rows:
            if row.site_id in suspects:
                shared[row.kind, row.value].append((suspects[row.site_id], row.evidence or ""))
                if INDICATOR_WEIGHTS.get(row.kind, (0, ""))[1] == "id":
                    ids[suspects[row.site_id]].append(f"{row.kind} {row.value}")
    for (kind, value), holders in shared.items():
        if len(holders) < 2:
            continue
        weight = _indicator_weight(kind, len(holders))
        if weight <= 0:
            continue
        for (a, snippet), (b, _) in combinations(holders, 2):
            item = IndicatorEvidence(kind, value, len(holders), weight, snippet)
            pairs[_key(a, b)].indicators.append(item)
    return ids


@dataclass(frozen=True)
class _Copy:
    site: str
    source_id: int
    source_url: str
    first_seen: datetime
    published: datetime | None


def _copies(engine: Engine, suspects: dict[int, str]) -> list[_Copy]:
    """One row per match: the page's site, its source, when the page was first seen."""
    page, source = aliased(Document), aliased(Document)
    query = (
        select(
            page.site_id,
            Match.page_id,
            source.id.label("source_id"),
            source.url.label("source_url"),
            source.published,
            page.added_at,
            Capture.fetched_at,
        )
        .join(page, page.id == Match.page_id)
        .join(source, source.id == Match.source_id)
        .outerjoin(Capture, Capture.id == page.capture_id)
        .order_by(Match.id)
    )
    with engine.connect() as connection:
        return [
            _Copy(
                suspects[row.site_id],
                row.source_id,
                row.source_url,
                row.fetched_at or row.added_at,
                row.published,
            )
            for row in connection.execute(query)
            if row.site_id in suspects
        ]


def _add_timing(copies: list[_Copy], window_hours: float, pairs: _Pairs) -> None:
    # Each site's earliest copy of each source.
    first: dict[int, dict[str, datetime]] = defaultdict(dict)
    urls: dict[int, str] = {}
    for copy in copies:
        seen = first[copy.source_id]
        if copy.site not in seen or copy.first_seen < seen[copy.site]:
            seen[copy.site] = copy.first_seen
        urls[copy.source_id] = copy.source_url
    window = window_hours * 3600
    for source_id, seen in first.items():
        count = len(seen)
        if count < 2 or count > MAX_SHARING_SITES:
            continue
        for a, b in combinations(sorted(seen), 2):
            apart = abs((seen[a] - seen[b]).total_seconds())
            if apart > window:
                continue
            closeness = 1.0 - 0.5 * (apart / window if window else 0.0)
            weight = TIMING_WEIGHT * closeness / (count - 1) ** 0.5
            item = TimingEvidence(urls[source_id], seen[a], seen[b], count, weight)
            pairs[_key(a, b)].timing.append(item)


def _add_substitutions(engine: Engine, suspects: dict[int, str], pairs: _Pairs) -> None:
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(
            select(LearnedSubstitution.spun, LearnedSubstitution.original, SubstitutionSite.site_id)
            .join(LearnedSubstitution, LearnedSubstitution.id == SubstitutionSite.substitution_id)
            .order_by(LearnedSubstitution.spun, LearnedSubstitution.original)
        )
        for row in rows:
            if row.site_id in suspects:
                users[row.spun, row.original].append(suspects[row.site_id])
    for (spun, original), sites in users.items():
        count = len(sites)
        if count < 2 or count > MAX_SHARING_SITES:
            continue
        item = SubstitutionEvidence(spun, original, count, SUBSTITUTION_WEIGHT / (count - 1))
        for a, b in combinations(sorted(sites), 2):
            pairs[_key(a, b)].substitutions.append(item)


def _site_stats(suspects: dict[int, str], engine: Engine, copies: list[_Copy]) -> list[SiteStats]:
    pages: dict[str, int] = defaultdict(int)
    with engine.connect() as connection:
        for site_id in connection.scalars(select(Document.site_id).where(Document.role == "page")):
            if site_id in suspects:
                pages[suspects[site_id]] += 1
    sources: dict[str, set[int]] = defaultdict(set)
    lags: dict[str, list[float]] = defaultdict(list)
    for copy in copies:
        sources[copy.site].add(copy.source_id)
        if copy.published is not None:
            lags[copy.site].append((copy.first_seen - copy.published).total_seconds() / 3600)
    # copied pages are distinct page documents; _copies has one row per match, so count again.
    page_ids = _copied_page_ids(engine, suspects)
    stats = []
    for domain in sorted(suspects.values()):
        lag = statistics.median(lags[domain]) if lags[domain] else None
        stats.append(
            SiteStats(
                domain,
                pages[domain],
                page_ids.get(domain, 0),
                len(sources[domain]),
                None if lag is None else round(lag, 1),
            )
        )
    return stats


def _copied_page_ids(engine: Engine, suspects: dict[int, str]) -> dict[str, int]:
    page = aliased(Document)
    counts: dict[str, set[int]] = defaultdict(set)
    with engine.connect() as connection:
        for row in connection.execute(
            select(page.site_id, Match.page_id).join(page, page.id == Match.page_id)
        ):
            if row.site_id in suspects:
                counts[suspects[row.site_id]].add(row.page_id)
    return {domain: len(ids) for domain, ids in counts.items()}
