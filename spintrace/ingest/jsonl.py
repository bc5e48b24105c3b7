"""Read import files (JSON Lines) as a stream of valid records and per-line errors.

A file is never loaded whole: lines are read one at a time from a binary stream, so a
multi-gigabyte export imports in constant memory, and a bad byte spoils only its own line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from spintrace.errors import InputError
from spintrace.records import InputRecord

__all__ = ["open_input", "parse_line", "read_jsonl", "validate_url"]

_OPTIONAL_STRINGS = ("title",)


def validate_url(url: object) -> str:
    """Return ``url`` stripped if it is an absolute http(s) URL; raise ``ValueError`` otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("'url' must be a non-empty string")
    url = url.strip()
    if any(c.isspace() for c in url):
        raise ValueError(f"'url' contains white space: {url[:200]!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"'url' is not a valid URL ({exc}): {url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'url' must be an absolute http(s) URL, got {url[:200]!r}")
    return url


def _parse_published(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("'published' must be an ISO 8601 date string")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'published' is not an ISO 8601 date: {value[:50]!r}") from None
    # Naive dates are taken as UTC so that every stored time is comparable.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _unstorable(value: object) -> str | None:
    """Why a string cannot be stored as text by every database, or ``None`` if it can.

    JSON escapes can smuggle in what UTF-8 text cannot hold (a lone surrogate, ``\ud800``)
    and what PostgreSQL text refuses (NUL, ``\u0000``).
    """
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an escape like \\ud800 that is no character)"
    return None


def parse_line(raw: bytes, line: int, path: str) -> InputRecord:
    """Parse one JSONL line into an :class:`InputRecord`; :class:`InputError` says what is wrong."""

    def fail(reason: str) -> InputError:
        return InputError(reason, path=path, line=line)

    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 (byte {exc.start + 1} of the line)") from None
    try:
        obj: Any = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")
    try:
        url = validate_url(obj.get("url"))
        published = _parse_published(obj.get("published"))
    except ValueError as exc:
        raise fail(str(exc)) from None
    text, html = obj.get("text"), obj.get("html")
    if text is None and html is None:
        raise fail("needs a 'text' or an 'html' field")
    for name, value in (("text", text), ("html", html)):
        if value is not None and not isinstance(value, str):
            raise fail(f"'{name}' must be a string")
    for name in _OPTIONAL_STRINGS:
        if obj.get(name) is not None and not isinstance(obj.get(name), str):
            raise fail(f"'{name}' must be a string")
    for name in ("url", "text", "html", *_OPTIONAL_STRINGS):
        problem = _unstorable(obj.get(name))
        if problem:
            raise fail(f"'{name}' {problem}")
    if text is not None and not text.strip():
        if html is None or not html.strip():
            raise fail("'text' is empty")
        text = None
    if text is None and (html is None or not html.strip()):
        raise fail("'html' is empty")
    title = obj.get("title")
    return InputRecord(
        url=url,
        line=line,
        text=text,
        html=html if text is None else None,
        title=title.strip() or None if isinstance(title, str) else None,
        published=published,
    )


def open_input(path: str | Path) -> IO[bytes]:
    """Open an import file for binary reading; :class:`InputError` says why it cannot be."""
    name = str(path)
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", path=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a JSONL file", path=name) from None
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path=name) from None


def read_jsonl(stream: IO[bytes], name: str) -> Iterator[InputRecord | InputError]:
    """Yield a record, or the :class:`InputError` of a bad line, for every non-blank line.

    ``name`` is the file name used in messages. Lines are read one at a time.
    """
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield parse_line(raw, number, name)
        except InputError as exc:
            yield exc
