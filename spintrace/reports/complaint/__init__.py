"""The complaint pack for a rights holder: infringements CSV, evidence pages, notice drafts and
the WARC of the captures (see docs/reports.md)."""

from __future__ import annotations

from spintrace.reports.complaint.pack import (
    CSV_COLUMNS,
    ComplaintSummary,
    build_complaint_pack,
    normalise_owner,
)

__all__ = ["CSV_COLUMNS", "ComplaintSummary", "build_complaint_pack", "normalise_owner"]
