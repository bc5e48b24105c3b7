"""The SQL behind each notebook frame, narrowed in the database: the columns asked for, the
rows of one site and from a time on.

A frame's query is the export's query of the same name (:mod:`spintrace.reports.export`), or
for ``captures`` and ``match_checks`` (frames only) one written here; :func:`frame_rows` keeps
only the columns asked for and adds the site and time conditions to its ``WHERE``, so a large
database never sends the full texts (or the evidence) of rows or columns nobody asked for.
Columns the export computes in Python (``passages``, ``copy_delay_hours``, ... of matches;
every row of ``evidence``) are computed from the few columns they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Select, func, or_, select
from sqlalchemy.orm import Session

from spintrace.db.links import spin_pairs_query
from spintrace.db.models import Capture, Document, Match, MatchCheck, Site
from spintrace.db.urls import site_domain
from spintrace.errors import ReportError
from spintrace.reports.export import (
    MATCH_DERIVED,
    TABLES,
    derive_match_columns,
    documents_query,
    indicators_query,
    matches_query,
    sites_query,
    substitutions_query,
)
from spintrace.reports.selection import parse_since, select_columns

__all__ = ["FRAMES", "FrameQuery", "frame_rows", "since_time"]

Since = datetime | date | str


def captures_query() -> Select[*tuple[Any, ...]]:
    """Every stored capture, without its body: where and when it was fetched, what came back,
    what processing made of it, and the document extracted from it (if any)."""
    document = (
        select(func.min(Document.id)).where(Document.capture_id == Capture.id).scalar_subquery()
    )
    return (
        select(
            Capture.id,
            Capture.url,
            Site.domain.label("site"),
            Capture.seen_url,
            Capture.final_url,
            Capture.status,
            Capture.content_type,
            Capture.body_size,
            Capture.sha256,
            Capture.fetched_at,
            Capture.role,
            Capture.depth,
            Capture.processed_at,
            Capture.outcome,
            document.label("document_id"),
            Capture.headers,
        )
        .join(Site, Site.id == Capture.site_id)
        .order_by(Capture.id)
    )


def match_checks_query() -> Select[*tuple[Any, ...]]:
    """Every page's last check: its verdict, the matcher (and settings) that made it, the
    sources it was judged against, when, and how many links it has."""
    links = select(func.count()).where(Match.page_id == MatchCheck.page_id).scalar_subquery()
    return (
        select(
            MatchCheck.page_id,
            Document.url.label("page_url"),
            Site.domain.label("site"),
            MatchCheck.outcome,
            links.label("links"),
            MatchCheck.matcher,
            MatchCheck.sources_seen,
            MatchCheck.last_source_id,
            MatchCheck.checked_at,
        )
        .join(Document, Document.id == MatchCheck.page_id)
        .join(Site, Site.id == Document.site_id)
        .order_by(MatchCheck.page_id)
    )


def _evidence_rows(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    evidence = row.get("evidence")
    items = evidence.get("substitutions") if isinstance(evidence, dict) else None
    for sub in items if isinstance(items, list) else []:
        if isinstance(sub, dict):
            yield {
                "match_id": row["id"],
                "page_url": row["page_url"],
                "source_url": row["source_url"],
                "page_site": row["page_site"],
                "spun": sub.get("spun", ""),
                "original": sub.get("original", ""),
                "relation": sub.get("relation"),
                "page_start": sub.get("page_start"),
                "source_start": sub.get("source_start"),
            }


def _derive_matches(row: dict[str, Any], wanted: set[str]) -> Iterator[dict[str, Any]]:
    derive_match_columns(row, wanted)
    yield row


@dataclass(frozen=True)
class FrameQuery:
    """A frame: its columns in order, the query of its stored columns, the query columns a
    ``site`` is looked for in and the one ``since`` compares with, and the columns computed in
    Python (name -> the query columns it needs), made by ``rows`` from each query row."""

    columns: tuple[str, ...]
    query: Callable[[], Select[*tuple[Any, ...]]]
    sites: tuple[str, ...]
    time: str | None
    computed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows: Callable[[dict[str, Any], set[str]], Iterator[dict[str, Any]]] | None = None


_MATCH_FRAME_COLUMNS = ("id", "page_id", "source_id", *TABLES["matches"][0])
_EVIDENCE_INPUTS = ("id", "page_url", "source_url", "page_site", "evidence")

#: Every frame, by name.
FRAMES: dict[str, FrameQuery] = {
    "matches": FrameQuery(
        _MATCH_FRAME_COLUMNS,
        matches_query,
        ("page_site", "source_site"),
        "matched_at",
        dict(MATCH_DERIVED),
        _derive_matches,
    ),
    "pages": FrameQuery(TABLES["pages"][0], lambda: documents_query("page"), ("site",), "added_at"),
    "sources": FrameQuery(
        TABLES["sources"][0], lambda: documents_query("source"), ("site",), "added_at"
    ),
    "evidence": FrameQuery(
        TABLES["evidence"][0],
        matches_query,
        ("page_site",),
        "matched_at",  # of the link the substitution was found in
        dict.fromkeys(TABLES["evidence"][0], _EVIDENCE_INPUTS),
        lambda row, _wanted: _evidence_rows(row),
    ),
    "sites": FrameQuery(TABLES["sites"][0], sites_query, ("site",), "first_seen"),
    "indicators": FrameQuery(TABLES["indicators"][0], indicators_query, ("site",), "last_seen"),
    "spin_pairs": FrameQuery(
        TABLES["spin_pairs"][0], spin_pairs_query, ("page_a_site", "page_b_site"), "found_at"
    ),
    "substitutions": FrameQuery(
        TABLES["substitutions"][0], substitutions_query, ("site",), "last_seen"
    ),
    "captures": FrameQuery(
        tuple(captures_query().selected_columns.keys()), captures_query, ("site",), "fetched_at"
    ),
    "match_checks": FrameQuery(
        tuple(match_checks_query().selected_columns.keys()),
        match_checks_query,
        ("site",),
        "checked_at",
    ),
}


def since_time(since: Since) -> datetime:
    """``since`` as a UTC time: a datetime (naive: UTC), a date (its midnight UTC), or text as
    ``spintrace export --since`` takes it (``2026-11-30``, ``7d``, ``12h``)."""
    if isinstance(since, str):
        try:
            return parse_since(since)
        except ValueError as exc:
            raise ReportError(str(exc)) from None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    return parse_since(since.isoformat())


def frame_rows(
    engine: Engine,
    name: str,
    columns: Sequence[str] | None = None,
    since: Since | None = None,
    site: str | None = None,
    keep: Sequence[str] = (),
) -> tuple[tuple[str, ...], Iterator[dict[str, Any]]]:
    """The columns and rows of frame ``name``: only ``columns`` (all when ``None``; ``keep``
    are added, e.g. the index), only rows of ``site`` (a host or URL: its registered domain)
    and from ``since`` on. An unknown frame or column is a :class:`ReportError`."""
    if name not in FRAMES:
        raise ReportError(f"no frame {name!r}; the frames are: {', '.join(FRAMES)}")
    spec = FRAMES[name]
    chosen = select_columns(name, spec.columns, columns or ())
    chosen = (*[c for c in keep if c not in chosen], *chosen)
    computed = {c for c in chosen if c in spec.computed}
    stored = [c for c in chosen if c not in spec.computed]
    for column in computed:
        stored += [c for c in spec.computed[column] if c not in stored]
    query = spec.query()
    available = query.selected_columns
    narrowed = query.with_only_columns(*[available[c] for c in stored], maintain_column_froms=True)
    if site is not None:
        domain = site_domain(site)
        narrowed = narrowed.where(or_(*[available[c] == domain for c in spec.sites]))
    if since is not None and spec.time is not None:
        narrowed = narrowed.where(available[spec.time] >= since_time(since))

    def rows() -> Iterator[dict[str, Any]]:
        with Session(engine) as session:
            for row in session.execute(narrowed).yield_per(1000):
                data = row._asdict()
                made = spec.rows(data, computed) if spec.rows and computed else iter((data,))
                for one in made:
                    yield {c: one.get(c) for c in chosen}

    return chosen, rows()
