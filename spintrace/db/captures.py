"""Storing a capture: the raw bytes of a fetched or imported page, kept as evidence.

The one place a ``captures`` row is written, by the crawler's pipeline and by HTML imports
alike. A body already stored for the URL (same SHA-256) adds nothing, also when it was met
under another form of the URL (same :func:`~spintrace.db.urls.url_key`: another scheme,
``www.``, tracking parameters, a fragment).
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from spintrace.db.models import Capture, utcnow
from spintrace.db.urls import url_key

__all__ = ["IMPORTED_HEADERS", "is_imported", "store_capture"]

IMPORTED_HEADERS = {"content-type": "text/html; charset=utf-8", "x-spintrace-source": "import"}
"""The headers an import stores with a record's HTML: that capture was made when the file was
imported, so its time is import time, never evidence of when the page appeared."""


def is_imported(headers: dict[str, str] | None) -> bool:
    """Whether a capture with these headers came from an import, not a crawl."""
    return (headers or {}).get("x-spintrace-source") == IMPORTED_HEADERS["x-spintrace-source"]


# zlib's own default level, as the captures stored so far were written.
_LEVEL = 6


def store_capture(
    session: Session,
    *,
    site_id: int,
    url: str,
    body: bytes,
    content_type: str,
    fetched_at: datetime | None = None,
    final_url: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    role: str | None = None,
    depth: int | None = None,
    outcome: str | None = None,
) -> tuple[int, bool]:
    """The id of the capture of ``body`` at ``url``, and whether it was added now.

    ``url`` is stored in its canonical form, and as given in ``seen_url``. ``outcome`` marks
    the capture processed on the spot (an import writes its document itself); without it the
    capture waits for ``spintrace captures process``.
    """
    digest = hashlib.sha256(body).hexdigest()
    found = session.scalar(
        select(Capture.id).where(Capture.url_key == url_key(url), Capture.sha256 == digest)
    )
    if found is not None:
        return found, False
    now = utcnow()
    capture = Capture(
        site_id=site_id,
        url=url,
        final_url=final_url,
        status=status,
        headers=headers,
        fetched_at=fetched_at or now,
        sha256=digest,
        body=zlib.compress(body, _LEVEL),
        body_size=len(body),
        role=role,
        content_type=content_type[:255],
        depth=depth,
        processed_at=now if outcome is not None else None,
        outcome=outcome,
    )
    session.add(capture)
    session.flush()
    return capture.id, True
