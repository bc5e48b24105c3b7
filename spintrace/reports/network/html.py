"""network.html: one self-contained page (inline SVG drawing, tables), no script, works offline.

Every value shown comes from scraped pages and is hostile: each one goes through
:func:`html.escape` (quotes too, so attributes are safe), only http(s) URLs become links, and
the page's Content-Security-Policy forbids scripts, remote loads and forms anyway.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

from spintrace._version import __version__
from spintrace.reports.network.files import (
    CHANNEL_COLOURS,
    community_colour,
    edge_colour,
    layout,
    site_rows,
)

if TYPE_CHECKING:
    import networkx as nx

    from spintrace.reports.network.graph import EdgeEvidence

__all__ = ["CSP", "render_network_html"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
# A literal http(s) scheme and no whitespace or control characters: browsers drop tabs and
# newlines inside URLs, which could otherwise turn "java\tscript:" back into a scheme.
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
WIDTH, HEIGHT, MARGIN_X, MARGIN_Y = 1000, 600, 120, 50

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1300px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.meta { color: #555; } .small { font-size: 12px; color: #555; }
table { border-collapse: collapse; margin: 8px 0; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; white-space: nowrap; }
svg { border: 1px solid #ddd; background: #fcfcfc; max-width: 100%; height: auto; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 6px;
          vertical-align: middle; margin-right: 4px; }
.line { display: inline-block; width: 22px; height: 4px; vertical-align: middle;
        margin: 0 4px 0 12px; }
ul.evidence { margin: 0; padding-left: 18px; } code { overflow-wrap: anywhere; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _link(url: str) -> str:
    """An escaped link for an http(s) URL; anything else is shown as plain text."""
    if _HTTP_URL.fullmatch(url):
        return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(url)}</a>'
    return f"<code>{_e(url)}</code>"


def _svg(graph: nx.Graph[str]) -> str:
    positions = layout(graph)

    def point(node: str) -> tuple[float, float]:
        x, y = positions[node]
        return MARGIN_X + x * (WIDTH - 2 * MARGIN_X), MARGIN_Y + (1 - y) * (HEIGHT - 2 * MARGIN_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="site network">'
    ]
    for a, b, data in sorted(graph.edges(data=True), key=lambda e: float(e[2]["strength"])):
        (x1, y1), (x2, y2) = point(a), point(b)
        width = 1 + 7 * float(data["strength"])
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{edge_colour(data)}" stroke-width="{width:.1f}" stroke-opacity="0.75">'
            f"<title>{_e(a)} - {_e(b)}: strength {float(data['strength']):.2f}</title></line>"
        )
    for node in sorted(graph):
        data = graph.nodes[node]
        x, y = point(node)
        radius = 7 + 1.5 * min(int(data["pages"]), 20)
        parts.append(
            f'<g><circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
            f'fill="{community_colour(int(data["community"]))}" stroke="#333">'
            f"<title>{_e(node)}: community {int(data['community'])}, {int(data['pages'])} "
            f"pages</title></circle>"
            f'<text x="{x:.1f}" y="{y - radius - 4:.1f}" text-anchor="middle" '
            f'font-size="12" fill="#222">{_e(node)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend() -> str:
    names = {
        "indicator": "shared tracking/ad IDs or template",
        "timing": "same sources copied within the window",
        "substitution": "same learned spinner substitutions",
    }
    return "".join(
        f'<span class="line" style="background:{CHANNEL_COLOURS[key]}"></span>{_e(label)}'
        for key, label in names.items()
    )


def _evidence_cell(evidence: EdgeEvidence) -> str:
    items: list[str] = []
    for indicator in evidence.indicators:
        items.append(
            f"<li>{_e(indicator.kind)} <code>{_e(indicator.value)}</code> "
            f"(on {indicator.sites} sites, weight {indicator.weight:.2f})"
            f'<br><span class="small">{_e(indicator.snippet)}</span></li>'
        )
    if evidence.indicator_count > len(evidence.indicators):
        items.append(f"<li>... {evidence.indicator_count - len(evidence.indicators)} more</li>")
    for timing in evidence.timing:
        items.append(
            f"<li>both copied {_link(timing.source_url)} {timing.hours_apart:.1f} h apart "
            f"(copied by {timing.sites} sites)</li>"
        )
    if evidence.timing_count > len(evidence.timing):
        items.append(f"<li>... {evidence.timing_count - len(evidence.timing)} more sources</li>")
    if evidence.substitutions:
        pairs = ", ".join(
            f"<code>{_e(s.spun)}</code> &rarr; <code>{_e(s.original)}</code>"
            + (f" ({s.sites} sites)" if s.sites > 2 else "")
            for s in evidence.substitutions
        )
        more = evidence.substitution_count - len(evidence.substitutions)
        items.append(f"<li>spinner: {pairs}{f' and {more} more' if more > 0 else ''}</li>")
    return '<ul class="evidence">' + "".join(items) + "</ul>"


def _communities(graph: nx.Graph[str]) -> str:
    members: dict[int, list[str]] = {}
    for node, data in graph.nodes(data=True):
        members.setdefault(int(data["community"]), []).append(str(node))
    rows = []
    for number in sorted(members):
        sites = sorted(members[number])
        inner = graph.subgraph(sites)
        strengths = [float(d["strength"]) for _, _, d in inner.edges(data=True)]
        strongest = f"{max(strengths):.2f}" if strengths else "-"
        rows.append(
            f'<tr><td><span class="swatch" style="background:{community_colour(number)}">'
            f'</span>{number}</td><td class="num">{len(sites)}</td>'
            f'<td class="num">{inner.number_of_edges()}</td><td class="num">{strongest}</td>'
            f"<td>{', '.join(_e(site) for site in sites)}</td></tr>"
        )
    return (
        "<table><tr><th>community</th><th>sites</th><th>links inside</th>"
        "<th>strongest link</th><th>members</th></tr>" + "".join(rows) + "</table>"
    )


def _sites(graph: nx.Graph[str]) -> str:
    rows = []
    for row in site_rows(graph):
        lag = row["median_lag_hours"]
        rows.append(
            f"<tr><td>{_e(row['site'])}</td><td class='num'>{_e(row['community'])}</td>"
            f"<td class='num'>{_e(row['pages'])}</td><td class='num'>{_e(row['copied_pages'])}</td>"
            f"<td class='num'>{_e(row['sources_copied'])}</td>"
            f"<td class='num'>{_e(lag) if lag != '' else '-'}</td>"
            f"<td class='num'>{_e(row['links'])}</td><td>{_e(row['strongest_link'])}</td>"
            f"<td><code>{_e(graph.nodes[str(row['site'])].get('ids', ''))}</code></td></tr>"
        )
    return (
        "<table><tr><th>site</th><th>community</th><th>pages</th><th>copied pages</th>"
        "<th>sources copied</th><th>median lag (h)</th><th>links</th><th>strongest link</th>"
        "<th>tracking and ad IDs</th></tr>" + "".join(rows) + "</table>"
    )


def _edges(graph: nx.Graph[str]) -> str:
    edges = sorted(graph.edges(data=True), key=lambda e: (-float(e[2]["strength"]), e[0], e[1]))
    rows = []
    for a, b, data in edges:
        channels = " / ".join(
            f"{float(data[f'{name}_strength']):.2f}"
            for name in ("indicator", "timing", "substitution")
        )
        rows.append(
            f"<tr><td>{_e(a)}</td><td>{_e(b)}</td>"
            f"<td class='num'><strong>{float(data['strength']):.2f}</strong></td>"
            f"<td class='num'>{channels}</td><td>{_evidence_cell(data['evidence'])}</td></tr>"
        )
    if not rows:
        return "<p>No links: no two sites share evidence above the minimum strength.</p>"
    return (
        "<table><tr><th>site</th><th>site</th><th>strength</th>"
        "<th>IDs / timing / spinner</th><th>evidence</th></tr>" + "".join(rows) + "</table>"
    )


def render_network_html(graph: nx.Graph[str]) -> str:
    """The whole page as a string."""
    info: dict[str, Any] = graph.graph
    communities = len({data["community"] for _, data in graph.nodes(data=True)})
    window = float(info.get("window_hours", 0))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>spintrace network report</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Content-farm network</h1>
<p class="meta">{graph.number_of_nodes()} suspect sites, {graph.number_of_edges()} links,
{communities} communities. Same sources counted within {window:g} hours; links weaker than
{float(info.get("min_strength", 0)):.2f} left out. Generated {_e(info.get("generated_at", ""))}
by spintrace {_e(__version__)} from stored evidence.</p>
<p class="small">A link's strength (0 to 1) combines its clues as independent evidence: an
AdSense or Analytics ID on both sites counts most; a shared theme or plugin a little, less when
many sites use it; each source both copied within the window and each rare spinner substitution
both used add more. Node colour is the community, line colour the strongest kind of clue.</p>
<div>{_legend()}</div>
{_svg(graph)}
<h2>Communities</h2>
{_communities(graph)}
<h2>Sites</h2>
<p class="small">Median lag: hours from the source's publication to the copy first being seen
(capture time, else import time).</p>
{_sites(graph)}
<h2>Links and their evidence</h2>
{_edges(graph)}
</body>
</html>
"""
