"""Turning stored captures into documents: the extraction stage of crawled pages.

:func:`process_captures` takes every crawled capture not yet processed, extracts its main text
with :func:`spintrace.ingest.extract.extract_html`, and stores a document with the capture's role
(``--as page|source``), exactly as an import of the same HTML would (shared writer in
:mod:`spintrace.ingest.documents`). Pages that are not articles (home, category, tag, archive,
contact pages) stay captures with ``outcome = 'non-article'``. Re-running it changes nothing.

Site indicators: ``indicators``, a callable ``(session, capture_id, html, url)``, is called for
every processed HTML capture, articles and non-articles alike (tracking IDs sit on every page),
inside the transaction that marks the capture processed. By default it is
:func:`spintrace.ingest.documents.store_indicators`, which stores what
:func:`spintrace.ingest.indicators.find_indicators` finds in the site's ``indicators`` rows.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Capture, utcnow
from spintrace.ingest.documents import store_document, store_indicators
from spintrace.ingest.extract import extract_html
from spintrace.ingest.pages import classify_page
from spintrace.records import Role

__all__ = [
    "IndicatorHook",
    "ProcessReport",
    "classify_page",
    "process_captures",
]

logger = logging.getLogger(__name__)

IndicatorHook = Callable[[Session, int, str, str], object]

BATCH = 200


@dataclass
class ProcessReport:
    """What :func:`process_captures` did with the captures it looked at."""

    documents_new: int = 0
    documents_unchanged: int = 0
    non_articles: int = 0
    not_html: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.documents_new + self.documents_unchanged + self.non_articles + self.not_html


def _process_one(
    session: Session, capture: Capture, report: ProcessReport, indicators: IndicatorHook | None
) -> None:
    raw = zlib.decompress(capture.body)
    content_type = (capture.content_type or "text/html").lower()
    if "html" not in content_type and "xml" not in content_type:
        capture.outcome = "not-html"
        report.not_html += 1
        return
    url = capture.final_url or capture.url
    if indicators is not None:
        indicators(session, capture.id, raw.decode("utf-8", "replace"), url)
    extracted = extract_html(raw, url)
    reason = classify_page(raw, url, extracted)
    if reason is not None or extracted is None:
        logger.info("not an article: %s (%s)", capture.url, reason)
        capture.outcome = "non-article"
        report.non_articles += 1
        return
    role: Role = "source" if capture.role == "source" else "page"
    added = store_document(
        session, role, capture.url, capture.site_id, capture.id, extracted.text, extracted
    )
    capture.outcome = "document" if added else "unchanged"
    if added:
        report.documents_new += 1
    else:
        report.documents_unchanged += 1


def process_captures(
    engine: Engine,
    settings: Settings | None = None,
    *,
    indicators: IndicatorHook | None = store_indicators,
    ids: Sequence[int] | None = None,
) -> ProcessReport:
    """Extract every unprocessed crawled capture into a document, or mark it a non-article.

    Idempotent: a capture is processed once (``processed_at``), and a text already stored for
    the URL and role adds no document. A capture that fails is logged, counted in ``errors``
    and left unprocessed for the next run; it never stops the others. With ``ids``, only
    those captures (a queued job's batch). Runs in several processes at once: each capture is
    locked while it is processed (PostgreSQL), so none is extracted twice.
    """
    settings = settings or Settings()
    report = ProcessReport()
    failed: set[int] = set()
    while True:
        with Session(engine) as session:
            query = select(Capture.id).where(
                Capture.processed_at.is_(None), Capture.role.is_not(None)
            )
            if failed:
                query = query.where(Capture.id.not_in(failed))
            if ids is not None:
                query = query.where(Capture.id.in_(ids))
            batch = list(session.scalars(query.order_by(Capture.id).limit(BATCH)))
        if not batch:
            return report
        for capture_id in batch:
            try:
                with Session(engine) as session, session.begin():
                    capture = session.get(Capture, capture_id, with_for_update=True)
                    if capture is None or capture.processed_at is not None:
                        continue
                    if capture.body_size > settings.max_html_bytes:
                        capture.outcome = "non-article"
                        report.non_articles += 1
                        logger.info("not extracted, over max_html_bytes: %s", capture.url)
                    else:
                        _process_one(session, capture, report, indicators)
                    capture.processed_at = utcnow()
            except Exception as exc:  # one bad capture must not stop the stage
                logger.warning("capture %d not processed: %s", capture_id, exc)
                report.errors.append(f"capture {capture_id}: {exc}")
                failed.add(capture_id)
