"""The network report's data files: GEXF for Gephi, a PNG drawing and sites.csv.

Site names, indicator values and substitutions come from content farms: in GEXF they are XML
text escaped by the writer, with the characters XML 1.0 cannot carry removed; in the CSV a
value that a spreadsheet would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

from spintrace.reports.network.drawing import community_colour, edge_colour, layout
from spintrace.reports.tables import spreadsheet_safe

if TYPE_CHECKING:
    import networkx as nx

    from spintrace.reports.network.model import EdgeEvidence

__all__ = [
    "SITES_COLUMNS",
    "evidence_lines",
    "site_rows",
    "write_csv",
    "write_gexf",
    "write_png",
]

SITES_COLUMNS = (
    "site",
    "community",
    "pages",
    "copied_pages",
    "sources_copied",
    "median_lag_hours",
    "links",
    "strongest_link",
)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def evidence_lines(evidence: EdgeEvidence) -> dict[str, str]:
    """The edge's evidence as plain one-line strings (GEXF attributes)."""
    return {
        "shared_indicators": "; ".join(f"{i.kind}={i.value}" for i in evidence.indicators),
        "shared_sources": "; ".join(
            f"{t.source_url} ({t.hours_apart:.1f} h apart)" for t in evidence.timing
        ),
        "shared_substitutions": "; ".join(
            f"{s.spun} -> {s.original}" for s in evidence.substitutions
        ),
    }


def write_gexf(graph: nx.Graph[str], path: Path) -> Path:
    """The graph with plain attribute values (numbers and strings), readable by Gephi."""
    import networkx as nx

    plain: nx.Graph[str] = nx.Graph()
    for node, data in graph.nodes(data=True):
        attributes = {
            key: _xml_text(value) if isinstance(value, str) else value
            for key, value in data.items()
            if isinstance(value, int | float | str)
        }
        plain.add_node(_xml_text(node), label=_xml_text(node), **attributes)
    for a, b, data in graph.edges(data=True):
        evidence = data["evidence"]
        attributes = {key: value for key, value in data.items() if isinstance(value, float)}
        attributes.update(
            {key: _xml_text(text) for key, text in evidence_lines(evidence).items()},
            weight=data["strength"],
            indicators=evidence.indicator_count,
            sources=evidence.timing_count,
            substitutions=evidence.substitution_count,
        )
        plain.add_edge(_xml_text(a), _xml_text(b), **attributes)
    nx.write_gexf(plain, path)
    return path


def site_rows(graph: nx.Graph[str]) -> list[dict[str, object]]:
    """One row per site, :data:`SITES_COLUMNS`, by community then name."""
    rows = []
    for node, data in graph.nodes(data=True):
        neighbours = sorted(
            graph[node].items(), key=lambda item: (-float(item[1]["strength"]), item[0])
        )
        strongest = f"{neighbours[0][0]} ({neighbours[0][1]['strength']:.2f})" if neighbours else ""
        rows.append(
            {
                "site": node,
                "community": data["community"],
                "pages": data["pages"],
                "copied_pages": data["copied_pages"],
                "sources_copied": data["sources_copied"],
                "median_lag_hours": data.get("median_lag_hours", ""),
                "links": len(neighbours),
                "strongest_link": strongest,
            }
        )
    rows.sort(key=lambda row: (int(str(row["community"])), str(row["site"])))
    return rows


def write_csv(graph: nx.Graph[str], path: Path) -> Path:
    """sites.csv: per-site counts and community."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SITES_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in site_rows(graph):
            writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
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
        axes.plot(
            [x1, x2], [y1, y2], color=edge_colour(data), alpha=0.7,
            linewidth=1 + 5 * float(data["strength"]), zorder=1,
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
        "(red: shared IDs, blue: same sources within the window, purple: same spinner)"
    )
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
