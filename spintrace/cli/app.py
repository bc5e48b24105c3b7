"""The ``spintrace`` click group and what every command shares: the database context, settings,
progress display and the error handling that turns a user's mistake into one line.

Every user mistake (bad file, bad URL, unmigrated database) ends as one ``Error:`` line on
stderr and a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from spintrace._version import __version__
from spintrace.config import (
    DB_ENV_VAR,
    DEFAULT_DB_URL,
    Settings,
    check_environment,
    resolve_settings,
)
from spintrace.db.engine import database_url, open_engine, sqlite_path
from spintrace.db.migrate import require_current_schema
from spintrace.db.writes import driver_message
from spintrace.errors import SpintraceError

__all__ = [
    "MAX_LISTED_ERRORS",
    "SETTING_FLAGS",
    "App",
    "cli",
    "echo_json",
    "json_option",
    "load_settings",
    "progress",
    "silence_stdout",
]

# How many rejected lines an import lists before it only counts them.
MAX_LISTED_ERRORS = 20


# Commands that never open the database given by --db (the demo makes its own).
_WITHOUT_DATABASE = frozenset({"demo"})


def _db_after_verb(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """``--db`` given after the verb: it overrides the one before it and ``$SPINTRACE_DB``."""
    if value is not None:
        ctx.ensure_object(App).db_url = database_url(value)


def _accept_db_after_verb(command: click.Command) -> None:
    """Give ``command`` (and every command of a group) its own ``--db``, as sqlite-utils
    users type it: ``spintrace export matches --db x.db``."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_db_after_verb(sub)
        return
    if any("--db" in param.opts for param in command.params):
        return
    command.params.append(
        click.Option(
            ["--db"],
            metavar="URL",
            expose_value=False,
            callback=_db_after_verb,
            help="The database (overrides the --db before the verb and $SPINTRACE_DB).",
        )
    )


class _Group(click.Group):
    """Turns spintrace's own errors into one clear line and exit status 1; every command that
    uses the database also takes ``--db`` after its name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if (name or cmd.name) not in _WITHOUT_DATABASE:
            _accept_db_after_verb(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpintraceError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            raise click.ClickException(f"database error: {driver_message(exc)}") from None
        except BrokenPipeError:
            if not _stdout_closed():
                raise
            # The reader went away (``spintrace export ... | head -1``): not an error.
            silence_stdout()
            ctx.exit(0)
        except OSError as exc:
            # The machine refused (disk full, unreadable file, missing folder, permissions):
            # the user's to fix, so one line; -v shows where it happened.
            if logging.getLogger().isEnabledFor(logging.INFO):
                logging.getLogger(__name__).exception("the operating system refused")
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc.__class__.__name__}") from None


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader went away (poll reports an error on it)."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fileno, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that writing or flushing to a closed pipe is quiet."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # stdout replaced in-process: nothing to silence
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


@dataclass
class App:
    """The context every command receives (``@click.pass_obj``): the database URL, and whether
    ``-q`` silenced progress and informational lines."""

    db_url: str = DEFAULT_DB_URL
    quiet: bool = False

    def info(self, message: str, *, err: bool = False) -> None:
        """An informational line (a summary, a count): not shown under ``-q``."""
        if not self.quiet:
            click.echo(message, err=err)

    def progress(self, label: str, length: int) -> AbstractContextManager[Callable[[int], None]]:
        """:func:`progress`, or nothing under ``-q``."""
        return progress(label, 0 if self.quiet else length)

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

    def queue_engine(self, what: str) -> AbstractContextManager[Engine]:
        """:meth:`engine` for a command that queues work or runs it from the queue (``what``,
        as the user typed it): a PostgreSQL database, checked before it is opened, so that a
        missing SQLite file's hint to create it is never shown."""
        from spintrace.jobs.queue import require_postgresql

        require_postgresql(self.db_url, what)
        return self.engine()

    def refuse_database_file(self, output: Path) -> None:
        """A user error if ``output`` is the SQLite database being read, or one of its journals
        (through a symbolic link too)."""
        database = sqlite_path(self.db_url)
        if database is None:
            return
        for base in {database, database.resolve()}:
            for suffix in ("", "-wal", "-shm", "-journal"):
                journal = base.with_name(base.name + suffix)
                if _same_file(output, journal):
                    raise click.ClickException(
                        f"{output} is the database this command reads; write somewhere else"
                    )


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


F = TypeVar("F", bound=Callable[..., Any])


def json_option(function: F) -> F:
    """``--json``: the command prints one JSON summary on stdout instead of its lines."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object summing up the run on stdout (and nothing else there).",
    )(function)


def _plain(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)  # paths, and anything else JSON has no type for


def echo_json(summary: dict[str, Any]) -> None:
    """Print ``summary`` as one line of JSON on stdout (dates as ISO 8601, paths as text)."""
    click.echo(json.dumps(summary, ensure_ascii=False, default=_plain))


# Where a command's setting flags (``match --threshold``) are kept: ``ctx.meta[SETTING_FLAGS]``,
# setting name -> value (spintrace.cli.settings.setting_options).
SETTING_FLAGS = "spintrace.setting_flags"


def load_settings() -> Settings:
    """The settings in effect: the running command's setting flags over ``SPINTRACE_*``
    variables over the settings file over the defaults (docs/settings.md)."""
    ctx = click.get_current_context(silent=True)
    return resolve_settings(ctx.meta.get(SETTING_FLAGS) if ctx else None).settings


@contextmanager
def progress(label: str, length: int) -> Iterator[Callable[[int], None]]:
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
    help=f"Database URL (SQLite or PostgreSQL), or a SQLite file's path (x.db); also "
    f"${DB_ENV_VAR}.",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print no progress and no summaries; errors only."
)
@click.version_option(__version__, prog_name="spintrace")
@click.pass_context
def cli(ctx: click.Context, db_url: str, verbose: int, quiet: bool) -> None:
    """Find scraped and synonym-spun copies of articles and link them to their sources."""
    check_environment()  # a misspelt SPINTRACE_* variable would be ignored without a word
    if quiet and verbose:
        raise click.UsageError("-q and -v do not go together: choose one")
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=logging.ERROR if quiet else level, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbose == 0:
        # trafilatura warns "discarding data: URL" for every page with no article (listings,
        # tag and service pages): routine on any site, and the commands count such pages.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
    ctx.obj = App(database_url(db_url), quiet=quiet)
