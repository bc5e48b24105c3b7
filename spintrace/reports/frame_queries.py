"""The SQL behind each notebook frame, narrowed in the database: the columns asked for, the
rows of one site and from a time on.

A frame's query is the export's query of the same name (:mod:`spintrace.reports.table_queries`);
:func:`frame_rows` keeps only the columns asked for and adds the site and time conditions to
its ``WHERE``, so a large database never sends the full texts (or the evidence) of rows or
columns nobody asked for.
Columns the export computes in Python (``passages``, ``copy_delay_hours``, ... of matches;
every row of ``evidence``) are computed from the few columns they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Select, or_
from sqlalchemy.orm import Session

from spintrace.db.links import spin_pairs_query
from spintrace.db.urls import site_domain
from spintrace.errors import ReportError
from spintrace.reports.export import TABLES
from spintrace.reports.selection import TABLE_FILTERS, parse_since, select_columns
from spintrace.reports.table_queries import (
    EVIDENCE_INPUTS,
    MATCH_DERIVED,
    captures_query,
    derive_match_columns,
    documents_query,
    evidence_rows,
    indicators_query,
    match_checks_query,
    matches_query,
    sites_query,
    substitutions_query,
)

__all__ = ["FRAMES", "FrameQuery", "frame_rows", "since_time"]

Since = datetime | date | str


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


def _frame(
    name: str,
    query: Callable[[], Select[*tuple[Any, ...]]],
    columns: tuple[str, ...] | None = None,
    time: str | None = None,
    computed: dict[str, tuple[str, ...]] | None = None,
    rows: Callable[[dict[str, Any], set[str]], Iterator[dict[str, Any]]] | None = None,
) -> FrameQuery:
    """Frame ``name``: the export table's columns, and its ``--site`` and ``--since``
    columns (:data:`~spintrace.reports.selection.TABLE_FILTERS`), unless given."""
    filters = TABLE_FILTERS[name]
    return FrameQuery(
        columns or TABLES[name][0],
        query,
        filters.sites,
        time or filters.time,
        computed or {},
        rows,
    )


#: Every frame, by name.
FRAMES: dict[str, FrameQuery] = {
    "matches": _frame(
        "matches", matches_query, _MATCH_FRAME_COLUMNS, None, dict(MATCH_DERIVED), _derive_matches
    ),
    "pages": _frame("pages", lambda: documents_query("page")),
    "sources": _frame("sources", lambda: documents_query("source")),
    "evidence": _frame(
        "evidence",
        matches_query,
        time="matched_at",  # of the link the substitution was found in (not an export column)
        computed=dict.fromkeys(TABLES["evidence"][0], EVIDENCE_INPUTS),
        rows=lambda row, _wanted: evidence_rows(row),
    ),
    "sites": _frame("sites", sites_query),
    "indicators": _frame("indicators", indicators_query),
    "spin_pairs": _frame("spin_pairs", spin_pairs_query),
    "substitutions": _frame("substitutions", substitutions_query),
    "captures": _frame("captures", captures_query),
    "match_checks": _frame("match_checks", match_checks_query),
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
