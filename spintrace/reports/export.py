"""Export stored tables as CSV, TSV, JSON or JSON Lines, streaming row by row.

:data:`TABLES` names every table a user can export (``spintrace export TABLE``) and read as a
DataFrame (:mod:`spintrace.reports.frames`); their queries are in
:mod:`spintrace.reports.table_queries`. The ``matches`` export is the interface outside tools
rely on (docs/cli.md): one row per (page, source) link with at least ``page_url``,
``source_url``, ``score``, ``containment``, ``spin_rate`` and ``matched_at``. A page that
copies several sources has one row for each; pages with no link have no row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Engine, Select
from sqlalchemy.orm import Session

from spintrace.db.links import spin_pairs_query
from spintrace.reports.selection import Selection
from spintrace.reports.table_queries import (
    DOCUMENT_COLUMNS,
    EVIDENCE_COLUMNS,
    MATCH_COLUMNS,
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
from spintrace.reports.tables import spreadsheet_safe

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_TABLES",
    "TABLES",
    "export_table",
    "iter_rows",
    "write_rows",
]

EXPORT_FORMATS = ("csv", "tsv", "json", "jsonl")

Rows = Callable[[Session], Iterator[dict[str, Any]]]


def _rows(
    query: Callable[[], Select[Any]],
    made: Callable[[dict[str, Any]], Iterable[dict[str, Any]]] | None = None,
    per: int = 500,
) -> Rows:
    """The rows of ``query``, each made into the rows ``made`` returns (itself by default)."""

    def rows(session: Session) -> Iterator[dict[str, Any]]:
        for row in session.execute(query()).yield_per(per):
            data = row._asdict()
            yield from (data,) if made is None else made(data)

    return rows


def _match_row(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    derive_match_columns(data)
    yield {name: data[name] for name in MATCH_COLUMNS}


def _columns(query: Callable[[], Select[Any]]) -> tuple[str, ...]:
    return tuple(query().selected_columns.keys())


#: Every exportable table: its columns, in order, and its rows.
TABLES: dict[str, tuple[tuple[str, ...], Rows]] = {
    "matches": (MATCH_COLUMNS, _rows(matches_query, _match_row)),
    "pages": (DOCUMENT_COLUMNS, _rows(lambda: documents_query("page"))),
    "sources": (DOCUMENT_COLUMNS, _rows(lambda: documents_query("source"))),
    "evidence": (EVIDENCE_COLUMNS, _rows(matches_query, evidence_rows)),
    "sites": (_columns(sites_query), _rows(sites_query)),
    "indicators": (_columns(indicators_query), _rows(indicators_query, per=1000)),
    "spin_pairs": (_columns(spin_pairs_query), _rows(spin_pairs_query)),
    "substitutions": (_columns(substitutions_query), _rows(substitutions_query, per=1000)),
    "captures": (_columns(captures_query), _rows(captures_query, per=1000)),
    "match_checks": (_columns(match_checks_query), _rows(match_checks_query, per=1000)),
}
EXPORT_TABLES = tuple(TABLES)


def iter_rows(engine: Engine, table: str) -> Iterator[dict[str, Any]]:
    """The rows of an export table as dicts, in a stable order."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(EXPORT_TABLES)}")
    with Session(engine) as session:
        yield from TABLES[table][1](session)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def write_rows(
    rows: Iterable[dict[str, Any]],
    fmt: str,
    out: IO[str],
    columns: Sequence[str] | None = None,
    *,
    raw: bool = False,
) -> int:
    """Write dict rows to ``out`` as ``fmt`` (csv, tsv, json or jsonl); returns the row count.

    Dates become ISO 8601 (``Z`` for UTC). In CSV and TSV (tab-separated, quoted as CSV where
    a cell holds a tab, a quote or a line break), dict and list values are JSON text; in JSON
    and JSON Lines they stay objects. ``columns`` defaults to the first row's keys. CSV and TSV
    are for spreadsheets: a text cell a spreadsheet would run as a formula gets a leading
    apostrophe (:func:`spintrace.reports.tables.spreadsheet_safe`) unless ``raw``.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    count = 0
    writer: csv.DictWriter[str] | None = None
    tabular = fmt in ("csv", "tsv")
    delimiter = "\t" if fmt == "tsv" else ","
    if fmt == "json":
        out.write("[")
    for row in rows:
        plain = {key: _plain(value) for key, value in row.items()}
        if tabular:
            if writer is None:
                writer = csv.DictWriter(
                    out, fieldnames=list(columns or plain), delimiter=delimiter, lineterminator="\n"
                )
                writer.writeheader()
            cells = {
                k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                for k, v in plain.items()
            }
            if not raw:
                cells = {k: spreadsheet_safe(v) for k, v in cells.items()}
            writer.writerow(cells)
        else:
            if fmt == "json":
                out.write(",\n" if count else "\n")
            out.write(json.dumps(plain, ensure_ascii=False))
            if fmt == "jsonl":
                out.write("\n")
        count += 1
    if tabular and writer is None and columns:
        header = csv.DictWriter(
            out, fieldnames=list(columns), delimiter=delimiter, lineterminator="\n"
        )
        header.writeheader()
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


def export_table(
    engine: Engine,
    table: str,
    fmt: str,
    out: IO[str],
    *,
    raw: bool = False,
    selection: Selection | None = None,
) -> int:
    """Write ``table`` to ``out`` as ``fmt`` (csv, tsv, json or jsonl); returns the row count.

    In CSV the ``evidence`` column holds JSON text; in JSON and JSON Lines it is an object.
    CSV cells are made safe for spreadsheets unless ``raw`` (see :func:`write_rows`).
    ``selection`` keeps some rows and columns (:class:`~spintrace.reports.selection.Selection`);
    a filter the table cannot take is a :class:`~spintrace.errors.ReportError` before any
    row is written.
    """
    columns = TABLES[table][0]
    if selection is None:
        return write_rows(iter_rows(engine, table), fmt, out, columns, raw=raw)
    rows = selection.apply(table, columns, iter_rows(engine, table))
    return write_rows(rows, fmt, out, selection.check(table, columns), raw=raw)
