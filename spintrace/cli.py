"""The ``spintrace`` command: a thin layer over the library (see docs/cli.md).

Every user mistake (bad file, bad URL, unmigrated database) ends as one ``Error:`` line on
stderr and a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from spintrace import __version__
from spintrace.config import DB_ENV_VAR, DEFAULT_DB_URL, Settings
from spintrace.db.engine import open_engine
from spintrace.db.migrate import current_revision, head_revision, require_current_schema, upgrade
from spintrace.errors import SpintraceError
from spintrace.ingest import ImportReport, import_file
from spintrace.pipeline import match_pages
from spintrace.records import Role
from spintrace.reports.export import EXPORT_FORMATS, EXPORT_TABLES, export_table, write_rows

__all__ = ["cli", "main"]

# How many rejected lines an import lists before it only counts them.
MAX_LISTED_ERRORS = 20


class _Group(click.Group):
    """Turns spintrace's own errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpintraceError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise click.ClickException(f"database error: {reason}") from None


@dataclass
class _App:
    db_url: str

    @contextmanager
    def engine(self, *, migrated: bool = True, create: bool = False) -> Iterator[Engine]:
        """The database, checked to be at this version's schema unless ``migrated`` is false;
        its connections are closed when the block ends."""
        engine = open_engine(self.db_url, create=create)
        try:
            if migrated:
                require_current_schema(engine)
            yield engine
        finally:
            engine.dispose()


def _settings() -> Settings:
    return Settings.from_env()


@contextmanager
def _progress(label: str, length: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on an interactive stderr; nothing when output is piped or logged."""
    if not sys.stderr.isatty() or length <= 0:
        yield lambda _position: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        last = 0

        def update(position: int) -> None:
            nonlocal last
            bar.update(position - last)
            last = position

        yield update


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar=DB_ENV_VAR,
    default=DEFAULT_DB_URL,
    show_default=True,
    metavar="URL",
    help=f"Database URL (SQLite or PostgreSQL); also ${DB_ENV_VAR}.",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(__version__, prog_name="spintrace")
@click.pass_context
def cli(ctx: click.Context, db_url: str, verbose: int) -> None:
    """Find scraped and synonym-spun copies of articles and link them to their sources."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = _App(db_url)


@cli.group()
def db() -> None:
    """Create or migrate the database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(app: _App) -> None:
    """Create the tables, or migrate them to this version (safe to repeat)."""
    with app.engine(migrated=False, create=True) as engine:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    if before == after:
        click.echo(f"database is up to date (schema {after})")
    else:
        click.echo(f"database upgraded from schema {before or 'none'} to {after}")


@db.command("current")
@click.pass_obj
def db_current(app: _App) -> None:
    """Print the database's schema revision and the one this spintrace needs."""
    with app.engine(migrated=False) as engine:
        click.echo(f"database: {current_revision(engine) or 'none'}; needed: {head_revision()}")


def _echo_import(report: ImportReport) -> None:
    click.echo(
        f"{report.path}: {report.new} new, {report.unchanged} unchanged, {report.rejected} rejected"
    )
    for error in report.errors[:MAX_LISTED_ERRORS]:
        click.echo(f"  rejected {error}", err=True)
    if len(report.errors) > MAX_LISTED_ERRORS:
        click.echo(f"  ... and {len(report.errors) - MAX_LISTED_ERRORS} more", err=True)


def _run_import(app: _App, files: tuple[Path, ...], role: Role, strict: bool) -> None:
    settings = _settings()
    rejected = 0
    with app.engine() as engine:
        for path in files:
            size = path.stat().st_size if path.is_file() else 0
            with _progress(str(path), size) as update:
                report = import_file(engine, path, role, settings, update)
            _echo_import(report)
            rejected += report.rejected
    if strict and rejected:
        sys.exit(2)


_files_argument = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
_strict_option = click.option(
    "--strict", is_flag=True, help="Exit with status 2 if any line was rejected."
)


@cli.group()
def sources() -> None:
    """Original articles (the works that get copied)."""


@sources.command("import")
@_files_argument
@_strict_option
@click.pass_obj
def sources_import(app: _App, files: tuple[Path, ...], strict: bool) -> None:
    """Import sources from JSONL FILES: url, and text or html; optional title, published.

    Idempotent: the same URL with the same text adds nothing. Bad lines are listed with their
    line numbers and skipped.
    """
    _run_import(app, files, "source", strict)


@cli.group()
def pages() -> None:
    """Suspect pages (possible copies)."""


@pages.command("import")
@_files_argument
@_strict_option
@click.pass_obj
def pages_import(app: _App, files: tuple[Path, ...], strict: bool) -> None:
    """Import suspect pages from JSONL FILES: url, and text or html; optional title, published.

    Idempotent: the same URL with the same text adds nothing. Bad lines are listed with their
    line numbers and skipped.
    """
    _run_import(app, files, "page", strict)


def _match_progress() -> Callable[[int, int], None]:
    """A page counter on an interactive stderr, updated in place."""
    if not sys.stderr.isatty():
        return lambda _done, _total: None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\rmatching pages: {done}/{total}", nl=False, err=True)
        if end:
            click.echo("", err=True)

    return show


@cli.command()
@click.pass_obj
def match(app: _App) -> None:
    """Link every page not yet matched to the source it copies."""
    settings = _settings()
    with app.engine() as engine:
        report = match_pages(engine, settings, _match_progress())
    click.echo(
        f"checked {report.checked} pages against {report.sources} sources: "
        f"{report.linked} linked, {report.unlinked} not linked, {report.too_short} too short "
        f"(under {settings.min_page_tokens} words)"
    )
    click.echo(
        f"indexed {report.indexed} new sources in {report.index_seconds:.1f} s; matched "
        f"{report.checked} pages in {report.match_seconds:.1f} s "
        f"({report.pages_per_second:.0f} pages/s); learned from {report.learned_from} new links"
    )


@cli.group()
def spinners() -> None:
    """Spinner substitutions learned from accepted matches."""


@spinners.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also list pairs not yet confirmed.")
@click.option("--site", metavar="DOMAIN", help="Only pairs used by this site's pages.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many pairs.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", *EXPORT_FORMATS)),
    default="table",
    show_default=True,
)
@click.pass_obj
def spinners_list(
    app: _App, include_all: bool, site: str | None, limit: int | None, fmt: str
) -> None:
    """List learned substitutions (spun -> original), most frequent first.

    A pair is confirmed, and used by later matching, once a thesaurus links a word inside it
    or it was seen in two or more matches; --all shows the others too.
    """
    from itertools import islice

    from spintrace.spinners import iter_learned

    with app.engine() as engine:
        rows = list(islice(iter_learned(engine, include_unconfirmed=include_all, site=site), limit))
    if fmt != "table":
        write_rows([asdict(row) for row in rows], fmt, sys.stdout)
        return
    if not rows:
        click.echo("no learned substitutions yet: run `spintrace match` on spun copies first")
        return
    width = max(len(row.spun) for row in rows)
    for row in rows:
        mark = "" if row.confirmed else "  (unconfirmed)"
        relation = row.relation or "recurring"
        click.echo(
            f"{row.spun:<{width}} -> {row.original}  [{row.pairs} matches, {relation}]"
            f"  {row.sites}{mark}"
        )


@cli.command("export")
@click.argument("table", type=click.Choice(EXPORT_TABLES))
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write here instead of stdout."
)
@click.pass_obj
def export(app: _App, table: str, fmt: str, output: Path | None) -> None:
    """Export a table (matches, pages, sources, evidence, sites, ...) as CSV, JSON or JSONL."""
    with app.engine() as engine:
        if output is None:
            export_table(engine, table, fmt, sys.stdout)
            return
        try:
            handle: IO[str] = output.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        with handle:
            count = export_table(engine, table, fmt, handle)
        click.echo(f"wrote {count} {table} to {output}", err=True)


@cli.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("spintrace-demo"),
    show_default=True,
    help="Folder for the demo database, crawl settings and matches.csv.",
)
def demo(output: Path) -> None:
    """Crawl bundled demo sites on loopback, match and export (nothing leaves this machine).

    Serves publisher sites and two content farms built from the bundled public-domain demo
    articles on 127.0.0.1, crawls them with `spintrace crawl`, matches the pages to the
    sources, writes matches.csv and compares the links with the demo's known truth.
    """
    from spintrace.demo import run_demo

    click.echo("serving the demo sites on 127.0.0.1 (nothing leaves this machine)...")
    result = run_demo(output, _settings())
    for run in result.crawls:
        hosts = ", ".join(url.split("/")[2] for url in run.urls)
        click.echo(f"crawl --as {run.role}: {hosts}")
        for line in run.output:
            click.echo(f"  {line}")
    assert result.match is not None
    click.echo(
        f"matched {result.match.checked} pages against {result.match.sources} sources: "
        f"{result.match.linked} linked"
    )
    click.echo("")
    for row in result.links:
        click.echo(
            f"  {row['page_url']}\n    copies {row['source_url']}\n"
            f"    score {float(row['score']):.2f}, spin rate {float(row['spin_rate']):.0%}, "
            f"{row['substitutions']} substitutions, {row['passages']} aligned passages"
        )
    click.echo("")
    click.echo(
        f"{result.found} of {result.copies} copies linked to their true source, "
        f"{result.wrong} to a wrong source, {result.false_links} false links"
    )
    if result.substitutions:
        click.echo("")
        click.echo(f"spinner substitutions learned (top {len(result.substitutions)}):")
        for pair in result.substitutions:
            click.echo(
                f"  {pair.spun} -> {pair.original} "
                f"[{pair.pairs} matches, {pair.relation or 'recurring'}] {pair.sites}"
            )
    if any(result.tracking.values()):
        click.echo("")
        click.echo("tracking IDs per farm:")
        for domain, ids in result.tracking.items():
            click.echo(f"  {domain}: {', '.join(ids) or 'none'}")
    click.echo("")
    click.echo(f"database: {result.database_url}")
    click.echo(f"matches:  {output / 'matches.csv'}")
    click.echo(f"done in {result.seconds:.1f} s")


# Command groups that live in their own modules register themselves on import.
from spintrace import cli_crawl, cli_reports  # noqa: E402, F401


def main() -> None:
    """Entry point of the ``spintrace`` console script."""
    cli(prog_name="spintrace")
