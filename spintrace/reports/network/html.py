"""network.html: one self-contained page (inline SVG drawing, tables), no script, works offline.

The page is ``templates/network.html`` (with the drawing in ``templates/network.svg``), rendered
by :mod:`spintrace.reports.rendering` like every HTML report: every value shown comes from
scraped pages and is hostile, so it is autoescaped, only http(s) URLs become links, and the
page's Content-Security-Policy forbids scripts, remote loads and forms anyway. This module
only works out what the templates show: positions, sizes, colours, and the rows in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spintrace.reports.network.drawing import (
    CHANNEL_COLOURS,
    community_colour,
    edge_colour,
    layout,
    svg_dashes,
)
from spintrace.reports.network.model import (
    EVIDENCE_KINDS,
    MEDIUM_MIN,
    TIERS,
    EdgeEvidence,
    TimingEvidence,
)
from spintrace.reports.network.rows import site_rows
from spintrace.reports.rendering import render_html

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["render_network_html"]

WIDTH, HEIGHT, MARGIN_X, MARGIN_Y = 1000, 600, 120, 50


@dataclass(frozen=True)
class _Line:
    """A link drawn between two sites (coordinates in SVG pixels)."""

    a: str
    b: str
    strength: float
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    colour: str
    tier: str
    dashes: str
    """SVG ``stroke-dasharray`` ("" for a solid line)."""


@dataclass(frozen=True)
class _Node:
    """A site drawn as a circle, its name above it."""

    name: str
    community: int
    pages: int
    x: float
    y: float
    radius: float
    colour: str


@dataclass(frozen=True)
class _Drawing:
    width: int
    height: int
    lines: list[_Line]
    nodes: list[_Node]


@dataclass(frozen=True)
class _Community:
    number: int
    colour: str
    sites: list[str]
    links: int
    strongest: float | None


@dataclass(frozen=True)
class _Timing:
    """A timing clue as the page shows it."""

    source_url: str
    times: tuple[str, str]
    """Each copy's site, what its time is (published or captured) and the time."""
    apart: str
    sites: int


@dataclass(frozen=True)
class _Link:
    a: str
    b: str
    strength: float
    tier: str
    kinds: tuple[float, ...]
    """Each evidence kind's strength, in :data:`EVIDENCE_KINDS` order."""
    evidence: EdgeEvidence
    timing: tuple[_Timing, ...]


def render_network_html(graph: nx.Graph[str], dossiers: dict[str, str] | None = None) -> str:
    """The whole page as a string; ``dossiers`` maps a site to its dossier's relative URL
    (its row links there)."""
    dossiers = dossiers or {}
    info: dict[str, Any] = graph.graph
    return render_html(
        "network.html",
        site_count=graph.number_of_nodes(),
        link_count=graph.number_of_edges(),
        community_count=len({data["community"] for _, data in graph.nodes(data=True)}),
        window_hours=float(info.get("window_hours", 0)),
        min_strength=float(info.get("min_strength", 0)),
        generated_at=info.get("generated_at", ""),
        channel_colours=CHANNEL_COLOURS,
        tiers=[(tier, svg_dashes(tier)) for tier in TIERS],
        medium_min=MEDIUM_MIN,
        drawing=_drawing(graph),
        communities=_communities(graph),
        site_rows=[
            {
                **row,
                "ids": graph.nodes[str(row["site"])].get("ids", ""),
                "dossier": dossiers.get(str(row["site"])),
            }
            for row in site_rows(graph)
        ],
        links=_links(graph),
    )


def _drawing(graph: nx.Graph[str]) -> _Drawing:
    positions = layout(graph)

    def point(node: str) -> tuple[float, float]:
        x, y = positions[node]
        return MARGIN_X + x * (WIDTH - 2 * MARGIN_X), MARGIN_Y + (1 - y) * (HEIGHT - 2 * MARGIN_Y)

    lines = []
    for a, b, data in sorted(graph.edges(data=True), key=lambda e: float(e[2]["strength"])):
        (x1, y1), (x2, y2) = point(a), point(b)
        strength, tier = float(data["strength"]), str(data["tier"])
        width, colour = 1 + 7 * strength, edge_colour(data)
        lines.append(_Line(a, b, strength, x1, y1, x2, y2, width, colour, tier, svg_dashes(tier)))
    nodes = []
    for node in sorted(graph):
        data = graph.nodes[node]
        x, y = point(node)
        community, pages = int(data["community"]), int(data["pages"])
        radius = 7 + 1.5 * min(pages, 20)
        nodes.append(_Node(node, community, pages, x, y, radius, community_colour(community)))
    return _Drawing(WIDTH, HEIGHT, lines, nodes)


def _communities(graph: nx.Graph[str]) -> list[_Community]:
    members: dict[int, list[str]] = {}
    for node, data in graph.nodes(data=True):
        members.setdefault(int(data["community"]), []).append(str(node))
    rows = []
    for number in sorted(members):
        sites = sorted(members[number])
        inner = graph.subgraph(sites)
        strengths = [float(d["strength"]) for _, _, d in inner.edges(data=True)]
        rows.append(
            _Community(
                number,
                community_colour(number),
                sites,
                inner.number_of_edges(),
                max(strengths) if strengths else None,
            )
        )
    return rows


def _timing(item: TimingEvidence) -> _Timing:
    times = tuple(
        f"{site}: {time.basis} {time.at:%Y-%m-%d %H:%M} UTC"
        for site, time in ((item.site_a, item.time_a), (item.site_b, item.time_b))
    )
    bound = "" if item.exact else "at most "
    apart = f"{bound}{item.hours_apart:.1f} h apart"
    return _Timing(item.source_url, (times[0], times[1]), apart, item.sites)


def _link(a: str, b: str, data: dict[str, Any]) -> _Link:
    first, second = sorted((a, b))
    evidence: EdgeEvidence = data["evidence"]
    return _Link(
        first,
        second,
        float(data["strength"]),
        str(data["tier"]),
        tuple(float(data[f"{kind}_strength"]) for kind in EVIDENCE_KINDS),
        evidence,
        tuple(_timing(item) for item in evidence.timing),
    )


def _links(graph: nx.Graph[str]) -> list[_Link]:
    """Every link, strongest tier first, then strongest first."""
    rank = {tier: number for number, tier in enumerate(TIERS)}
    edges = sorted(
        graph.edges(data=True),
        key=lambda e: (rank[e[2]["tier"]], -float(e[2]["strength"]), e[0], e[1]),
    )
    return [_link(str(a), str(b), data) for a, b, data in edges]
