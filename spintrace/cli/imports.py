"""``spintrace sources import`` and ``spintrace pages import``: JSON Lines into the database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spintrace.cli.app import MAX_LISTED_ERRORS, App, load_settings, progress
from spintrace.ingest.imports import ImportReport, import_file
from spintrace.records import Role

__all__ = ["pages", "sources"]


def _echo_import(report: ImportReport) -> None:
    click.echo(
        f"{report.path}: {report.new} new, {report.unchanged} unchanged, {report.rejected} rejected"
    )
    for label, items in (("rejected", report.errors), ("warning", report.warnings)):
        for item in items[:MAX_LISTED_ERRORS]:
            click.echo(f"  {label} {item}", err=True)
        if len(items) > MAX_LISTED_ERRORS:
            click.echo(f"  ... and {len(items) - MAX_LISTED_ERRORS} more", err=True)


def _run_import(app: App, files: tuple[Path, ...], role: Role, strict: bool) -> None:
    settings = load_settings()
    rejected = 0
    with app.engine() as engine:
        for path in files:
            size = path.stat().st_size if path.is_file() else 0
            with progress(str(path), size) as update:
                report = import_file(engine, path, role, settings, update)
            _echo_import(report)
            if report.failure is not None:
                raise click.ClickException(report.failure)
            rejected += report.rejected
    if strict and rejected:
        sys.exit(2)


_files_argument = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
_strict_option = click.option(
    "--strict", is_flag=True, help="Exit with status 2 if any line was rejected."
)


@click.group()
def sources() -> None:
    """Original articles (the works that get copied)."""


@sources.command("import")
@_files_argument
@_strict_option
@click.pass_obj
def sources_import(app: App, files: tuple[Path, ...], strict: bool) -> None:
    """Import sources from JSONL FILES: url, and text or html; optional title, published.

    Idempotent: the same URL with the same text adds nothing. Bad lines are listed with their
    line numbers and skipped.
    """
    _run_import(app, files, "source", strict)


@click.group()
def pages() -> None:
    """Suspect pages (possible copies)."""


@pages.command("import")
@_files_argument
@_strict_option
@click.pass_obj
def pages_import(app: App, files: tuple[Path, ...], strict: bool) -> None:
    """Import suspect pages from JSONL FILES: url, and text or html; optional title, published.

    Idempotent: the same URL with the same text adds nothing. Bad lines are listed with their
    line numbers and skipped.
    """
    _run_import(app, files, "page", strict)
