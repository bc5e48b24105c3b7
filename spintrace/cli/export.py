"""``spintrace export``: a table as CSV, TSV, JSON or JSON Lines, filtered if asked."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from spintrace.cli.app import App
from spintrace.reports.export import EXPORT_FORMATS, EXPORT_TABLES, TABLES, export_table
from spintrace.reports.rendering import plural
from spintrace.reports.selection import Selection, parse_since

__all__ = ["export", "format_for"]

# The format an output file's name asks for when --format is not given.
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json"}
_SUFFIX_FORMATS |= {".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_for(fmt: str | None, output: Path | None) -> str:
    """``fmt`` if given, else the one the output's extension names, else CSV."""
    if fmt is not None:
        return fmt
    if output is None or str(output) == "-":
        return "csv"
    return _SUFFIX_FORMATS.get(output.suffix.lower(), "csv")


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.ClickException(f"--since: {exc}") from None


def _columns(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for value in values for name in value.split(",") if name.strip())


@click.command("export")
@click.argument("table", type=click.Choice(EXPORT_TABLES))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    help="csv, tsv, json or jsonl [default: the --output file's extension, else csv].",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write here instead of stdout ('-' is stdout).",
)
@click.option(
    "--raw",
    is_flag=True,
    help="CSV cells exactly as stored (no apostrophe before a leading = + - @), for programs.",
)
@click.option("--site", metavar="DOMAIN", help="Only rows of this site (either side of a match).")
@click.option(
    "--since",
    metavar="TIME",
    callback=_since,
    help="Only rows from this time on: 2026-11-30, 2026-11-30T08:00, or 12h, 7d back.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    metavar="X",
    help="Only matches scoring at least X (0..1).",
)
@click.option(
    "--where",
    metavar="SQL",
    help="Only rows for which this SQLite condition over the table's columns holds, "
    "e.g. \"basis = 'paraphrase' and coverage > 0.5\".",
)
@click.option(
    "-c",
    "--columns",
    "columns",
    multiple=True,
    metavar="A,B,...",
    help="Only these columns, in this order (comma-separated or repeated).",
)
@click.pass_obj
def export(
    app: App,
    table: str,
    fmt: str | None,
    output: Path | None,
    raw: bool,
    site: str | None,
    since: datetime | None,
    min_score: float | None,
    where: str | None,
    columns: tuple[str, ...],
) -> None:
    """Export a table (matches, pages, sources, evidence, sites, ...) as CSV, TSV, JSON or JSONL.

    CSV and TSV are made safe to open in a spreadsheet: a text cell that starts with = + - @
    (a formula, on a hostile page) gets a leading apostrophe; --raw turns that off.
    """
    fmt = format_for(fmt, output)
    selection = Selection(site, since, min_score, where, _columns(columns))
    selection.check(table, TABLES[table][0])  # a bad filter is an error before a file is made
    with app.engine() as engine:
        if output is None or str(output) == "-":
            export_table(engine, table, fmt, sys.stdout, raw=raw, selection=selection)
            return
        app.refuse_database_file(output)
        try:
            handle: IO[str] = output.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        try:
            with handle:
                count = export_table(engine, table, fmt, handle, raw=raw, selection=selection)
        except OSError as exc:  # disk full, device gone: name the file
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        app.info(f"wrote {plural(count, 'row')} of {table} to {output}", err=True)
