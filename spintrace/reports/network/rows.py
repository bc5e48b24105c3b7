"""The network report's rows: sites.csv and edges.csv, and each edge's evidence as one-line
text (the CSV's and the GEXF's).

Site names, indicator values, URLs and substitutions come from content farms: in the CSV a
value that a spreadsheet would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from spintrace.reports.network.model import EVIDENCE_KINDS
from spintrace.reports.tables import spreadsheet_safe

if TYPE_CHECKING:
    import networkx as nx

    from spintrace.reports.network.model import (
        EdgeEvidence,
        MoneyEvidence,
        SameSpinEvidence,
        TimingEvidence,
    )

__all__ = [
    "EDGES_COLUMNS",
    "EVIDENCE_COLUMNS",
    "SITES_COLUMNS",
    "edge_rows",
    "evidence_lines",
    "money_line",
    "same_spin_line",
    "site_rows",
    "timing_line",
    "write_edges_csv",
    "write_sites_csv",
]

SITES_COLUMNS = (
    "site",
    "community",
    "pages",
    "copied_pages",
    "sources_copied",
    "median_lag_hours",
    "timed_copies",
    "copies_within_2h",
    "copies_within_24h",
    "links",
    "strongest_link",
    "strongest_tier",
)
EVIDENCE_COLUMNS = (
    "shared_ids",
    "shared_template",
    "shared_sources",
    "rare_spins",
    "thesaurus_spins",
    "same_spin",
    "money_trail",
)
"""The evidence of an edge as text, one column per kind (:data:`EVIDENCE_KINDS` order)."""
EDGES_COLUMNS = (
    "site_a",
    "site_b",
    "tier",
    "strength",
    *(f"{kind}_strength" for kind in EVIDENCE_KINDS),
    *EVIDENCE_COLUMNS,
)


def _when(item: TimingEvidence, first: bool) -> str:
    site, time = (item.site_a, item.time_a) if first else (item.site_b, item.time_b)
    return f"{site} {time.basis} {time.at:%Y-%m-%d %H:%M} UTC"


def timing_line(item: TimingEvidence) -> str:
    """A timing clue in words: the source, both copies' times with what they are, the gap."""
    bound = "" if item.exact else "at most "
    return (
        f"{item.source_url} ({_when(item, True)}; {_when(item, False)}; "
        f"{bound}{item.hours_apart:.1f} h apart)"
    )


def evidence_lines(evidence: EdgeEvidence) -> dict[str, str]:
    """The edge's evidence as plain one-line strings, by :data:`EVIDENCE_COLUMNS`."""
    spins = evidence.substitutions
    return {
        "shared_ids": "; ".join(f"{i.kind}={i.value}" for i in evidence.indicators if i.account),
        "shared_template": "; ".join(
            f"{i.kind}={i.value}" for i in evidence.indicators if not i.account
        ),
        "shared_sources": "; ".join(timing_line(t) for t in evidence.timing),
        "rare_spins": "; ".join(
            f"{s.spun} -> {s.original} ({s.sites} sites)" for s in spins if s.relation is None
        ),
        "thesaurus_spins": "; ".join(
            f"{s.spun} -> {s.original} ({s.relation}, {s.sites} sites)"
            for s in spins
            if s.relation is not None
        ),
        "same_spin": "; ".join(same_spin_line(item) for item in evidence.same_spins),
        "money_trail": "; ".join(money_line(item) for item in evidence.money),
    }


def same_spin_line(item: SameSpinEvidence) -> str:
    """A same-spin clue in words: both pages, their source, the similarity, what they share."""
    rare = f"; no thesaurus explains {', '.join(item.unexplained)}" if item.unexplained else ""
    return (
        f"{item.url_a} and {item.url_b} spin {item.source_url} alike (Jaccard {item.jaccard:.2f}, "
        f"estimated {item.estimated_jaccard:.2f}; {item.shared} shared substitutions{rare})"
    )


def money_line(item: MoneyEvidence) -> str:
    """A money clue in words: the account (or domain), how each site names it, its seller."""
    if item.what == "account":
        what = f"{item.ad_system} {item.account_id} {item.relationship}"
        seller = item.seller.summary if item.seller else "no sellers.json entry"
        about = f"seller {seller}; "
    else:
        what, about = f"{item.what} domain {item.account_id}", ""
    return (
        f"{what} ({item.site_a}: {item.found_a}; {item.site_b}: {item.found_b}; {about}"
        f"{item.sites} sites, {item.basis}, weight {item.weight:.2f})"
    )


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
                "timed_copies": data.get("timed_copies", 0),
                "copies_within_2h": data.get("copies_within_2h", 0),
                "copies_within_24h": data.get("copies_within_24h", 0),
                "links": len(neighbours),
                "strongest_link": strongest,
                "strongest_tier": data.get("strongest_tier", ""),
            }
        )
    rows.sort(key=lambda row: (int(str(row["community"])), str(row["site"])))
    return rows


def edge_rows(graph: nx.Graph[str]) -> list[dict[str, object]]:
    """One row per link, :data:`EDGES_COLUMNS`, strongest first."""
    rows: list[dict[str, object]] = []
    for a, b, data in graph.edges(data=True):
        first, second = sorted((str(a), str(b)))
        row: dict[str, object] = {
            "site_a": first,
            "site_b": second,
            "tier": data["tier"],
            "strength": data["strength"],
        }
        row.update({f"{kind}_strength": data[f"{kind}_strength"] for kind in EVIDENCE_KINDS})
        row.update(evidence_lines(data["evidence"]))
        rows.append(row)
    rows.sort(
        key=lambda row: (-float(str(row["strength"])), str(row["site_a"]), str(row["site_b"]))
    )
    return rows


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
    return path


def write_sites_csv(graph: nx.Graph[str], path: Path) -> Path:
    """sites.csv: per-site counts, community and strongest link."""
    return _write_csv(path, SITES_COLUMNS, site_rows(graph))


def write_edges_csv(graph: nx.Graph[str], path: Path) -> Path:
    """edges.csv: per link, its tier, the strength of each kind of evidence and the evidence."""
    return _write_csv(path, EDGES_COLUMNS, edge_rows(graph))
