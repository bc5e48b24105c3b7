"""The network report for investigators: which sites share an operator, on what evidence, and
how strong it is (every link gets a tier: GEXF for Gephi, PNG, an offline HTML page, sites.csv
and edges.csv, and a dossier per site; see docs/reports.md)."""

from __future__ import annotations

from spintrace.reports.network.graph import build_network, write_network_report
from spintrace.reports.network.model import NetworkSummary

__all__ = ["NetworkSummary", "build_network", "write_network_report"]
