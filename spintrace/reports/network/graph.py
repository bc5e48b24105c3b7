"""The network report: which suspect sites look run by the same operator, and why.

:func:`build_network` turns the stored evidence (:mod:`~spintrace.reports.network.evidence`,
weighed as :mod:`~spintrace.reports.network.model` says) into a networkx graph of sites;
communities come from networkx's greedy modularity on the link strengths.
:func:`write_network_report` writes that graph out as GEXF, PNG, CSV and an HTML page, and a
dossier per site (:mod:`spintrace.reports.dossier`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from spintrace.errors import ReportError
from spintrace.reports.network.evidence import PairEvidence, StoredEvidence, read_evidence
from spintrace.reports.network.files import write_gexf, write_png
from spintrace.reports.network.html import render_network_html
from spintrace.reports.network.model import (
    DEFAULT_MIN_STRENGTH,
    DEFAULT_WINDOW_HOURS,
    EVIDENCE_LIMIT,
    INDICATOR_WEIGHTS,
    TIERS,
    NetworkSummary,
    noisy_or,
)
from spintrace.reports.network.rows import write_edges_csv, write_sites_csv

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["build_network", "write_network_report"]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


def build_network(
    engine: Engine,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    min_strength: float = DEFAULT_MIN_STRENGTH,
) -> nx.Graph[str]:
    """The graph of suspect sites (sites with pages) and the evidence linking them.

    Nodes are domains, with ``pages``, ``copied_pages``, ``sources_copied``,
    ``median_lag_hours`` (absent when unknown), ``indicators`` (its stored indicator values
    by kind), ``ids`` (its account IDs as one line, absent if none), ``community`` (1 = the
    largest), ``strongest_tier`` (the best tier of its links, absent without links) and
    ``stats`` (a :class:`SiteStats`). Edges have ``strength`` (0..1), ``tier`` (``strong``,
    ``medium`` or ``weak``), a ``<kind>_strength`` per evidence kind (``ids``, ``template``,
    ``timing``, ``rare_spins``, ``thesaurus_spins``, ``same_spin``, ``money``), the drawing's
    channels' (``indicator_strength``, ``substitution_strength``, ...), and ``evidence`` (an
    :class:`EdgeEvidence`).
    Only edges of at least ``min_strength`` are kept; every edge has evidence.
    """
    import networkx as nx

    if window_hours < 0:
        raise ValueError(f"window_hours must be >= 0, not {window_hours}")
    stored = read_evidence(engine, window_hours)
    graph: nx.Graph[str] = nx.Graph(
        window_hours=window_hours,
        min_strength=min_strength,
        generated_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    _add_sites(graph, stored)
    _add_links(graph, stored.pairs, min_strength)
    _assign_communities(graph)
    _mark_strongest_tiers(graph)
    return graph


def _account_ids(indicators: dict[str, list[str]]) -> list[str]:
    """A site's account IDs as ``kind value``, in the order of :data:`INDICATOR_WEIGHTS`."""
    return [
        f"{kind} {value}"
        for kind, (_, rule) in INDICATOR_WEIGHTS.items()
        if rule == "id"
        for value in indicators.get(kind, ())
    ]


def _add_sites(graph: nx.Graph[str], stored: StoredEvidence) -> None:
    for stats in stored.sites:
        indicators = stored.indicators.get(stats.domain, {})
        attributes: dict[str, object] = {
            "pages": stats.pages,
            "copied_pages": stats.copied_pages,
            "sources_copied": stats.sources_copied,
            "indicators": indicators,
            "stats": stats,
        }
        ids = _account_ids(indicators)
        if ids:
            attributes["ids"] = "; ".join(ids[:EVIDENCE_LIMIT])
        if stats.median_lag_hours is not None:
            attributes["median_lag_hours"] = stats.median_lag_hours
        attributes["timed_copies"] = stats.timed_copies
        attributes["copies_within_2h"] = stats.within_2h
        attributes["copies_within_24h"] = stats.within_24h
        graph.add_node(stats.domain, **attributes)


def _add_links(
    graph: nx.Graph[str], pairs: dict[tuple[str, str], PairEvidence], min_strength: float
) -> None:
    for (a, b), pair in sorted(pairs.items()):
        kinds = pair.kind_strengths()
        strength = noisy_or(kinds.values())
        if strength <= 0 or strength < min_strength:
            continue
        rounded = {
            name: round(value, 4) for name, value in {**pair.channel_strengths(), **kinds}.items()
        }
        graph.add_edge(
            a,
            b,
            strength=round(strength, 4),
            tier=pair.tier(),
            evidence=pair.edge_evidence(),
            **rounded,
        )


def _mark_strongest_tiers(graph: nx.Graph[str]) -> None:
    """Gives each linked site the best tier of its links (``strongest_tier``)."""
    for node in graph:
        tiers = {str(data["tier"]) for data in graph[node].values()}
        best = next((tier for tier in TIERS if tier in tiers), None)
        if best is not None:
            graph.nodes[node]["strongest_tier"] = best


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
    *,
    engine: Engine | None = None,
) -> NetworkSummary:
    """Write network.gexf, network.png, network.html, sites.csv and edges.csv into
    ``output_dir``, and a dossier per suspect site into ``output_dir/dossiers/``, each linked
    from its row of network.html.

    Given an engine, the graph is built first with ``window_hours`` and ``min_strength``.
    Given a graph, the dossiers are written only with the ``engine`` it was built from (they
    read the database).
    """
    if isinstance(graph_or_engine, Engine):
        engine = graph_or_engine
        graph = build_network(engine, window_hours, min_strength)
    else:
        graph = graph_or_engine
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {output_dir}: {exc.strerror}") from None
    files = (
        write_gexf(graph, output_dir / "network.gexf"),
        write_png(graph, output_dir / "network.png"),
        write_sites_csv(graph, output_dir / "sites.csv"),
        write_edges_csv(graph, output_dir / "edges.csv"),
    )
    dossiers: list[Path] = []
    links: dict[str, str] = {}
    if engine is not None:
        # Imported here: the dossiers read the money trail through this package.
        from spintrace.reports.dossier import dossier_name, write_dossiers

        dossiers = write_dossiers(engine, output_dir / "dossiers", back="../network.html")
        names = {path.name for path in dossiers}
        links = {
            node: f"dossiers/{dossier_name(node)}" for node in graph if dossier_name(node) in names
        }
    html = output_dir / "network.html"
    html.write_text(render_network_html(graph, links), encoding="utf-8")
    communities = {graph.nodes[node]["community"] for node in graph}
    return NetworkSummary(
        sites=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        communities=len(communities),
        files=(*files, html),
        dossiers=tuple(dossiers),
    )
