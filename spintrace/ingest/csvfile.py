"""Read import files in CSV (or TSV) as a stream of valid records and per-row errors.

The first row names the columns; :class:`~spintrace.ingest.jsonl.FieldMap` says which column
holds the URL, the text, the HTML, the title and the published date (``url``, ``text``,
``html``, ``title``, ``published`` by default), and other columns are ignored. An empty cell is
a missing value. Each row is checked as a JSON Lines record is (:func:`parse_object`), and a bad
row is reported with the line it starts on and skipped. Like JSON Lines, the file is streamed:
a physical line over the limit is never held whole in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import IO

from spintrace.errors import InputError
from spintrace.ingest.jsonl import MAX_LINE_BYTES, FieldMap, parse_object, read_lines
from spintrace.records import InputRecord

__all__ = ["CSV_DELIMITERS", "read_csv"]

#: The delimiter of each tabular import format.
CSV_DELIMITERS = {"csv": ",", "tsv": "\t"}

# What surrogateescape makes of bytes that are not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


class _Lines:
    """The decoded lines of a stream for :mod:`csv`, remembering which were over the limit
    (given to the reader as empty lines, so that their record can be rejected)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.lines = read_lines(stream, limit)
        self.limit = limit
        self.number = 0
        self.overlong: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self.lines:
            self.number += 1
            if raw is None:
                self.overlong.add(self.number)
                yield "\n"
                continue
            if self.number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a spreadsheet's UTF-8 BOM
            yield raw.decode("utf-8", errors="surrogateescape")


def _header(rows: Iterator[list[str]], name: str, fields: FieldMap) -> list[str]:
    """The column names of the first non-blank row; :class:`InputError` when the URL column, or
    both the text and the HTML columns, are missing from it."""
    for row in rows:
        if any(cell.strip() for cell in row):
            header = [cell.strip() for cell in row]
            break
    else:
        raise InputError("no header row (the first row names the columns)", path=name)
    shown = ", ".join(repr(cell) for cell in header)[:300]
    if _NOT_UTF8.search("".join(header)):
        raise InputError("the header row is not UTF-8", path=name)
    if fields.url not in header:
        raise InputError(
            f"no '{fields.url}' column (the header has {shown}); name the URL column with "
            "--url-field",
            path=name,
        )
    if fields.text not in header and fields.html not in header:
        raise InputError(
            f"no '{fields.text}' or '{fields.html}' column (the header has {shown}); name the "
            "text column with --text-field (or the HTML one with --html-field)",
            path=name,
        )
    return header


def read_csv(
    stream: IO[bytes],
    name: str,
    max_line_bytes: int = MAX_LINE_BYTES,
    fields: FieldMap | None = None,
    delimiter: str = ",",
) -> Iterator[InputRecord | InputError]:
    """A record, or the :class:`InputError` of a bad row, for every non-blank row after the
    header. The header is read here, before the rows: a file without the columns it needs is
    an :class:`InputError`. A cell may hold line breaks (quoted, as spreadsheets write them);
    errors name the line its row starts on."""
    fields = fields or FieldMap()
    lines = _Lines(stream, max_line_bytes)
    # A field may be as long as a line; csv's own default limit (128 KiB) is below an article.
    csv.field_size_limit(max(csv.field_size_limit(), max_line_bytes))
    rows = _rows(csv.reader(lines, delimiter=delimiter, strict=False), lines, name)
    header = _header((row for _start, row in rows if isinstance(row, list)), name, fields)
    return _records(rows, header, name, fields, delimiter)


def _records(
    rows: Iterator[tuple[int, list[str] | InputError]],
    header: list[str],
    name: str,
    fields: FieldMap,
    delimiter: str,
) -> Iterator[InputRecord | InputError]:
    for start, row in rows:
        if isinstance(row, InputError):
            yield row
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            yield InputError(
                f"has {len(row)} fields, the header {len(header)} (a {_delimiter(delimiter)} "
                "inside an unquoted value?)",
                path=name,
                line=start,
            )
            continue
        # A short row lacks its last columns: they are missing, as a JSON key can be.
        cells = dict(zip(header, row, strict=False))
        bad = next((col for col, cell in cells.items() if _NOT_UTF8.search(cell)), None)
        if bad is not None:
            yield InputError(f"'{bad}' is not UTF-8", path=name, line=start)
            continue
        try:
            yield parse_object(cells, start, name, fields)
        except InputError as exc:
            yield exc
        except Exception as exc:  # a row must never stop the file: name it and go on
            yield InputError(
                f"cannot be read ({type(exc).__name__}: {exc})"[:300], path=name, line=start
            )


def _delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _rows(
    reader: Iterator[list[str]], lines: _Lines, name: str
) -> Iterator[tuple[int, list[str] | InputError]]:
    """Each row with the line it starts on; an :class:`InputError` for a row holding a line
    over the limit or that :mod:`csv` refuses."""
    while True:
        start = lines.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, InputError(f"not valid CSV ({exc})", path=name, line=start)
            continue
        spanned = range(start, lines.number + 1)
        if any(number in lines.overlong for number in spanned):
            yield start, InputError(f"line over {lines.limit:,} bytes", path=name, line=start)
            continue
        yield start, row
