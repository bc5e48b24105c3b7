"""Main-text extraction from HTML: the only module that calls trafilatura."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spintrace.records import ExtractedText

__all__ = ["decode_html", "extract_html"]

logger = logging.getLogger(__name__)


def _parse_date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _clean(value: object) -> str | None:
    # NUL cannot be stored in PostgreSQL text, and no article needs it.
    return value.replace("\x00", "").strip() or None if isinstance(value, str) else None


def _strip_heading(text: str, title: str | None, author: str | None) -> str:
    """Drop the headline and byline trafilatura puts before the body ("Title By Admin ...").

    The title is kept in its own field; left in the text, it would count as page words that
    the source's body does not contain.
    """
    body = text
    if title and body.startswith(title):
        body = body[len(title) :].lstrip()
        if author:
            for byline in (f"By {author}", f"by {author}", author):
                if body.startswith(byline):
                    body = body[len(byline) :].lstrip()
                    break
    return body or text


# Options passed to ``trafilatura.bare_extraction``; bench/extraction.py measures alternatives
# (docs/extraction.md). Comments are not the article; tables often are (results, figures).
TRAFILATURA_OPTIONS: dict[str, bool] = {
    "include_comments": False,
    "include_tables": True,
    "deduplicate": False,
}
# favor_precision leaves out teasers, "related" lists and newsletter boxes the default keeps
# (page boilerplate dilutes containment), but on a few pages it drops the article itself
# (measured on 181 real pages: one page fell from recall 1.00 to 0.03). So a short precise text
# is checked against the default extraction, and the default wins when it is over twice as long.
PRECISE_OPTIONS: dict[str, bool] = {**TRAFILATURA_OPTIONS, "favor_precision": True}
FALLBACK_WORDS = 150
FALLBACK_RATIO = 0.5


# Among decodings charset_normalizer finds equally plausible, Windows-1252 is preferred: it is
# what a page labelled UTF-8 (or Latin-1) but written by a Western legacy tool really is, and
# the one WHATWG decodes "iso-8859-1" and "us-ascii" labels as. The tolerances are the ones
# charset_normalizer itself uses to call two matches a tie (``CharsetMatch.__lt__``).
WINDOWS_1252 = "cp1252"
TIE_CHAOS = 0.005
TIE_COHERENCE = 0.02


def decode_html(data: bytes) -> str:
    """The text of an HTML page's raw bytes, whatever its charset label says.

    Valid UTF-8 is UTF-8. Other bytes (a Windows-1252 page labelled UTF-8 in its header or
    ``<meta>`` is the common case: curly quotes 0x93/0x94, "é" as 0xE9) are decoded with the
    encoding charset_normalizer (trafilatura's own detector) finds most plausible, Windows-1252
    when it is among the equally plausible ones. trafilatura alone took the first guess, and
    for a French page in Windows-1252 that is Windows-1250: "crčme" for "crème".
    Compressed bytes are decompressed first, as trafilatura does.
    """
    from charset_normalizer import from_bytes
    from trafilatura.utils import handle_compressed_file

    data = handle_compressed_file(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return data.decode("utf-8", errors="replace")
    for match in matches:
        if (
            WINDOWS_1252 in match.could_be_from_charset
            and match.chaos - best.chaos < TIE_CHAOS
            and best.coherence - match.coherence <= TIE_COHERENCE
        ):
            return data.decode(WINDOWS_1252, errors="replace")
    return data.decode(best.encoding, errors="replace")


def _words(extracted: ExtractedText | None) -> int:
    return len(extracted.text.split()) if extracted else 0


def extract_html(html: str | bytes, url: str | None = None) -> ExtractedText | None:
    """Extract the main text and metadata of an HTML page.

    Comments, navigation and boilerplate are left out. Returns ``None`` when no main text can be
    found (an empty, non-article or unparsable page); never raises on malformed HTML. Bytes
    are decoded by :func:`decode_html`.
    """
    if isinstance(html, bytes):
        html = decode_html(html)
    precise = _extract(html, url, PRECISE_OPTIONS)
    words = _words(precise)
    if words >= FALLBACK_WORDS:
        return precise
    default = _extract(html, url, TRAFILATURA_OPTIONS)
    return default if words < FALLBACK_RATIO * _words(default) else precise


def _extract(
    html: str | bytes, url: str | None, options: Mapping[str, Any], *, strip_heading: bool = True
) -> ExtractedText | None:
    """``extract_html`` with the given trafilatura options (bench/extraction.py compares them)."""
    import trafilatura  # imported here: slow to import, and only HTML needs it

    if isinstance(html, bytes):
        html = decode_html(html)
    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, **options)
    except Exception as exc:  # trafilatura/lxml raise a variety of errors on hostile input
        logger.warning("extraction failed for %s: %s", url or "<html>", exc)
        return None
    if doc is None:
        return None
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = _clean(data.get("text"))
    if text is None:
        return None
    title, author = _clean(data.get("title")), _clean(data.get("author"))
    return ExtractedText(
        text=_strip_heading(text, title, author) if strip_heading else text,
        title=title,
        author=author,
        published=_parse_date(data.get("date")),
        language=_clean(data.get("language")),
        canonical_url=_clean(data.get("url")),
    )
