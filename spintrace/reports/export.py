"""Export stored tables as CSV, JSON or JSON Lines, streaming row by row.

:data:`TABLES` names every table a user can export (``spintrace export TABLE``) and read as a
DataFrame (:mod:`spintrace.reports.frames`): one query each, here. The ``matches`` export is the
interface outside tools rely on (docs/cli.md): one row per (page, source) link with at least
``page_url``, ``source_url``, ``score``, ``containment``, ``spin_rate`` and ``matched_at``.
A page that copies several sources has one row for each; pages with no link have no row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import IO, Any

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session, aliased

from spintrace.db.links import LinkTables, spin_pairs_query
from spintrace.db.models import (
    Document,
    LearnedSubstitution,
    Match,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.db.times import copy_delay
from spintrace.reports.selection import Selection
from spintrace.reports.tables import spreadsheet_safe

__all__ = [
    "EXPORT_FORMATS",
    "EXPORT_TABLES",
    "MATCH_DERIVED",
    "TABLES",
    "derive_match_columns",
    "documents_query",
    "export_table",
    "indicators_query",
    "iter_rows",
    "matches_query",
    "sites_query",
    "substitutions_query",
    "write_rows",
]

EXPORT_FORMATS = ("csv", "tsv", "json", "jsonl")

_DOCUMENT_COLUMNS = (
    "id",
    "url",
    "site",
    "title",
    "author",
    "published",
    "language",
    "canonical_url",
    "text_sha256",
    "added_at",
    "links",
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
    "page_added_at",
    "page_published",
    "page_time",
    "page_time_basis",
    "source_time",
    "source_time_basis",
    "order",
    "copy_delay_hours",
    "published_delay_hours",
    "passages",
    "substitutions",
    "longest_exact",
    "matcher",
    "basis",
    "source_work",
    "source_editions",
    "evidence",
)


def documents_query(role: str) -> Select[*tuple[Any, ...]]:
    """The pages (``role`` "page") or sources export: every document with its site and how
    many links it has."""
    linked = (
        select(func.count())
        .where((Match.page_id if role == "page" else Match.source_id) == Document.id)
        .scalar_subquery()
    )
    return (
        select(
            Document.id,
            Document.url,
            Site.domain.label("site"),
            Document.title,
            Document.author,
            Document.published,
            Document.language,
            Document.canonical_url,
            Document.text_sha256,
            Document.added_at,
            linked.label("links"),
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
    t = LinkTables()
    edition = aliased(Document)
    editions = (
        select(func.count())
        .where(edition.work_id == t.source.work_id, edition.role == "source")
        .scalar_subquery()
    )
    return t.select(
        Match.id,
        Match.page_id,
        Match.source_id,
        t.page.url.label("page_url"),
        t.source.url.label("source_url"),
        Match.score,
        Match.containment,
        Match.coverage,
        Match.spin_rate,
        Match.matched_at,
        t.page_site.domain.label("page_site"),
        t.source_site.domain.label("source_site"),
        t.page.title.label("page_title"),
        t.source.title.label("source_title"),
        t.source.published.label("source_published"),
        t.page.added_at.label("page_added_at"),
        t.page.published.label("page_published"),
        Match.page_time,
        Match.page_time_basis,
        Match.source_time,
        Match.source_time_basis,
        Match.order,
        t.page_capture.fetched_at.label("page_fetched_at"),
        t.page_capture.headers.label("page_headers"),
        Match.matcher,
        Match.basis,
        t.source.work_id.label("source_work"),
        editions.label("source_editions"),
        Match.evidence,
    ).order_by(Match.id)


def _listed(evidence: object, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a match's evidence, its well-formed entries only: evidence is JSON
    in the database, and a hand-edited or damaged one must not stop an export."""
    items = evidence.get(key) if isinstance(evidence, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


_DELAY_INPUTS = (
    "page_published",
    "page_added_at",
    "page_fetched_at",
    "page_headers",
    "source_published",
)
#: The matches export's computed columns, and the columns of :func:`matches_query` each is
#: computed from.
MATCH_DERIVED: dict[str, tuple[str, ...]] = {
    "passages": ("evidence",),
    "substitutions": ("evidence",),
    "longest_exact": ("evidence",),
    "copy_delay_hours": _DELAY_INPUTS,
    "published_delay_hours": _DELAY_INPUTS,
}


def derive_match_columns(data: dict[str, Any], wanted: Iterable[str] = MATCH_DERIVED) -> None:
    """Add the computed columns ``wanted`` (:data:`MATCH_DERIVED`) to ``data``, a row of
    :func:`matches_query` holding at least the columns they are computed from."""
    wanted = set(wanted)
    evidence = data.get("evidence")
    if "passages" in wanted:
        data["passages"] = len(_listed(evidence, "passages"))
    if "substitutions" in wanted:
        data["substitutions"] = len(_listed(evidence, "substitutions"))
    if "longest_exact" in wanted:
        longest = evidence.get("longest_exact") if isinstance(evidence, dict) else None
        data["longest_exact"] = longest if isinstance(longest, int) else 0
    if wanted & {"copy_delay_hours", "published_delay_hours"}:
        delay = copy_delay(
            SimpleNamespace(
                published=data["page_published"],
                added_at=data["page_added_at"],
                fetched_at=data["page_fetched_at"],
                headers=data["page_headers"],
                source_published=data["source_published"],
            )
        )
        data["copy_delay_hours"] = delay.captured
        data["published_delay_hours"] = delay.published


def _matches(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(matches_query()).yield_per(500):
        data = row._asdict()
        derive_match_columns(data)
        yield {name: data[name] for name in _MATCH_COLUMNS}


def _documents(role: str) -> Callable[[Session], Iterator[dict[str, Any]]]:
    def rows(session: Session) -> Iterator[dict[str, Any]]:
        for row in session.execute(documents_query(role)).yield_per(500):
            yield row._asdict()

    return rows


def _evidence(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(matches_query()).yield_per(500):
        for sub in _listed(row.evidence, "substitutions"):
            yield {
                "match_id": row.id,
                "page_url": row.page_url,
                "source_url": row.source_url,
                "page_site": row.page_site,
                "spun": sub.get("spun", ""),
                "original": sub.get("original", ""),
                "relation": sub.get("relation"),
                "page_start": sub.get("page_start"),
                "source_start": sub.get("source_start"),
            }


def sites_query() -> Select[*tuple[Any, ...]]:
    """The sites export: every site with its pages, sources and the copies between them."""
    page, source = aliased(Document), aliased(Document)

    def count(role: str) -> Any:
        return (
            select(func.count())
            .where(Document.site_id == Site.id, Document.role == role)
            .scalar_subquery()
        )

    def distinct(column: Any, side: Any) -> Any:
        return (
            select(func.count(func.distinct(column)))
            .join(side, side.id == (Match.page_id if side is page else Match.source_id))
            .where(side.site_id == Site.id)
            .scalar_subquery()
        )

    return select(
        Site.domain.label("site"),
        Site.first_seen,
        count("page").label("pages"),
        count("source").label("sources"),
        distinct(Match.page_id, page).label("copied_pages"),
        distinct(Match.source_id, page).label("sources_copied"),
        distinct(Match.page_id, source).label("copied_from_here"),
    ).order_by(Site.domain)


def _sites(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(sites_query()):
        yield row._asdict()


def indicators_query() -> Select[*tuple[Any, ...]]:
    """The indicators export: every operator trace of every site."""
    return (
        select(
            Site.domain.label("site"),
            SiteIndicator.kind,
            SiteIndicator.value,
            SiteIndicator.captures,
            SiteIndicator.evidence,
            SiteIndicator.first_seen,
            SiteIndicator.last_seen,
        )
        .join(Site, Site.id == SiteIndicator.site_id)
        .order_by(Site.domain, SiteIndicator.kind, SiteIndicator.value)
    )


def _indicators(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(indicators_query()).yield_per(1000):
        yield row._asdict()


def substitutions_query() -> Select[*tuple[Any, ...]]:
    """The substitutions export: every learned substitution with each site that used it."""
    return (
        select(
            LearnedSubstitution.spun,
            LearnedSubstitution.original,
            LearnedSubstitution.pairs,
            LearnedSubstitution.occurrences,
            LearnedSubstitution.relation,
            Site.domain.label("site"),
            SubstitutionSite.pairs.label("site_pairs"),
            LearnedSubstitution.first_seen,
            LearnedSubstitution.last_seen,
        )
        .join(SubstitutionSite, SubstitutionSite.substitution_id == LearnedSubstitution.id)
        .join(Site, Site.id == SubstitutionSite.site_id)
        .order_by(LearnedSubstitution.pairs.desc(), LearnedSubstitution.spun, Site.domain)
    )


def _substitutions(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(substitutions_query()).yield_per(1000):
        yield row._asdict()


def _spin_pairs(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(spin_pairs_query()).yield_per(500):
        yield row._asdict()


Rows = Callable[[Session], Iterator[dict[str, Any]]]

#: Every exportable table: its columns, in order, and its rows.
TABLES: dict[str, tuple[tuple[str, ...], Rows]] = {
    "matches": (_MATCH_COLUMNS, _matches),
    "pages": (_DOCUMENT_COLUMNS, _documents("page")),
    "sources": (_DOCUMENT_COLUMNS, _documents("source")),
    "evidence": (
        tuple(
            "match_id page_url source_url page_site spun original relation page_start "
            "source_start".split()
        ),
        _evidence,
    ),
    "sites": (
        tuple("site first_seen pages sources copied_pages sources_copied copied_from_here".split()),
        _sites,
    ),
    "indicators": (
        tuple("site kind value captures evidence first_seen last_seen".split()),
        _indicators,
    ),
    "spin_pairs": (
        tuple(
            "id page_a_url page_a_site page_b_url page_b_site source_url work estimated_jaccard "
            "jaccard shared unexplained evidence found_at".split()
        ),
        _spin_pairs,
    ),
    "substitutions": (
        tuple(
            "spun original pairs occurrences relation site site_pairs first_seen last_seen".split()
        ),
        _substitutions,
    ),
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
