"""Import stage: JSONL files of sources or pages into the database, idempotently.

A record's identity is (role, URL, SHA-256 of its text): importing the same file twice adds
nothing; a changed text at a known URL adds a new document and keeps the old one. HTML goes
through :func:`spintrace.extract.extract_html` and its raw bytes are kept as a capture.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Capture, Document, Site, SiteIndicator, utcnow
from spintrace.errors import InputError
from spintrace.extract import extract_html
from spintrace.indicators import find_indicators
from spintrace.jsonl import open_input, read_jsonl
from spintrace.records import ExtractedText, InputRecord, Role

__all__ = ["ImportReport", "import_file", "site_id_for", "store_document", "text_sha256"]

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    """What an import did: counts, and the errors of the lines it rejected."""

    path: str
    new: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[InputError] = field(default_factory=list)


def text_sha256(text: str) -> str:
    """The identity of a text: SHA-256 of its UTF-8 bytes, white space at the ends ignored."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


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


def _prepare(record: InputRecord, path: str, settings: Settings) -> _Prepared:
    if record.text is not None:
        return _Prepared(
            record, record.text.strip(), record.title, None, record.published, None, None, None
        )
    assert record.html is not None
    raw = record.html.encode("utf-8", errors="surrogatepass")
    if len(raw) > settings.max_html_bytes:
        raise InputError(
            f"'html' is {len(raw):,} bytes, over the {settings.max_html_bytes:,}-byte limit "
            "(SPINTRACE_MAX_HTML_BYTES)",
            path=path,
            line=record.line,
        )
    extracted = extract_html(record.html, record.url)
    if extracted is None:
        raise InputError(
            "no article text could be extracted from 'html'", path=path, line=record.line
        )
    return _Prepared(
        record,
        extracted.text,
        record.title or extracted.title,
        extracted.author,
        record.published or extracted.published,
        extracted.language,
        extracted.canonical_url,
        raw,
    )


def site_id_for(session: Session, url: str, cache: dict[str, int] | None = None) -> int:
    """The id of the ``sites`` row of ``url``'s host, created when missing."""
    return Site.id_for(session, url, cache)


def store_indicators(
    session: Session,
    capture_id: int | None,
    html: str | bytes,
    url: str,
    site_id: int | None = None,
) -> int:
    """Find the operator indicators of a page and add them to its site's; returns how many.

    One row per (site, kind, value): seen again, its ``captures`` count and ``last_seen``
    grow. ``site_id`` defaults to the capture's site.
    """
    if site_id is None:
        capture = session.get(Capture, capture_id)
        if capture is None:
            return 0
        site_id = capture.site_id
    found = find_indicators(html, url)
    for indicator in found:
        SiteIndicator.record(
            session, site_id, indicator.kind, indicator.value, indicator.evidence, capture_id
        )
    return len(found)


def store_document(
    session: Session,
    role: Role,
    url: str,
    site_id: int,
    capture_id: int | None,
    text: str,
    extracted: ExtractedText | None = None,
) -> bool:
    """Add a document unless (role, URL, text hash) is stored already; ``True`` if added.

    ``extracted`` gives the metadata (its ``text`` is ignored: ``text`` is what is stored).
    Shared by imports and by :mod:`spintrace.captures`, so both make identical rows.
    """
    digest = text_sha256(text)
    exists = session.scalar(
        select(Document.id).where(
            Document.role == role, Document.url == url, Document.text_sha256 == digest
        )
    )
    if exists is not None:
        return False
    meta = extracted or ExtractedText(text=text)
    session.add(
        Document(
            role=role,
            url=url,
            site_id=site_id,
            capture_id=capture_id,
            title=meta.title,
            author=meta.author,
            published=meta.published,
            language=meta.language,
            canonical_url=meta.canonical_url,
            text=text,
            text_sha256=digest,
        )
    )
    session.flush()
    return True


class _Writer:
    """Writes prepared records in batches; remembers sites so each is looked up once."""

    def __init__(self, engine: Engine, role: Role) -> None:
        self.engine = engine
        self.role = role
        self.sites: dict[str, int] = {}

    def _write_one(self, session: Session, item: _Prepared) -> bool:
        url = item.record.url
        exists = session.scalar(
            select(Document.id).where(
                Document.role == self.role,
                Document.url == url,
                Document.text_sha256 == text_sha256(item.text),
            )
        )
        if exists is not None:
            return False
        site_id = site_id_for(session, url, self.sites)
        capture_id = None
        if item.html_bytes is not None:
            capture_id, new = self._capture(session, site_id, url, item.html_bytes)
            if new:
                store_indicators(session, capture_id, item.html_bytes, url, site_id)
        meta = ExtractedText(
            text=item.text,
            title=item.title,
            author=item.author,
            published=item.published,
            language=item.language,
            canonical_url=item.canonical_url,
        )
        return store_document(session, self.role, url, site_id, capture_id, item.text, meta)

    def _capture(self, session: Session, site_id: int, url: str, body: bytes) -> tuple[int, bool]:
        """The capture of ``body`` at ``url``, and whether it is new."""
        digest = hashlib.sha256(body).hexdigest()
        found = session.scalar(
            select(Capture.id).where(Capture.url == url, Capture.sha256 == digest)
        )
        if found is not None:
            return found, False
        now = utcnow()
        capture = Capture(
            site_id=site_id,
            url=url,
            final_url=None,
            status=None,
            headers={"content-type": "text/html; charset=utf-8", "x-spintrace-source": "import"},
            fetched_at=now,
            sha256=digest,
            body=zlib.compress(body, 6),
            body_size=len(body),
            content_type="text/html",
            # Its document is written right here: nothing left for process_captures.
            processed_at=now,
            outcome="document",
        )
        session.add(capture)
        session.flush()
        return capture.id, True

    def write(self, batch: list[_Prepared], report: ImportReport) -> None:
        """Store a batch in one transaction; if that fails, item by item.

        One by one, a conflict with a concurrent import counts as unchanged, and a record the
        database refuses is rejected with its line number: the good lines around it are kept.
        """
        results: list[bool | None]
        try:
            with Session(self.engine) as session, session.begin():
                results = [self._write_one(session, item) for item in batch]
        except DBAPIError:
            self.sites.clear()
            results = []
            for item in batch:
                try:
                    with Session(self.engine) as session, session.begin():
                        results.append(self._write_one(session, item))
                except IntegrityError:
                    self.sites.clear()
                    results.append(False)
                except DBAPIError as exc:
                    self.sites.clear()
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                    error = InputError(
                        f"refused by the database: {reason}",
                        path=report.path,
                        line=item.record.line,
                    )
                    logger.info("skipped %s", error)
                    report.rejected += 1
                    report.errors.append(error)
                    results.append(None)
        for added in results:
            if added:
                report.new += 1
            elif added is not None:
                report.unchanged += 1


def import_file(
    engine: Engine,
    path: str | Path,
    role: Role,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one JSONL file of ``role`` documents; bad lines are logged, counted and skipped.

    ``progress`` is called with the number of bytes read so far. A file that cannot be opened
    raises :class:`InputError`; nothing about a single line ever does.
    """
    settings = settings or Settings()
    name = str(path)
    report = ImportReport(name)
    writer = _Writer(engine, role)
    batch: list[_Prepared] = []
    stream = open_input(path)
    try:
        for item in read_jsonl(stream, name):
            try:
                if isinstance(item, InputError):
                    raise item
                batch.append(_prepare(item, name, settings))
            except InputError as exc:
                logger.info("skipped %s", exc)
                report.rejected += 1
                report.errors.append(exc)
            if len(batch) >= settings.batch_size:
                writer.write(batch, report)
                batch = []
            if progress is not None:
                progress(stream.tell())
        if batch:
            writer.write(batch, report)
    finally:
        stream.close()
    return report
