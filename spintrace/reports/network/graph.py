"""The network report: which suspect sites look run by the same operator, and why.

Sites are linked by three kinds of stored evidence (never by re-matching):

- **indicators**: the same (kind, value) on two sites, weighed by :data:`INDICATOR_WEIGHTS`;
- **timing**: both sites' copies of the same source first seen within ``window_hours``;
- **substitutions**: learned spinner substitutions used by both sites (``substitution_sites``).

Each shared item has a weight in 0..1; a channel's strength combines its items as independent
clues (noisy-OR, ``1 - prod(1 - w)``), and the edge strength combines the three channels the
same way. docs/reports.md explains the weights. Communities come from networkx's greedy
modularity on the strengths.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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
from spintrace.errors import ReportError

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "DEFAULT_MIN_STRENGTH",
    "DEFAULT_WINDOW_HOURS",
    "EVIDENCE_LIMIT",
    "INDICATOR_WEIGHTS",
    "EdgeEvidence",
    "IndicatorEvidence",
    "NetworkSummary",
    "SiteStats",
    "SubstitutionEvidence",
    "TimingEvidence",
    "build_network",
    "noisy_or",
    "write_network_report",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_WINDOW_HOURS = 48.0
DEFAULT_MIN_STRENGTH = 0.1
"""Edges weaker than this are left out: a shared theme alone (0.2) stays, a shared generator
string alone (0.05) does not."""
EVIDENCE_LIMIT = 20
"""Items of each kind listed on an edge (the strongest first); counts cover all of them."""
MAX_SHARING_SITES = 50
"""Discounted values (weak indicators, sources, substitutions) on more sites are skipped: their
weight would be under 1% per pair and the pairs would grow with the square of the count."""

Rule = Literal["id", "weak", "rare"]

INDICATOR_WEIGHTS: dict[str, tuple[float, Rule]] = {
    # Account IDs: whoever holds one is paid by or reads the stats of every site carrying it.
    # Not discounted by how many sites share it: twenty sites on one AdSense ID are one payee.
    "adsense": (0.9, "id"),
    "google-analytics": (0.8, "id"),
    "google-tag-manager": (0.8, "id"),
    "google-ads": (0.7, "id"),
    "google-tag": (0.7, "id"),
    "facebook-pixel": (0.8, "id"),
    "yandex-metrica": (0.8, "id"),
    "amazon-affiliate": (0.8, "id"),
    "hotjar": (0.7, "id"),
    "microsoft-clarity": (0.7, "id"),
    "statcounter": (0.7, "id"),
    "quantcast": (0.7, "id"),
    "taboola": (0.5, "id"),
    "outbrain": (0.5, "id"),
    # Templates: shared by unrelated sites too; divided by (sites sharing it - 1).
    "wordpress-theme": (0.2, "weak"),
    "wordpress-plugin": (0.1, "weak"),
    "generator": (0.05, "weak"),
    # A custom icon's SHA-256 ties sites; a stock one (a CMS default) is shared by many,
    # hence divided by (sites sharing it - 1) like the templates.
    "favicon-hash": (0.5, "weak"),
    # Not operator evidence unless only these two sites have it (an icon hotlinked from the
    # same third host; the same obscure outbound link).
    "favicon-url": (0.3, "rare"),
    "outbound-link": (0.1, "rare"),
}
TIMING_WEIGHT = 0.35
"""Per source both sites copied within the window; halved at the window's edge, divided by
sqrt(sites copying it - 1). Three such sources give 0.73."""
SUBSTITUTION_WEIGHT = 0.06
"""Per learned substitution both sites used, divided by (sites using it - 1): eleven pairs
used by just these two give 0.49; "said -> stated" on 30 sites adds 0.002."""


@dataclass(frozen=True)
class SiteStats:
    """A suspect site's counts (``median_lag_hours`` is None when no copied source has a date)."""

    domain: str
    pages: int
    copied_pages: int
    sources_copied: int
    median_lag_hours: float | None


@dataclass(frozen=True)
class IndicatorEvidence:
    kind: str
    value: str
    sites: int
    """How many suspect sites carry this value."""
    weight: float
    snippet: str
    """Where it was seen on the first of the two sites (plain text, hostile)."""


@dataclass(frozen=True)
class TimingEvidence:
    source_url: str
    first_seen_a: datetime
    first_seen_b: datetime
    sites: int
    """How many suspect sites copied this source (at any time)."""
    weight: float

    @property
    def hours_apart(self) -> float:
        return abs((self.first_seen_a - self.first_seen_b).total_seconds()) / 3600


@dataclass(frozen=True)
class SubstitutionEvidence:
    spun: str
    original: str
    sites: int
    weight: float


@dataclass(frozen=True)
class EdgeEvidence:
    """Everything that links two sites; lists capped at :data:`EVIDENCE_LIMIT`, strongest first."""

    indicators: tuple[IndicatorEvidence, ...] = ()
    timing: tuple[TimingEvidence, ...] = ()
    substitutions: tuple[SubstitutionEvidence, ...] = ()
    indicator_count: int = 0
    timing_count: int = 0
    substitution_count: int = 0


@dataclass(frozen=True)
class NetworkSummary:
    """What :func:`write_network_report` wrote."""

    sites: int
    edges: int
    communities: int
    files: tuple[Path, ...] = field(default_factory=tuple)


def noisy_or(weights: Iterable[float]) -> float:
    """Independent clues combined: ``1 - prod(1 - w)``, in 0..1."""
    missing = 1.0
    for weight in weights:
        missing *= 1.0 - min(max(weight, 0.0), 1.0)
    return 1.0 - missing


@dataclass
class _Pair:
    indicators: list[IndicatorEvidence] = field(default_factory=list)
    timing: list[TimingEvidence] = field(default_factory=list)
    substitutions: list[SubstitutionEvidence] = field(default_factory=list)


_Pairs = defaultdict[tuple[str, str], _Pair]


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


def _evidence(pair: _Pair) -> EdgeEvidence:
    def top(items: list[_Item]) -> tuple[_Item, ...]:
        return tuple(sorted(items, key=lambda item: -item.weight)[:EVIDENCE_LIMIT])

    return EdgeEvidence(
        indicators=top(pair.indicators),  # type: ignore[arg-type]
        timing=top(pair.timing),  # type: ignore[arg-type]
        substitutions=top(pair.substitutions),  # type: ignore[arg-type]
        indicator_count=len(pair.indicators),
        timing_count=len(pair.timing),
        substitution_count=len(pair.substitutions),
    )


_Item = IndicatorEvidence | TimingEvidence | SubstitutionEvidence


def build_network(
    engine: Engine,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    min_strength: float = DEFAULT_MIN_STRENGTH,
) -> nx.Graph[str]:
    """The graph of suspect sites (sites with pages) and the evidence linking them.

    Nodes are domains, with ``pages``, ``copied_pages``, ``sources_copied``,
    ``median_lag_hours`` (absent when unknown), ``ids`` (its account IDs, absent if none),
    ``community`` (1 = the largest) and ``stats`` (a :class:`SiteStats`). Edges have
    ``strength`` (0..1), ``indicator_strength``, ``timing_strength``,
    ``substitution_strength`` and ``evidence`` (an :class:`EdgeEvidence`).
    Only edges of at least ``min_strength`` are kept; every edge has evidence.
    """
    import networkx as nx

    if window_hours < 0:
        raise ValueError(f"window_hours must be >= 0, not {window_hours}")
    suspects = _suspects(engine)
    copies = _copies(engine, suspects)
    pairs: _Pairs = defaultdict(_Pair)
    ids = _add_indicators(engine, suspects, pairs)
    _add_timing(copies, window_hours, pairs)
    _add_substitutions(engine, suspects, pairs)

    graph: nx.Graph[str] = nx.Graph(
        window_hours=window_hours,
        min_strength=min_strength,
        generated_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    for stats in _site_stats(suspects, engine, copies):
        attributes: dict[str, object] = {
            "pages": stats.pages,
            "copied_pages": stats.copied_pages,
            "sources_copied": stats.sources_copied,
            "stats": stats,
        }
        if ids.get(stats.domain):
            attributes["ids"] = "; ".join(ids[stats.domain][:EVIDENCE_LIMIT])
        if stats.median_lag_hours is not None:
            attributes["median_lag_hours"] = stats.median_lag_hours
        graph.add_node(stats.domain, **attributes)
    for (a, b), pair in sorted(pairs.items()):
        channels = {
            "indicator_strength": noisy_or(item.weight for item in pair.indicators),
            "timing_strength": noisy_or(item.weight for item in pair.timing),
            "substitution_strength": noisy_or(item.weight for item in pair.substitutions),
        }
        strength = noisy_or(channels.values())
        if strength <= 0 or strength < min_strength:
            continue
        rounded = {name: round(value, 4) for name, value in channels.items()}
        graph.add_edge(a, b, strength=round(strength, 4), evidence=_evidence(pair), **rounded)
    _assign_communities(graph)
    return graph


def _assign_communities(graph: nx.Graph[str]) -> None:
    """Number communities 1.. by size (largest first); a site with no edge is its own."""
    from networkx.algorithms.community import greedy_modularity_communities

    groups: list[set[str]] = []
    linked = graph.subgraph([node for node in graph if graph.degree(node) > 0])
    if linked.number_of_edges():
        groups = [set(group) for group in greedy_modularity_communities(linked, weight="strength")]
    groups += [{node} for node in graph if graph.degree(node) == 0]
    groups.sort(key=lambda group: (-len(group), min(group)))
    for number, group in enumerate(groups, start=1):
        for node in group:
            graph.nodes[node]["community"] = number


def write_network_report(
    graph_or_engine: nx.Graph[str] | Engine,
    output_dir: Path,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    min_strength: float = DEFAULT_MIN_STRENGTH,
) -> NetworkSummary:
    """Write network.gexf, network.png, network.html and sites.csv into ``output_dir``.

    Given an engine, the graph is built first with ``window_hours`` and ``min_strength``.
    """
    from spintrace.reports.network.files import write_csv, write_gexf, write_png
    from spintrace.reports.network.html import render_network_html

    if isinstance(graph_or_engine, Engine):
        graph = build_network(graph_or_engine, window_hours, min_strength)
    else:
        graph = graph_or_engine
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {output_dir}: {exc.strerror}") from None
    files = (
        write_gexf(graph, output_dir / "network.gexf"),
        write_png(graph, output_dir / "network.png"),
        write_csv(graph, output_dir / "sites.csv"),
    )
    html = output_dir / "network.html"
    html.write_text(render_network_html(graph), encoding="utf-8")
    communities = {graph.nodes[node]["community"] for node in graph}
    return NetworkSummary(
        sites=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        communities=len(communities),
        files=(*files, html),
    )
