"""Documents and site indicators: the rows an import and a processed capture both write.

Shared by :mod:`spintrace.ingest.imports` and :mod:`spintrace.ingest.captures`, so both make
identical rows. A document's identity is (role, URL, SHA-256 of its text), the URL known by its
:func:`~spintrace.db.urls.url_key`: the same text at ``http://www.example.com/a?utm_source=x``
and at ``https://example.com/a#comments`` is one document.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spintrace.db.models import Capture, Document, Site, SiteIndicator, utcnow
from spintrace.db.urls import canonical_url, url_key
from spintrace.ingest.indicators import find_indicators
from spintrace.records import ExtractedText, Role

__all__ = [
    "document_row",
    "find_document",
    "site_id_for",
    "store_document",
    "store_indicators",
    "text_sha256",
]


def text_sha256(text: str) -> str:
    """The identity of a text: SHA-256 of its UTF-8 bytes, white space at the ends ignored."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def site_id_for(session: Session, url: str, cache: dict[str, int] | None = None) -> int:
    """The id of the ``sites`` row of ``url``'s site (its registered domain), created when
    missing."""
    return Site.id_for(session, url, cache)


def find_document(session: Session, role: Role, url: str, digest: str) -> int | None:
    """The id of the ``role`` document with text hash ``digest`` at ``url`` or at any other
    form of it (same :func:`~spintrace.db.urls.url_key`); ``None`` when there is none."""
    return session.scalar(
        select(Document.id).where(
            Document.role == role,
            Document.url_key == url_key(url),
            Document.text_sha256 == digest,
        )
    )


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


def document_row(
    role: Role,
    url: str,
    site_id: int,
    capture_id: int | None,
    text: str,
    extracted: ExtractedText | None = None,
    seen_url: str | None = None,
) -> dict[str, Any]:
    """The ``documents`` row of a text, as :func:`store_document` adds it one by one and an
    import inserts it a batch at a time: the URL canonical, its key, the text's hash."""
    meta = extracted or ExtractedText(text=text)
    return {
        "role": role,
        "url": canonical_url(url),
        "seen_url": seen_url or url,
        "url_key": url_key(url),
        "site_id": site_id,
        "capture_id": capture_id,
        "title": meta.title,
        "author": meta.author,
        "published": meta.published,
        "language": meta.language,
        "canonical_url": meta.canonical_url,
        "text": text,
        "text_sha256": text_sha256(text),
        "added_at": utcnow(),
    }


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
    Shared by imports and by :mod:`spintrace.ingest.captures`, so both make identical rows.
    The URL is stored canonical; ``seen_url`` keeps it as met: the capture's URL as requested
    when there is a capture of it, else ``url`` as given.
    """
    digest = text_sha256(text)
    if find_document(session, role, url, digest) is not None:
        return False
    seen_url = url
    capture = session.get(Capture, capture_id) if capture_id is not None else None
    if capture is not None and capture.url_key == url_key(url):
        seen_url = capture.seen_url
    session.add(Document(**document_row(role, url, site_id, capture_id, text, extracted, seen_url)))
    session.flush()
    return True
