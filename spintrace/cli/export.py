"""``spintrace export``: a table as CSV, JSON or JSON Lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import click

from spintrace.cli.app import App
from spintrace.reports.export import EXPORT_FORMATS, EXPORT_TABLES, export_table

__all__ = ["export"]


@click.command("export")
@click.argument("table", type=click.Choice(EXPORT_TABLES))
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True
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
@click.pass_obj
def export(app: App, table: str, fmt: str, output: Path | None, raw: bool) -> None:
    """Export a table (matches, pages, sources, evidence, sites, ...) as CSV, JSON or JSONL.

    CSV is made safe to open in a spreadsheet: a text cell that starts with = + - @ (a formula,
    on a hostile page) gets a leading apostrophe; --raw turns that off.
    """
    with app.engine() as engine:
        if output is None or str(output) == "-":
            export_table(engine, table, fmt, sys.stdout, raw=raw)
            return
        app.refuse_database_file(output)
        try:
            handle: IO[str] = output.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        try:
            with handle:
                count = export_table(engine, table, fmt, handle, raw=raw)
        except OSError as exc:  # disk full, device gone: name the file
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        click.echo(f"wrote {count} {table} to {output}", err=True)
