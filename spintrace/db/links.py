"""The one join behind every report of links: a match with its page, its source, their sites
and their captures.

The matches export, the notebook frames, the complaint pack and the network report all read
links this way, and so does the match stage when it orders new links (who came first); each
picks its own columns from :class:`LinkTables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from spintrace.db.models import Capture, Document, Match, Site, SpinPair

__all__ = ["LinkTables", "spin_pairs_query"]


@dataclass(frozen=True)
class LinkTables:
    """Aliases of the tables around a match: ``page``, ``source`` (documents), ``page_site``,
    ``source_site`` and ``page_capture``, ``source_capture`` (``None`` columns when a document
    was imported as text)."""

    page: Any = field(default_factory=lambda: aliased(Document))
    source: Any = field(default_factory=lambda: aliased(Document))
    page_site: Any = field(default_factory=lambda: aliased(Site))
    source_site: Any = field(default_factory=lambda: aliased(Site))
    page_capture: Any = field(default_factory=lambda: aliased(Capture))
    source_capture: Any = field(default_factory=lambda: aliased(Capture))

    def select(self, *columns: Any) -> Select[Any]:
        """``SELECT columns`` over every match joined to its sides."""
        return (
            select(*columns)
            .select_from(Match)
            .join(self.page, self.page.id == Match.page_id)
            .join(self.source, self.source.id == Match.source_id)
            .join(self.page_site, self.page_site.id == self.page.site_id)
            .join(self.source_site, self.source_site.id == self.source.site_id)
            .outerjoin(self.page_capture, self.page_capture.id == self.page.capture_id)
            .outerjoin(self.source_capture, self.source_capture.id == self.source.capture_id)
        )

    def time_columns(self) -> tuple[Any, ...]:
        """The columns :func:`spintrace.db.times.link_times` reads: each side's published date,
        when it was stored, and its capture's fetch time and headers."""
        return (
            self.page.published,
            self.page.added_at,
            self.page_capture.fetched_at,
            self.page_capture.headers,
            self.source.published.label("source_published"),
            self.source.added_at.label("source_added_at"),
            self.source_capture.fetched_at.label("source_fetched_at"),
            self.source_capture.headers.label("source_headers"),
        )


def spin_pairs_query() -> Select[Any]:
    """Every same-spin pair with both pages' URLs and sites and the source's URL, in order of
    discovery: the spin-pairs export and the network report read them this way."""
    a, b, source = aliased(Document), aliased(Document), aliased(Document)
    site_a, site_b = aliased(Site), aliased(Site)
    columns: list[Any] = [
        SpinPair.id,
        a.url.label("page_a_url"),
        site_a.domain.label("page_a_site"),
        b.url.label("page_b_url"),
        site_b.domain.label("page_b_site"),
        source.url.label("source_url"),
        func.coalesce(source.work_id, source.id).label("work"),
        SpinPair.estimated_jaccard,
        SpinPair.jaccard,
        SpinPair.shared,
        SpinPair.unexplained,
        SpinPair.evidence,
        SpinPair.found_at,
    ]
    return (
        select(*columns)
        .join(a, a.id == SpinPair.page_a_id)
        .join(b, b.id == SpinPair.page_b_id)
        .join(source, source.id == SpinPair.source_id)
        .join(site_a, site_a.id == a.site_id)
        .join(site_b, site_b.id == b.site_id)
        .order_by(SpinPair.id)
    )
