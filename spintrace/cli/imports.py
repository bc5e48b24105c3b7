"""``spintrace sources import`` and ``spintrace pages import``: JSON Lines or CSV into the
database."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from spintrace.cli.app import MAX_LISTED_ERRORS, App, echo_json, json_option, load_settings
from spintrace.errors import InputError
from spintrace.ingest.imports import IMPORT_FORMATS, ImportReport, import_file
from spintrace.ingest.jsonl import FieldMap
from spintrace.records import Role

__all__ = ["pages", "sources"]


def _echo_import(app: App, report: ImportReport) -> None:
    app.info(
        f"{report.path}: {report.new} new, {report.unchanged} unchanged, {report.rejected} rejected"
    )
    _list_problems(report.errors, "rejected", always=True, app=app)
    _list_problems(report.warnings, "warning", always=False, app=app)


def _list_problems(items: list[InputError], label: str, *, always: bool, app: App) -> None:
    """Rejected lines are errors and shown under -q too; warnings are not."""
    if app.quiet and not always:
        return
    for item in items[:MAX_LISTED_ERRORS]:
        click.echo(f"  {label} {item}", err=True)
    if len(items) > MAX_LISTED_ERRORS:
        click.echo(f"  ... and {len(items) - MAX_LISTED_ERRORS} more", err=True)


def _problems(items: list[InputError]) -> list[dict[str, Any]]:
    return [{"line": item.line, "reason": item.reason} for item in items]


def _summary(reports: list[ImportReport], role: Role) -> dict[str, Any]:
    """The ``--json`` summary: totals, and per file its counts, rejected lines and warnings."""
    files = [
        {
            "path": report.path,
            "new": report.new,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "errors": _problems(report.errors),
            "warnings": _problems(report.warnings),
            "failure": report.failure,
        }
        for report in reports
    ]
    totals = {
        "new": sum(report.new for report in reports),
        "unchanged": sum(report.unchanged for report in reports),
        "rejected": sum(report.rejected for report in reports),
    }
    return {"role": role, **totals, "files": files}


def _run_import(
    app: App,
    files: tuple[Path, ...],
    role: Role,
    strict: bool,
    *,
    fmt: str | None,
    fields: FieldMap,
    as_json: bool,
) -> None:
    settings = load_settings()
    reports: list[ImportReport] = []
    failure: str | None = None
    with app.engine() as engine:
        for path in files:
            size = path.stat().st_size if path.is_file() else 0
            with app.progress(str(path), 0 if as_json else size) as update:
                report = import_file(engine, path, role, settings, update, fmt=fmt, fields=fields)
            reports.append(report)
            if as_json:
                _list_problems(report.errors, "rejected", always=True, app=app)
            else:
                _echo_import(app, report)
            if report.failure is not None:
                failure = report.failure
                break
    if as_json:
        echo_json(_summary(reports, role))
    if failure is not None:
        raise click.ClickException(failure)
    if strict and any(report.rejected for report in reports):
        sys.exit(2)


def _field_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--format`` and the ``--*-field`` options: which fields of the file hold what."""
    for name, what in reversed(
        (
            ("url", "the URL"),
            ("text", "the article text"),
            ("html", "the raw HTML"),
            ("title", "the headline"),
            ("published", "the published date"),
        )
    ):
        function = click.option(
            f"--{name}-field",
            default=name,
            show_default=True,
            metavar="NAME",
            help=f"The key or CSV column holding {what}.",
        )(function)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(IMPORT_FORMATS),
        help="jsonl, csv or tsv [default: .csv(.gz) is csv, .tsv(.gz) tsv, else jsonl].",
    )(function)


def _import_group(role: Role, group_help: str, what: str) -> click.Group:
    """The ``sources`` or ``pages`` group and its ``import`` command, one definition for both."""
    group = click.Group(role + "s", help=group_help)

    @group.command("import")
    @click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
    @click.option("--strict", is_flag=True, help="Exit with status 2 if any line was rejected.")
    @_field_options
    @json_option
    @click.pass_obj
    def import_(
        app: App,
        files: tuple[Path, ...],
        strict: bool,
        fmt: str | None,
        url_field: str,
        text_field: str,
        html_field: str,
        title_field: str,
        published_field: str,
        as_json: bool,
    ) -> None:
        fields = FieldMap(url_field, text_field, html_field, title_field, published_field)
        _run_import(app, files, role, strict, fmt=fmt, fields=fields, as_json=as_json)

    import_.help = (
        f"Import {what} from FILES (JSON Lines, or CSV/TSV with a header row): url, and text "
        "or html; optional title, published.\n\n"
        "Idempotent: the same URL with the same text adds nothing. Bad lines are listed with "
        "their line numbers and skipped."
    )
    return group


sources = _import_group("source", "Original articles (the works that get copied).", "sources")
pages = _import_group("page", "Suspect pages (possible copies).", "suspect pages")
