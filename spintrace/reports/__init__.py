"""Reports and exports: read stored documents, matches and evidence; never re-match."""

from __future__ import annotations

from spintrace.reports.complaint.pack import ComplaintSummary, build_complaint_pack
from spintrace.reports.export import EXPORT_FORMATS, EXPORT_TABLES, export_table, iter_rows

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_TABLES",
    "ComplaintSummary",
    "build_complaint_pack",
    "export_table",
    "iter_rows",
]
