"""Import stage: JSONL files of sources or pages into the database, idempotently.

A record's identity is (role, URL, SHA-256 of its text): importing the same file twice adds
nothing; a changed text at a known URL adds a new document and keeps the old one. A URL is
known by its canonical form (:mod:`spintrace.db.urls`): the same text under another scheme,
``www.``, tracking parameters or a fragment is the same document, and a site is a registered
domain. HTML goes through :func:`spintrace.ingest.extract.extract_html` and its raw bytes are
kept as a capture.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.captures import IMPORTED_HEADERS, store_capture
from spintrace.db.models import Document
from spintrace.db.urls import site_domain
from spintrace.db.writes import driver_message, insert_ignoring_conflicts, is_transient
from spintrace.errors import DatabaseError, InputError
from spintrace.ingest.csvfile import CSV_DELIMITERS, read_csv
from spintrace.ingest.documents import (
    document_row,
    find_document,
    site_id_for,
    store_document,
    store_indicators,
    text_sha256,
)
from spintrace.ingest.extract import extract_html
from spintrace.ingest.jsonl import FieldMap, open_input, read_jsonl
from spintrace.records import ExtractedText, InputRecord, Role

__all__ = ["IMPORT_FORMATS", "ImportReport", "import_file", "input_format"]

#: The formats of import files: JSON Lines, and CSV or TSV with a header row.
IMPORT_FORMATS = ("jsonl", "csv", "tsv")

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
T = TypeVar("T")

# Attempts at one record that keeps meeting rows a concurrent import just wrote.
MAX_ITEM_ATTEMPTS = 5


@dataclass
class ImportReport:
    """What an import did: counts, and the errors of the lines it rejected."""

    path: str
    new: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[InputError] = field(default_factory=list)
    warnings: list[InputError] = field(default_factory=list)
    """Lines stored with something dropped (a ``published`` value no parser could read)."""
    failure: str | None = None
    """Why the import stopped early (the database refused to store more), else ``None``."""


@dataclass(frozen=True)
class _Prepared:
    record: InputRecord
    text: str
    title: str | None
    author: str | None
    published: datetime | None
    language: str | None
    canonical_url: str | None
    html_bytes: bytes | None

    @property
    def meta(self) -> ExtractedText:
        """The document's text and metadata, as stored."""
        return ExtractedText(
            self.text, self.title, self.author, self.published, self.language, self.canonical_url
        )


def _html_bytes(record: InputRecord, path: str, settings: Settings) -> bytes:
    assert record.html is not None
    raw = record.html.encode("utf-8", errors="surrogatepass")
    if len(raw) > settings.max_html_bytes:
        raise InputError(
            f"'html' is {len(raw):,} bytes, over the {settings.max_html_bytes:,}-byte limit "
            "(SPINTRACE_MAX_HTML_BYTES)",
            path=path,
            line=record.line,
        )
    return raw


def _prepare(record: InputRecord, path: str, settings: Settings) -> _Prepared:
    """The document and capture of a record: its text (or the text extracted from its HTML),
    metadata from the record first and from the HTML second, and the HTML as the capture."""
    if record.html is None:
        assert record.text is not None
        return _Prepared(
            record, record.text.strip(), record.title, None, record.published, None, None, None
        )
    raw = _html_bytes(record, path, settings)
    extracted = extract_html(record.html, record.url)
    if record.text is not None:
        text = record.text.strip()  # the given text is the document; the HTML is evidence
    elif extracted is not None:
        text = extracted.text
    else:
        raise InputError(
            "no article text could be extracted from 'html'", path=path, line=record.line
        )
    meta = extracted or ExtractedText(text=text)
    return _Prepared(
        record,
        text,
        record.title or meta.title,
        meta.author,
        record.published or meta.published,
        meta.language,
        meta.canonical_url,
        raw,
    )


class _Writer:
    """Writes prepared records in batches; remembers sites so each is looked up once."""

    def __init__(self, engine: Engine, role: Role) -> None:
        self.engine = engine
        self.role = role
        self.sites: dict[str, int] = {}

    def _write_one(self, session: Session, item: _Prepared) -> bool:
        url = item.record.url
        if find_document(session, self.role, url, text_sha256(item.text)) is not None:
            return False
        site_id = site_id_for(session, url, self.sites)
        capture_id = None
        if item.html_bytes is not None:
            capture_id, new = store_capture(
                session,
                site_id=site_id,
                url=url,
                body=item.html_bytes,
                content_type="text/html",
                headers=dict(IMPORTED_HEADERS),
                # Its document is written right here: nothing left for process_captures.
                outcome="document",
            )
            if new:
                store_indicators(session, capture_id, item.html_bytes, url, site_id)
        return store_document(session, self.role, url, site_id, capture_id, item.text, item.meta)

    def _transaction(self, work: Callable[[Session], T]) -> T:
        try:
            with Session(self.engine) as session, session.begin():
                return work(session)
        except DBAPIError:
            self.sites.clear()  # ids of sites added by the rolled-back transaction
            raise

    def _add_sites(self, session: Session, batch: list[_Prepared]) -> None:
        """The batch's sites, added first in one short transaction, in domain order: two
        imports adding the same new hosts then wait for each other instead of deadlocking."""
        by_domain = {site_domain(item.record.url): item.record.url for item in batch}
        for domain in sorted(by_domain):
            site_id_for(session, by_domain[domain], self.sites)

    def _write_texts(self, session: Session, items: list[_Prepared]) -> list[bool]:
        """Records without HTML in one multi-row INSERT that skips rows already stored (by
        role, URL key and text hash): what a large import mostly is. Measured 2026-11-30 on
        PostgreSQL, several times faster than one ORM flush per record (bench/import_speed.py).
        The rows are those :func:`store_document` adds (:func:`document_row`)."""
        rows = [
            document_row(
                self.role,
                item.record.url,
                self.sites[site_domain(item.record.url)],
                None,
                item.text,
                item.meta,
            )
            for item in items
        ]
        keys = [(row["url_key"], row["text_sha256"]) for row in rows]
        statement = insert_ignoring_conflicts(session, Document).returning(
            Document.url_key, Document.text_sha256
        )
        added = {(row[0], row[1]) for row in session.execute(statement, rows)}
        results = []
        for key in keys:
            results.append(key in added)
            added.discard(key)  # the same record twice in a batch: stored once
        return results

    def _write_batch(self, session: Session, batch: list[_Prepared]) -> list[bool]:
        texts = [i for i, item in enumerate(batch) if item.html_bytes is None]
        results: list[bool] = [False] * len(batch)
        if texts:
            stored = self._write_texts(session, [batch[i] for i in texts])
            for i, added in zip(texts, stored, strict=True):
                results[i] = added
        for i, item in enumerate(batch):
            if item.html_bytes is not None:
                results[i] = self._write_one(session, item)
        return results

    def write(self, batch: list[_Prepared], report: ImportReport) -> None:
        """Store a batch in one transaction; if the data is refused, item by item.

        Counts are what was stored. One by one, a record the database refuses is rejected
        with its line number and the good lines around it are kept. A database that cannot
        take writes at all (full disk, read-only file, lost connection) is a
        :class:`DatabaseError`, never a pile of "rejected" lines.
        """
        results: list[bool | None]
        try:
            self._transaction(lambda s: self._add_sites(s, batch))
            results = self._transaction(lambda s: list(self._write_batch(s, batch)))
        except OperationalError as exc:
            if not is_transient(exc):
                raise DatabaseError(
                    f"the database refused the import: {driver_message(exc)}"
                ) from None
            # A deadlock with a concurrent import: item by item, each retried.
            results = [self._write_item(item, report) for item in batch]
        except DBAPIError:
            results = [self._write_item(item, report) for item in batch]
        for added in results:
            if added:
                report.new += 1
            elif added is not None:
                report.unchanged += 1

    def _write_item(self, item: _Prepared, report: ImportReport) -> bool | None:
        """One record in its own transaction: ``True`` stored, ``False`` already there, ``None``
        rejected. A conflict means a concurrent import stored some of the same rows (a site, a
        capture): the record is written again on top of them, never counted unread."""
        for _ in range(MAX_ITEM_ATTEMPTS):
            try:
                return self._transaction(lambda s: self._write_one(s, item))
            except IntegrityError:
                continue
            except OperationalError as exc:
                if is_transient(exc):  # a deadlock with a concurrent import: again
                    continue
                raise DatabaseError(
                    f"the database refused the import: {driver_message(exc)}"
                ) from None
            except DBAPIError as exc:
                return self._reject(item, report, f"refused by the database: {driver_message(exc)}")
        return self._reject(item, report, "kept conflicting with a concurrent import")

    @staticmethod
    def _reject(item: _Prepared, report: ImportReport, reason: str) -> None:
        error = InputError(reason, path=report.path, line=item.record.line)
        logger.info("skipped %s", error)
        report.rejected += 1
        report.errors.append(error)
        return None


def _line_limit(settings: Settings) -> int:
    """The longest line worth reading: the HTML limit, JSON-escaped (up to 6 bytes a byte for
    ``\\u00XX``), plus room for the other fields."""
    return 6 * settings.max_html_bytes + (1 << 20)


def input_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format the file's name says: ``.csv`` and ``.csv.gz`` are
    CSV, ``.tsv`` and ``.tsv.gz`` TSV, anything else (``-`` too) JSON Lines."""
    if fmt is not None:
        if fmt not in IMPORT_FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(IMPORT_FORMATS)}")
        return fmt
    name = str(path).lower().removesuffix(".gz")
    for tabular in CSV_DELIMITERS:
        if name.endswith("." + tabular):
            return tabular
    return "jsonl"


def import_file(
    engine: Engine,
    path: str | Path,
    role: Role,
    settings: Settings | None = None,
    progress: Progress | None = None,
    *,
    fmt: str | None = None,
    fields: FieldMap | None = None,
) -> ImportReport:
    """Import one file of ``role`` documents; bad lines are logged, counted and skipped.

    ``fmt`` is ``jsonl``, ``csv`` or ``tsv`` (by default from the file's name,
    :func:`input_format`); ``fields`` names the fields (keys, columns) that hold each value.
    ``progress`` is called with the number of bytes read so far. A file that cannot be opened
    raises :class:`InputError`; nothing about a single line ever does. When the database stops
    taking writes, the import ends early with ``report.failure`` set and the counts of what
    was stored.
    """
    settings = settings or Settings()
    name = str(path)
    fmt = input_format(path, fmt)
    report = ImportReport(name)
    writer = _Writer(engine, role)
    batch: list[_Prepared] = []
    stream = open_input(path)
    # A pipe has no position to report; a gzip stream's is not one in the file's size.
    seekable = stream.seekable() and not isinstance(stream, gzip.GzipFile)
    limit = _line_limit(settings)
    try:
        items = (
            read_jsonl(stream, name, limit, fields)
            if fmt == "jsonl"
            else read_csv(stream, name, limit, fields, CSV_DELIMITERS[fmt])
        )
    except InputError:  # a file without the columns it needs: nothing to import
        stream.close()
        raise
    try:
        for item in items:
            try:
                if isinstance(item, InputError):
                    raise item
                batch.append(_prepare(item, name, settings))
                for warning in item.warnings:
                    report.warnings.append(InputError(warning, path=name, line=item.line))
                    logger.info("%s:%d: %s", name, item.line, warning)
            except InputError as exc:
                logger.info("skipped %s", exc)
                report.rejected += 1
                report.errors.append(exc)
            if len(batch) >= settings.batch_size:
                writer.write(batch, report)
                batch = []
            if progress is not None and seekable:
                progress(stream.tell())
        if batch:
            writer.write(batch, report)
    except InputError as exc:
        # The file itself broke off (damaged compressed data): keep what was read before it.
        try:
            if batch:
                writer.write(batch, report)
        except DatabaseError as stored:
            report.failure = str(stored)
        else:
            report.failure = f"{name}: {exc.reason}"
    except DatabaseError as exc:
        # What was stored stays stored and counted; the caller reports the failure.
        report.failure = str(exc)
    finally:
        stream.close()
    return report
