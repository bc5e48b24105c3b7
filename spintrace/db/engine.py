"""Opening a database: URL checks, SQLite pragmas, and one-sentence errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from spintrace.config import Settings
from spintrace.db.writes import driver_message
from spintrace.errors import DatabaseError

__all__ = [
    "bulk_engine",
    "database_url",
    "open_engine",
    "sqlite_path",
]


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


# TCP keepalives: a server that stops answering mid-statement is noticed after about a minute
# (30 s idle + 3 probes 10 s apart) instead of never; tcp_user_timeout bounds unacknowledged
# writes the same way.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


def _options(url: URL, statement_timeout: int | None) -> str:
    """The libpq ``options`` string: the user's own (the URL's ``options``, else
    ``PGOPTIONS``) first, then the statement timeout, unless the user set one and this is not
    bulk work (``-c`` settings later in the string win)."""
    value = url.query.get("options")
    own = (value if isinstance(value, str) else " ".join(value or ())) or os.environ.get(
        "PGOPTIONS", ""
    )
    parts = [own] if own else []
    if statement_timeout is not None:  # bulk work: always the last word
        parts.append(f"-c statement_timeout={statement_timeout * 1000}")
    elif "statement_timeout" not in own:
        seconds = Settings.from_env().db_statement_timeout
        parts.append(f"-c statement_timeout={seconds * 1000}")
    return " ".join(parts)


def _connect_args(url: URL, *, statement_timeout: int | None = None) -> dict[str, Any]:
    """Driver arguments of a PostgreSQL connection: connect and statement timeouts (settings
    ``db_connect_timeout``, ``db_statement_timeout``) and keepalives, around what the URL and
    ``PGOPTIONS`` already set (those win, but for bulk work's statement timeout). Nothing for
    SQLite."""
    if url.get_backend_name() != "postgresql":
        return {}
    args: dict[str, Any] = {
        "connect_timeout": Settings.from_env().db_connect_timeout,
        **_KEEPALIVES,
    }
    args = {key: value for key, value in args.items() if key not in url.query}
    args["options"] = _options(url, statement_timeout)
    return args


def bulk_engine(engine: Engine) -> Engine:
    """An engine for long bulk work (migrations) whose statements have no time limit: on
    PostgreSQL a new engine (dispose of it after use), elsewhere ``engine`` itself (SQLite has
    no statement timeout, and an in-memory database exists only on its own engine)."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url, pool_pre_ping=True, connect_args=_connect_args(engine.url, statement_timeout=0)
    )


_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def database_url(value: str) -> str:
    """``value`` as a database URL: a plain path to a SQLite file (``x.db``, ``data/x.sqlite``,
    ``~/y.sqlite3``: no ``://`` and a SQLite file suffix) becomes ``sqlite:///`` and its
    absolute path, as sqlite-utils users type it; anything else is returned as it is."""
    if "://" in value or not value.strip().lower().endswith(_SQLITE_SUFFIXES):
        return value
    return "sqlite:///" + str(Path(value.strip()).expanduser().resolve())


def open_engine(url: str, *, create: bool = False) -> Engine:
    """Create an engine for ``url`` (or a plain SQLite path, :func:`database_url`) and check
    that the database can be reached.

    SQLite gets WAL mode, foreign keys and a busy timeout on every connection. Unless ``create``
    is true, a SQLite file that does not exist is an error rather than silently created empty.
    Every failure is a :class:`DatabaseError` whose message says what to fix.
    """
    url = database_url(url)
    shown = _redact(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseError(
            f"{url!r} is not a database URL; use e.g. sqlite:///spintrace.db or "
            "postgresql+psycopg://user@host/dbname",
            url=url,
        ) from None
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        try:
            import psycopg2  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
        except ImportError:
            parsed = parsed.set(drivername="postgresql+psycopg")
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.is_dir():
            raise DatabaseError(
                f"cannot open {shown}: folder {path.parent} does not exist", url=url
            )
        if not create and not path.exists():
            raise DatabaseError(
                f"no database at {path}; create it with `spintrace --db {shown} db upgrade`",
                url=url,
            )
    try:
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=_connect_args(parsed))
    except NoSuchModuleError:
        raise DatabaseError(
            f"{shown}: unknown database kind {parsed.drivername!r}; spintrace supports "
            "sqlite:/// and postgresql+psycopg://",
            url=url,
        ) from None
    except (ImportError, ArgumentError) as exc:
        raise DatabaseError(f"{shown}: cannot use this database URL ({exc})", url=url) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as connection:
            inspect(connection).get_table_names()
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseError(f"cannot connect to {shown}: {driver_message(exc)}", url=url) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(
            f"cannot use {shown}: {exc.__class__.__name__}: {exc}", url=url
        ) from None
    return engine
