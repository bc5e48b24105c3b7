"""Read import files (JSON Lines) as a stream of valid records and per-line errors.

A file is never loaded whole: lines are read one at a time from a binary stream, so a
multi-gigabyte export imports in constant memory, and a bad byte spoils only its own line.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from spintrace.errors import InputError
from spintrace.records import InputRecord

__all__ = [
    "MAX_LINE_BYTES",
    "FieldMap",
    "open_input",
    "parse_line",
    "parse_object",
    "parse_published",
    "read_jsonl",
    "read_lines",
    "validate_url",
]

MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line read by default (imports pass a bound derived from ``max_html_bytes``)."""


@dataclass(frozen=True)
class FieldMap:
    """Which field (JSON key or CSV column) of an import file holds each value of a record:
    ``FieldMap(url="link", text="body")`` reads files whose fields are named otherwise."""

    url: str = "url"
    text: str = "text"
    html: str = "html"
    title: str = "title"
    published: str = "published"

    def names(self) -> dict[str, str]:
        """Each value's own name and the field that holds it (``asdict`` deep-copies: it was
        a tenth of an import's time)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def values(self, obj: Mapping[str, object]) -> dict[str, object]:
        """The record's values under their own names (``url``, ``text``, ...)."""
        return {name: obj.get(field) for name, field in self.names().items()}


def validate_url(url: object, field: str = "url") -> str:
    """Return ``url`` stripped if it is an absolute http(s) URL; raise ``ValueError`` otherwise
    (its message names the record's ``field``)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"'{field}' must be a non-empty string")
    url = url.strip()
    if any(c.isspace() for c in url):
        raise ValueError(f"'{field}' contains white space: {url[:200]!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"'{field}' is not a valid URL ({exc}): {url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{field}' must be an absolute http(s) URL, got {url[:200]!r}")
    return url


# Epoch numbers above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_EPOCH_MILLISECONDS = 1e11


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _EPOCH_MILLISECONDS else number
    return datetime.fromtimestamp(seconds, UTC)


def _as_utc(parsed: datetime) -> datetime:
    # Naive dates are taken as UTC so that every stored time is comparable.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_published(value: object, field: str = "published") -> tuple[datetime | None, str | None]:
    """A record's ``published`` value as a UTC time, leniently, and why it was dropped if not.

    ISO 8601 first (a time without zone is UTC); then a Unix epoch number in seconds or
    milliseconds (as a JSON number or a string of digits); then a written date that
    dateparser reads ("March 3, 2026", "3 mars 2026 10:00"). A value none of them reads gives
    ``(None, reason)``: the record is kept without a date, never rejected for it.
    """
    if value is None or value == "":
        return None, None
    shown = repr(value)[:60]
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError
        if isinstance(value, int | float):
            return _from_epoch(value), None
        text = value.strip()
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return _from_epoch(float(text)), None
        try:
            return _as_utc(
                datetime.fromisoformat(
                    text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else "")
                )
            ), None
        except ValueError:
            pass
        import dateparser  # a written date: imported only when one is met (~0.3 s)

        parsed = dateparser.parse(
            text[:100],
            settings={
                "TIMEZONE": "UTC",
                "RETURN_AS_TIMEZONE_AWARE": True,
                # "yesterday" in a file is relative to nothing: absolute dates only.
                "PARSERS": ["custom-formats", "absolute-time"],
            },
        )
        if parsed is None:
            raise ValueError
        return _as_utc(parsed), None
    except (ValueError, OverflowError, OSError):
        return None, f"'{field}' {shown} is not a date spintrace can read; stored without one"


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


def parse_line(raw: bytes, line: int, path: str, fields: FieldMap | None = None) -> InputRecord:
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
        # json's messages may end in "at" already ("Invalid control character at").
        message = exc.msg.removesuffix(" at")
        if decoded[exc.pos : exc.pos + 1] == "\n" and message.startswith("Invalid control"):
            message = "unterminated string"
        raise fail(f"not valid JSON ({message} at column {exc.colno})") from None
    except RecursionError:
        raise fail("JSON nested too deeply") from None
    except ValueError:  # Python refuses integers of over 4,300 digits
        raise fail("not readable JSON (a number too long to read)") from None
    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")
    return parse_object(obj, line, path, fields)


def parse_object(
    obj: Mapping[str, object], line: int, path: str, fields: FieldMap | None = None
) -> InputRecord:
    """One record of an import file (a JSON object, a CSV row) as an :class:`InputRecord`;
    :class:`InputError` says what is wrong, naming the fields as the file names them."""
    fields = fields or FieldMap()
    names = fields.names()
    values = {name: obj.get(field) for name, field in names.items()}

    def fail(reason: str) -> InputError:
        return InputError(reason, path=path, line=line)

    try:
        url = validate_url(values["url"], fields.url)
    except ValueError as exc:
        raise fail(str(exc)) from None
    text, html = values["text"], values["html"]
    if text is None and html is None:
        raise fail(f"needs a '{fields.text}' or an '{fields.html}' field")
    for name in ("text", "html", "title"):
        if values[name] is not None and not isinstance(values[name], str):
            raise fail(f"'{names[name]}' must be a string")
    for name in ("url", "text", "html", "title"):
        problem = _unstorable(values[name])
        if problem:
            raise fail(f"'{names[name]}' {problem}")
    assert text is None or isinstance(text, str)
    assert html is None or isinstance(html, str)
    if text is not None and not text.strip():
        if html is None or not html.strip():
            raise fail(f"'{fields.text}' is empty")
        text = None
    if text is None and (html is None or not html.strip()):
        raise fail(f"'{fields.html}' is empty")
    title = values["title"]
    published, warning = parse_published(values["published"], fields.published)
    return InputRecord(
        url=url,
        line=line,
        text=text,
        html=html if html is not None and html.strip() else None,
        title=title.strip() or None if isinstance(title, str) else None,
        published=published,
        warnings=(warning,) if warning else (),
    )


def open_input(path: str | Path) -> IO[bytes]:
    """Open an import file for binary reading (``-`` is stdin); :class:`InputError` says why it
    cannot be. Pipes and FIFOs work: the stream is only ever read forwards."""
    name = str(path)
    if name == "-":
        try:  # a stream of its own, so that closing it leaves sys.stdin open
            return _unzipped(os.fdopen(os.dup(sys.stdin.fileno()), "rb"))
        except (OSError, ValueError, io.UnsupportedOperation):  # stdin replaced in-process
            return _unzipped(sys.stdin.buffer)
    try:
        return _unzipped(open(path, "rb"))
    except FileNotFoundError:
        raise InputError("no such file", path=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a JSONL file", path=name) from None
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path=name) from None


def _unzipped(stream: IO[bytes]) -> IO[bytes]:
    """``stream``, read through gzip when it starts with gzip's magic bytes (``.jsonl.gz``, or
    ``zcat``-less pipes): recognised by content, not by name, so stdin works too."""
    peek = getattr(stream, "peek", None)
    if peek is not None and peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def read_lines(stream: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``stream``; ``None`` for a line over ``limit`` bytes (skipped, never held
    in memory whole). Damaged gzip data ends the file with an :class:`InputError`."""
    while True:
        try:
            raw = stream.readline(limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"the compressed data is damaged ({exc})") from None
        if not raw:
            return
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw
            continue
        while raw and not raw.endswith(b"\n"):  # drop the rest of the long line
            try:
                raw = stream.readline(1 << 20)
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(f"the compressed data is damaged ({exc})") from None
        yield None


def read_jsonl(
    stream: IO[bytes],
    name: str,
    max_line_bytes: int = MAX_LINE_BYTES,
    fields: FieldMap | None = None,
) -> Iterator[InputRecord | InputError]:
    """Yield a record, or the :class:`InputError` of a bad line, for every non-blank line.

    ``name`` is the file name used in messages. Lines are read one at a time; a line over
    ``max_line_bytes`` is rejected without being read into memory. ``fields`` names the keys
    that hold each value (``url``, ``text``, ... by default).
    """
    for number, raw in enumerate(read_lines(stream, max_line_bytes), start=1):
        if raw is None:
            yield InputError(f"line over {max_line_bytes:,} bytes", path=name, line=number)
            continue
        if not raw.strip():
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield parse_line(raw, number, name, fields)
        except InputError as exc:
            yield exc
        except Exception as exc:  # a line must never stop the file: name it and go on
            yield InputError(
                f"cannot be read ({type(exc).__name__}: {exc})"[:300], path=name, line=number
            )
