"""The job queue: a procrastinate app on the spintrace database itself (PostgreSQL).

Workers anywhere reach the same PostgreSQL database; it stores the data and carries the work.
procrastinate's tables (``procrastinate_jobs`` and friends) live beside spintrace's and are
created on first use, once, under an advisory lock (:func:`ensure_schema`). On SQLite there is
no queue: every command runs in its own process, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from procrastinate import App, PsycopgConnector
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, make_url
from sqlalchemy import text as sql_text
from sqlalchemy.exc import ArgumentError

from spintrace.config import DB_ENV_VAR
from spintrace.errors import ConfigError
from spintrace.jobs.batches import TASK_PREFIX
from spintrace.jobs.tasks import blueprint
from spintrace.jobs.watching import watch_blueprint

__all__ = [
    "QUEUES",
    "FailedJob",
    "JobCounts",
    "ensure_schema",
    "failed_jobs",
    "job_counts",
    "make_app",
    "open_app",
    "require_postgresql",
]

QUEUES = ("crawl", "process", "index", "match", "watch")
"""The queues, by kind of work: a worker may take only some (``spintrace worker --queue``)."""

_SCHEMA_LOCK = 0x5350494E54524143  # "SPINTRAC": one process creates the queue's tables


def require_postgresql(database: Engine | str, what: str = "--queue") -> None:
    """A :class:`ConfigError` unless ``database`` (an engine, or a URL: checked before it is
    opened, so that a missing SQLite file's hint to create it is never shown) is PostgreSQL:
    queues live there. A URL that cannot be parsed, or of a kind spintrace does not know
    (``postgres://``), passes: opening it says what is wrong."""
    if isinstance(database, Engine):
        backend = database.dialect.name
    else:
        try:
            backend = make_url(database).get_backend_name()
        except (ArgumentError, ValueError):
            return
    if backend != "sqlite":
        return
    hint = "; or leave out --queue to do the work here" if what.endswith("--queue") else ""
    raise ConfigError(
        f"{what} needs a PostgreSQL database, which workers on any machine share: give one "
        f"with --db or ${DB_ENV_VAR}, e.g. postgresql+psycopg://user@host/spintrace{hint}"
    )


def conninfo(engine: Engine) -> str:
    """The libpq connection string of ``engine``'s database (for psycopg, procrastinate)."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(engine: Engine) -> None:
    """Create procrastinate's tables in the database unless they exist."""
    require_postgresql(engine)
    with engine.begin() as connection:
        connection.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        exists = connection.scalar(sql_text("SELECT to_regclass('procrastinate_jobs')"))
        if exists is None:
            # Through the driver without parameters: the script's '%' are not placeholders.
            cursor = connection.connection.cursor()
            try:
                cursor.execute(SchemaManager.get_schema())
            finally:
                cursor.close()


def make_app(engine: Engine) -> App:
    """A procrastinate app on ``engine``'s database, knowing every spintrace task."""
    # A small pool: a worker runs one job at a time (psycopg's default keeps 4 connections).
    connector = PsycopgConnector(conninfo=conninfo(engine), min_size=1, max_size=3)
    app = App(connector=connector)
    app.add_tasks_from(blueprint, namespace=TASK_PREFIX.rstrip(":"))
    app.add_tasks_from(watch_blueprint, namespace=TASK_PREFIX.rstrip(":"))
    return app


@contextmanager
def open_app(engine: Engine) -> Iterator[App]:
    """The app, open for deferring jobs from synchronous code (the CLI)."""
    ensure_schema(engine)
    app = make_app(engine)
    with app.open():
        yield app


@dataclass(frozen=True)
class JobCounts:
    """Jobs of one task by status (procrastinate's: todo, doing, succeeded, failed, ...)."""

    task: str
    counts: dict[str, int]


@dataclass(frozen=True)
class FailedJob:
    """A job that failed for good: what it was, how often it ran, and what it was given."""

    id: int
    task: str
    attempts: int
    args: str


def failed_jobs(engine: Engine, limit: int = 50) -> list[FailedJob]:
    """The most recent failed jobs, newest first (their arguments shortened)."""
    ensure_schema(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sql_text(
                "SELECT id, task_name, attempts, args::text FROM procrastinate_jobs "
                "WHERE status = 'failed' ORDER BY id DESC LIMIT :n"
            ),
            {"n": limit},
        ).all()
    return [
        FailedJob(int(i), str(task).removeprefix(TASK_PREFIX), int(n), _short(str(args)))
        for i, task, n, args in rows
    ]


def _short(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def job_counts(engine: Engine) -> list[JobCounts]:
    """Every task's jobs counted by status, tasks in name order."""
    ensure_schema(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sql_text(
                "SELECT task_name, status::text, count(*) FROM procrastinate_jobs "
                "GROUP BY task_name, status ORDER BY task_name"
            )
        ).all()
    tasks: dict[str, dict[str, int]] = {}
    for task, status, count in rows:
        tasks.setdefault(str(task).removeprefix(TASK_PREFIX), {})[str(status)] = int(count)
    return [JobCounts(task, counts) for task, counts in tasks.items()]
