"""The network report's graph files: GEXF for Gephi and a PNG drawing.

Site names, indicator values and substitutions come from content farms: in GEXF they are XML
text escaped by the writer, with the characters XML 1.0 cannot carry removed.

The GEXF is made for filtering in Gephi: a node attribute per indicator kind (``adsense``,
``google-analytics``, ``wordpress-theme``, ...; several values of one kind joined by ``; ``),
and on edges the ``tier``, a ``<kind>_strength`` per kind of evidence and the evidence as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spintrace.reports.network.drawing import community_colour, edge_colour, edge_dashes, layout
from spintrace.reports.network.model import EVIDENCE_LIMIT, INDICATOR_WEIGHTS
from spintrace.reports.network.rows import evidence_lines
from spintrace.reports.rendering import show_bidi

if TYPE_CHECKING:
    import networkx as nx

    from spintrace.reports.network.model import EdgeEvidence

__all__ = ["write_gexf", "write_png"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Node attributes the GEXF leaves out: the account IDs are there one attribute per kind.
_NOT_IN_GEXF = frozenset({"ids"})


def _xml_text(value: object) -> str:
    return str(show_bidi(_NOT_XML.sub("", str(value))))


def _node_attributes(data: dict[str, Any]) -> dict[str, object]:
    """A node's plain attributes, and one attribute per indicator kind it has."""
    attributes: dict[str, object] = {
        key: _xml_text(value) if isinstance(value, str) else value
        for key, value in data.items()
        if isinstance(value, int | float | str) and key not in _NOT_IN_GEXF
    }
    indicators = data.get("indicators")
    if isinstance(indicators, dict):
        for kind in INDICATOR_WEIGHTS:
            values = indicators.get(kind)
            if values:
                attributes[kind] = _xml_text("; ".join(values[:EVIDENCE_LIMIT]))
    return attributes


def _edge_attributes(data: dict[str, Any]) -> dict[str, object]:
    """An edge's strengths and tier, the evidence as text and its counts."""
    evidence: EdgeEvidence = data["evidence"]
    attributes: dict[str, object] = {
        key: value for key, value in data.items() if isinstance(value, float)
    }
    attributes.update(
        {key: _xml_text(text) for key, text in evidence_lines(evidence).items()},
        tier=str(data["tier"]),
        weight=data["strength"],
        indicators=evidence.indicator_count,
        sources=evidence.timing_count,
        substitutions=evidence.substitution_count,
        same_spins=evidence.same_spin_count,
        money=evidence.money_count,
    )
    return attributes


def write_gexf(graph: nx.Graph[str], path: Path) -> Path:
    """The graph with plain attribute values (numbers and strings), readable by Gephi."""
    import networkx as nx

    plain: nx.Graph[str] = nx.Graph()
    for node, data in graph.nodes(data=True):
        plain.add_node(_xml_text(node), label=_xml_text(node), **_node_attributes(data))
    for a, b, data in graph.edges(data=True):
        plain.add_edge(_xml_text(a), _xml_text(b), **_edge_attributes(data))
    nx.write_gexf(plain, path)
    return path


def _label(text: str) -> str:
    # matplotlib reads $...$ as mathtext; a site name is shown as typed.
    text = _CONTROL.sub("", text)
    return text.replace("\\", "\\\\").replace("$", r"\$")


def write_png(graph: nx.Graph[str], path: Path) -> Path:
    """A drawing of the graph (matplotlib, Agg: no display needed)."""
    # A bare Figure (no pyplot): no global backend state, no display, nothing to close.
    from matplotlib.figure import Figure

    positions = layout(graph)
    figure = Figure(figsize=(12, 9), dpi=100)
    axes = figure.subplots()
    axes.set_axis_off()
    for a, b, data in graph.edges(data=True):
        (x1, y1), (x2, y2) = positions[a], positions[b]
        dashes = edge_dashes(str(data["tier"]))
        axes.plot(
            [x1, x2], [y1, y2], color=edge_colour(data), alpha=0.7,
            linewidth=1 + 5 * float(data["strength"]), zorder=1,
            linestyle=(0, dashes) if dashes else "-",
        )  # fmt: skip
    for node, data in graph.nodes(data=True):
        x, y = positions[node]
        size = 120 + 40 * min(int(data["pages"]), 50)
        axes.scatter([x], [y], s=size, color=community_colour(int(data["community"])),
                     edgecolors="#333333", zorder=2)  # fmt: skip
        axes.annotate(_label(str(node)), (x, y), xytext=(0, 12), textcoords="offset points",
                      ha="center", fontsize=9, zorder=3)  # fmt: skip
    axes.set_xlim(-0.12, 1.12)
    axes.set_ylim(-0.1, 1.1)
    axes.set_title(
        f"{graph.number_of_nodes()} sites, {graph.number_of_edges()} links "
        "(red: shared IDs, blue: same sources within the window, purple: same spinner, "
        "green: money trail; "
        "solid: strong, dashed: medium, dotted: weak)"
    )
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
