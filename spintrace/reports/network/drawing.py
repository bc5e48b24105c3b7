"""Where the network drawings put each site and what colours they use: shared by the PNG
(``files.py``) and the page's SVG (``html.py``), so both show the same picture."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "CHANNEL_COLOURS",
    "COMMUNITY_COLOURS",
    "TIER_DASHES",
    "community_colour",
    "edge_colour",
    "edge_dashes",
    "layout",
    "svg_dashes",
]

CHANNEL_COLOURS = {
    "indicator": "#c0392b",
    "timing": "#2471a3",
    "substitution": "#7d3c98",
    "money": "#1e8449",
}
COMMUNITY_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#bcbd22", "#17becf", "#7f7f7f",
)  # fmt: skip


TIER_DASHES: dict[str, tuple[float, ...]] = {
    "strong": (),
    "medium": (6.0, 3.0),
    "weak": (1.5, 3.0),
}
"""Line dashes (on, off lengths) per evidence tier: strong links solid, medium dashed, weak
dotted."""


def edge_dashes(tier: str) -> tuple[float, ...]:
    """The dash pattern of a link of ``tier`` (empty: a solid line)."""
    return TIER_DASHES.get(tier, TIER_DASHES["weak"])


def svg_dashes(tier: str) -> str:
    """The dash pattern of a link of ``tier`` as an SVG ``stroke-dasharray`` ("": solid)."""
    return " ".join(f"{length:g}" for length in edge_dashes(tier))


def community_colour(community: int) -> str:
    """A fill colour per community; communities past the palette are grey."""
    index = community - 1
    return COMMUNITY_COLOURS[index] if 0 <= index < len(COMMUNITY_COLOURS) else "#b0b0b0"


def edge_colour(attributes: dict[str, Any]) -> str:
    """The colour of an edge's strongest channel."""
    channel = max(CHANNEL_COLOURS, key=lambda name: float(attributes[f"{name}_strength"]))
    return CHANNEL_COLOURS[channel]


def layout(graph: nx.Graph[str]) -> dict[str, tuple[float, float]]:
    """Node positions in 0..1 (spring layout on the strengths, fixed seed: same input, same
    drawing)."""
    import networkx as nx

    if graph.number_of_nodes() == 0:
        return {}
    if graph.number_of_nodes() == 1:
        return {node: (0.5, 0.5) for node in graph}
    positions = nx.spring_layout(graph, weight="strength", seed=7, k=1.5 / len(graph) ** 0.5)
    xs = [float(x) for x, _ in positions.values()]
    ys = [float(y) for _, y in positions.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    return {
        str(node): ((float(x) - min(xs)) / span_x, (float(y) - min(ys)) / span_y)
        for node, (x, y) in positions.items()
    }
