"""Which rows and columns of an export table to keep: ``spintrace export`` filters.

A :class:`Selection` keeps the rows of one site, of a time onwards, of a lowest score and those
a SQL condition accepts, then the chosen columns. The condition (``--where``) is an SQLite
expression over the table's exported columns, evaluated per row in a private in-memory SQLite
database that holds no data and may only read: the same syntax whatever the database, every
exported column available (computed ones too), and nothing it can change or attach.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from spintrace.db.urls import site_domain
from spintrace.errors import ReportError

__all__ = ["TABLE_FILTERS", "RowCondition", "Selection", "parse_since", "select_columns"]


@dataclass(frozen=True)
class _TableFilters:
    sites: tuple[str, ...]
    """Columns holding a site: a row is kept when any of them is the site asked for."""
    time: str | None
    """The column ``since`` compares with; ``None`` when the table has no time."""
    score: str | None


#: What ``site``, ``since`` and ``min_score`` look at in each export table.
TABLE_FILTERS: dict[str, _TableFilters] = {
    "matches": _TableFilters(("page_site", "source_site"), "matched_at", "score"),
    "pages": _TableFilters(("site",), "added_at", None),
    "sources": _TableFilters(("site",), "added_at", None),
    "evidence": _TableFilters(("page_site",), None, None),
    "sites": _TableFilters(("site",), "first_seen", None),
    "indicators": _TableFilters(("site",), "last_seen", None),
    "spin_pairs": _TableFilters(("page_a_site", "page_b_site"), "found_at", None),
    "substitutions": _TableFilters(("site",), "last_seen", None),
    "captures": _TableFilters(("site",), "fetched_at", None),
    "match_checks": _TableFilters(("site",), "checked_at", None),
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A ``--since`` value as a UTC time: an ISO 8601 date or time (a time without zone is
    UTC), or a span back from ``now``: ``30m``, ``12h``, ``7d``, ``2w``. ``ValueError`` says
    what is accepted."""
    value = text.strip()
    span = _DURATION.fullmatch(value)
    if span:
        amount = timedelta(**{_UNITS[span.group(2).lower()]: float(span.group(1))})
        return (now or datetime.now(UTC)) - amount
    try:
        parsed = datetime.fromisoformat(value.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give an ISO 8601 date or time (2026-11-30, "
            "2026-11-30T08:00) or a span back from now (30m, 12h, 7d, 2w)"
        ) from None
    return _utc(parsed)


def _utc(value: datetime) -> datetime:
    # Naive times from SQLite and from the user are UTC, as everything spintrace stores.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def select_columns(table: str, available: Sequence[str], wanted: Iterable[str]) -> tuple[str, ...]:
    """The columns asked for (in that order, each once), all of them when none is; an unknown
    column is a :class:`ReportError` that lists the valid ones."""
    chosen = tuple(dict.fromkeys(name.strip() for name in wanted if name.strip()))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ReportError(
            f"{table} has no column {', '.join(map(repr, unknown))}; "
            f"its columns are: {', '.join(available)}"
        )
    return chosen or tuple(available)


def _sql_value(value: Any) -> Any:
    """A row's value as the condition sees it: what the JSON export shows (ISO 8601 times,
    JSON text for objects)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    return str(value)


# What the condition may do in its private database: read (the row) and call functions.
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION})


def _authorize(action: int, *_args: object) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def _outside_quotes(text: str) -> str:
    """``text`` without its quoted strings and names ('...', "...", `...`, [...])."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]", "''", text)


class RowCondition:
    """A SQL condition (the ``WHERE`` of a query, without the word) over a table's columns,
    checked against one row at a time. A statement, a comment or bad SQL is a
    :class:`ReportError` when it is made, before any row is read."""

    def __init__(self, condition: str, table: str, columns: Sequence[str]) -> None:
        bare = _outside_quotes(condition)
        if not condition.strip():
            raise ReportError('--where is empty: give a condition such as "score >= 0.8"')
        if ";" in bare or "--" in bare or "/*" in bare:
            raise ReportError(
                '--where takes one condition (such as "score >= 0.8"), not statements or '
                "comments: remove the ';', '--' or '/*'"
            )
        self.columns = tuple(columns)
        self.connection = sqlite3.connect(":memory:")
        self.connection.set_authorizer(_authorize)
        names = ", ".join(f'? AS "{name}"' for name in self.columns)
        self.sql = f'SELECT 1 FROM (SELECT {names}) AS "{table}" WHERE ({condition})'
        self._check(condition, table)

    def _check(self, condition: str, table: str) -> None:
        try:
            self.connection.execute(self.sql, [None] * len(self.columns)).fetchall()
        except sqlite3.Error as exc:
            self.connection.close()
            message = str(exc)
            if "no such column" in message:
                message += f" ({table} has: {', '.join(self.columns)})"
            raise ReportError(
                f"--where {condition!r} is not a condition SQLite can run: {message}"
            ) from None

    def __call__(self, row: dict[str, Any]) -> bool:
        values = [_sql_value(row.get(name)) for name in self.columns]
        try:
            return self.connection.execute(self.sql, values).fetchone() is not None
        except sqlite3.Error as exc:
            raise ReportError(f"--where failed on a row: {exc}") from None

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Selection:
    """Rows of one site (a host or URL: its registered domain), from a time on, of a lowest
    score, that a SQL condition accepts; and the columns to write (``()``: all)."""

    site: str | None = None
    since: datetime | None = None
    min_score: float | None = None
    where: str | None = None
    columns: tuple[str, ...] = ()

    def check(self, table: str, available: Sequence[str]) -> tuple[str, ...]:
        """The columns to write; a :class:`ReportError` for a filter ``table`` cannot take."""
        filters = TABLE_FILTERS.get(table, _TableFilters((), None, None))
        if self.since is not None and filters.time is None:
            raise ReportError(f"{table} has no time to compare --since with")
        if self.min_score is not None and filters.score is None:
            raise ReportError(f"{table} has no score: --min-score applies to matches")
        if self.site is not None and not filters.sites:
            raise ReportError(f"{table} has no site column for --site")
        chosen = select_columns(table, available, self.columns)
        if self.where:
            RowCondition(self.where, table, available).close()
        return chosen

    def apply(
        self, table: str, available: Sequence[str], rows: Iterable[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        """The kept rows, each with the chosen columns only. The filters are checked (and the
        condition compiled) here, before any row is read."""
        columns = self.check(table, available)
        condition = RowCondition(self.where, table, available) if self.where else None
        return self._kept(table, columns, condition, rows)

    def _kept(
        self,
        table: str,
        columns: tuple[str, ...],
        condition: RowCondition | None,
        rows: Iterable[dict[str, Any]],
    ) -> Iterator[dict[str, Any]]:
        filters = TABLE_FILTERS.get(table, _TableFilters((), None, None))
        site = site_domain(self.site) if self.site is not None else None
        since = _utc(self.since) if self.since is not None else None
        try:
            for row in rows:
                if site is not None and not any(row.get(c) == site for c in filters.sites):
                    continue
                if since is not None and filters.time is not None:
                    when = row.get(filters.time)
                    if not isinstance(when, datetime) or _utc(when) < since:
                        continue
                if self.min_score is not None and filters.score is not None:
                    score = row.get(filters.score)
                    if not isinstance(score, int | float) or score < self.min_score:
                        continue
                if condition is not None and not condition(row):
                    continue
                yield {name: row.get(name) for name in columns}
        finally:
            if condition is not None:
                condition.close()
