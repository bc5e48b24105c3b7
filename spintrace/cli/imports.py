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


def _import_group(role: Role, group_help: str, what: str) -> click.Group:
    """The ``sources`` or ``pages`` group and its ``import`` command, one definition for both."""
    group = click.Group(role + "s", help=group_help)

    @group.command("import")
    @click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
    @click.option("--strict", is_flag=True, help="Exit with status 2 if any line was rejected.")
    @click.pass_obj
    def import_(app: App, files: tuple[Path, ...], strict: bool) -> None:
        _run_import(app, files, role, strict)

    import_.help = (
        f"Import {what} from JSONL FILES: url, and text or html; optional title, published.\n\n"
        "Idempotent: the same URL with the same text adds nothing. Bad lines are listed with "
        "their line numbers and skipped."
    )
    return group


sources = _import_group("source", "Original articles (the works that get copied).", "sources")
pages = _import_group("page", "Suspect pages (possible copies).", "suspect pages")
