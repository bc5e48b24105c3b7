"""Export stored tables as CSV, JSON or JSON Lines, streaming row by row.

The ``matches`` export is the interface outside tools rely on (docs/cli.md): one row per
(page, source) link with at least ``page_url``, ``source_url``, ``score``, ``containment``,
``spin_rate`` and ``matched_at``. Pages with no link have no row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Engine, Executable, select
from sqlalchemy.orm import Session, aliased

from spintrace.db.models import Document, Match, Site

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_TABLES",
    "export_table",
    "iter_rows",
    "matches_query",
    "write_rows",
]

EXPORT_FORMATS = ("csv", "json", "jsonl")
EXPORT_TABLES = ("matches", "pages", "sources")

_DOCUMENT_COLUMNS = (
    "url",
    "site",
    "title",
    "author",
    "published",
    "language",
    "canonical_url",
    "text_sha256",
    "added_at",
    "text",
)
_MATCH_COLUMNS = (
    "page_url",
    "source_url",
    "score",
    "containment",
    "coverage",
    "spin_rate",
    "matched_at",
    "page_site",
    "source_site",
    "page_title",
    "source_title",
    "source_published",
    "passages",
    "substitutions",
    "longest_exact",
    "matcher",
    "evidence",
)


def _documents_query(role: str) -> Executable:
    return (
        select(
            Document.url,
            Site.domain.label("site"),
            Document.title,
            Document.author,
            Document.published,
            Document.language,
            Document.canonical_url,
            Document.text_sha256,
            Document.added_at,
            Document.text,
        )
        .join(Site, Site.id == Document.site_id)
        .where(Document.role == role)
        .order_by(Document.id)
    )


def matches_query() -> Any:
    """Every link with its page's and source's URL, site, title and dates, and its evidence.

    The one query behind the matches export, the notebook frames and the reports.
    """
    page, source = aliased(Document), aliased(Document)
    page_site, source_site = aliased(Site), aliased(Site)
    return (
        select(
            Match.id,
            page.url.label("page_url"),
            source.url.label("source_url"),
            Match.score,
            Match.containment,
            Match.coverage,
            Match.spin_rate,
            Match.matched_at,
            page_site.domain.label("page_site"),
            source_site.domain.label("source_site"),
            page.title.label("page_title"),
            source.title.label("source_title"),
            source.published.label("source_published"),
            page.added_at.label("page_added_at"),
            Match.matcher,
            Match.evidence,
        )
        .join(page, page.id == Match.page_id)
        .join(source, source.id == Match.source_id)
        .join(page_site, page_site.id == page.site_id)
        .join(source_site, source_site.id == source.site_id)
        .order_by(Match.id)
    )


def iter_rows(engine: Engine, table: str) -> Iterator[dict[str, Any]]:
    """The rows of an export table as dicts, in a stable order (insertion order)."""
    if table not in EXPORT_TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(EXPORT_TABLES)}")
    with Session(engine) as session:
        if table == "matches":
            for row in session.execute(matches_query()).yield_per(500):
                data = row._asdict()
                evidence = data["evidence"] or {}
                data["passages"] = len(evidence.get("passages", ()))
                data["substitutions"] = len(evidence.get("substitutions", ()))
                data["longest_exact"] = evidence.get("longest_exact", 0)
                yield {name: data[name] for name in _MATCH_COLUMNS}
        else:
            role = "page" if table == "pages" else "source"
            for row in session.execute(_documents_query(role)).yield_per(500):
                yield row._asdict()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def write_rows(
    rows: Iterable[dict[str, Any]], fmt: str, out: IO[str], columns: Sequence[str] | None = None
) -> int:
    """Write dict rows to ``out`` as ``fmt`` (csv, json or jsonl); returns the row count.

    Dates become ISO 8601 (``Z`` for UTC). In CSV, dict and list values are JSON text; in JSON
    and JSON Lines they stay objects. ``columns`` defaults to the first row's keys.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    count = 0
    writer: csv.DictWriter[str] | None = None
    if fmt == "json":
        out.write("[")
    for row in rows:
        plain = {key: _plain(value) for key, value in row.items()}
        if fmt == "csv":
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(columns or plain), lineterminator="\n")
                writer.writeheader()
            writer.writerow(
                {
                    k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                    for k, v in plain.items()
                }
            )
        else:
            if fmt == "json":
                out.write(",\n" if count else "\n")
            out.write(json.dumps(plain, ensure_ascii=False))
            if fmt == "jsonl":
                out.write("\n")
        count += 1
    if fmt == "csv" and writer is None and columns:
        csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n").writeheader()
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


def export_table(engine: Engine, table: str, fmt: str, out: IO[str]) -> int:
    """Write ``table`` to ``out`` as ``fmt`` (csv, json or jsonl); returns the row count.

    In CSV the ``evidence`` column holds JSON text; in JSON and JSON Lines it is an object.
    """
    columns = _MATCH_COLUMNS if table == "matches" else _DOCUMENT_COLUMNS
    return write_rows(iter_rows(engine, table), fmt, out, columns)
