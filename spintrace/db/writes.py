"""Writing under concurrency, the same way on SQLite and PostgreSQL.

Every stage may run in several processes at once (two ``match`` runs, a crawl beside an
import). The rules for that live here, once:

- a batch that loses a unique-key race to another writer is retried with fresh rows
  (:func:`retry_on_conflict`): the other writer made progress, so the loop ends;
- rows a writer is working on are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
  (:func:`claim`); SQLite serialises writers, so there is nothing to claim;
- an INSERT that meets an existing row does nothing (:func:`insert_ignoring_conflicts`);
- a database's refusal is shown as its first line (:func:`driver_message`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, Select, insert
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from spintrace.errors import DatabaseError

__all__ = [
    "MAX_CONFLICTS",
    "claim",
    "consistent_transaction",
    "driver_message",
    "insert_ignoring_conflicts",
    "insert_rows",
    "is_postgresql",
    "is_transient",
    "lock_transaction",
    "retry_on_conflict",
    "without_statement_timeout",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_CONFLICTS = 100
"""Batches lost in a row to a concurrent writer before giving up (each loss means the other
writer progressed, so this is only reached when something else is wrong)."""


def driver_message(exc: DBAPIError) -> str:
    """The first line of what the database driver said, without SQLAlchemy's statement dump."""
    text = str(exc.orig).strip() if exc.orig is not None else str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def is_transient(exc: DBAPIError) -> bool:
    """Whether the database gave up on the transaction for a reason that a retry removes: a
    deadlock or a serialisation failure (SQLSTATE class 40) with a concurrent writer."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("40")


def is_postgresql(session: Session) -> bool:
    """Whether ``session`` talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_conflicts(session: Session, model: type[Any]) -> Any:
    """An INSERT into ``model``'s table that does nothing on a unique conflict."""
    dialect = postgresql if is_postgresql(session) else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


def lock_transaction(session: Session, key: int) -> None:
    """Hold the advisory lock ``key`` until the transaction ends (PostgreSQL; SQLite already
    runs one writer at a time)."""
    if is_postgresql(session):
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def consistent_transaction(session: Session) -> None:
    """Make the transaction just begun read one consistent state and exclude other writers'
    changes to what it reads: REPEATABLE READ on PostgreSQL (call it first in the
    transaction); on SQLite, the write lock taken now, so no other writer commits until it ends
    (SQLite runs one writer at a time)."""
    if is_postgresql(session):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        session.execute(sql_text("DELETE FROM index_segments WHERE 0"))  # takes the write lock


def without_statement_timeout(session: Session) -> None:
    """Lift ``db_statement_timeout`` until the transaction ends, for long bulk work such as an
    index merge (PostgreSQL; SQLite has no statement timeout)."""
    if is_postgresql(session):
        session.execute(sql_text("SET LOCAL statement_timeout = 0"))


def insert_rows(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], *, ignore_conflicts: bool
) -> None:
    """Insert many ``rows`` into ``model``'s table, optionally doing nothing for rows that
    meet an existing unique key.

    PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT (ON CONFLICT DO
    NOTHING). An executemany sends one statement per row with psycopg, and multi-row VALUES
    statements spend their time in the driver's parsing of the statement: 1.6M band rows took
    87 s and 150 s those ways, a few seconds by COPY (bench/scale.py at 100k sources).
    Elsewhere: multi-row INSERT statements (SQLAlchemy's "insertmanyvalues", which RETURNING
    turns on).
    """
    if not rows:
        return
    table = model.__table__
    if not is_postgresql(session):
        statement = insert_ignoring_conflicts(session, model) if ignore_conflicts else insert(model)
        key = next(iter(table.primary_key.columns))
        session.execute(statement.returning(key), rows).all()
        return
    columns = list(rows[0])
    names = ", ".join(f'"{name}"' for name in columns)
    staging = f"_staging_{table.name}"
    connection = session.connection()
    # Statements through SQLAlchemy, so a unique clash is an IntegrityError (retry_on_conflict)
    # and a refusal a DBAPIError (one line for the user); the COPY's own errors are wrapped.
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
    )
    statement = f'COPY "{staging}" ({names}) FROM STDIN'
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from None
    finally:
        cursor.close()
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}"{conflict}'
    )
    connection.exec_driver_sql(f'TRUNCATE "{staging}"')


def claim(session: Session, query: Select[Any], of: Any) -> Select[Any]:
    """``query`` locking the rows of ``of`` it returns, skipping rows another run holds
    (PostgreSQL): concurrent runs each take a different batch."""
    if is_postgresql(session):
        return query.with_for_update(skip_locked=True, of=of)
    return query


def retry_on_conflict(
    engine: Engine, step: Callable[[Session], T | None], *, what: str
) -> Iterator[T]:
    """Run ``step`` in a new transaction again and again until it returns ``None``; yield what
    each committed transaction returned.

    A transaction that fails on a unique key (another process wrote some of the same rows
    first) is rolled back and run again: ``step`` must read its work afresh each time. After
    :data:`MAX_CONFLICTS` conflicts in a row, :class:`DatabaseError` names ``what``.
    """
    conflicts = 0
    while True:
        try:
            with Session(engine) as session, session.begin():
                result = step(session)
        except DBAPIError as exc:
            if not isinstance(exc, IntegrityError) and not is_transient(exc):
                raise
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise DatabaseError(
                    f"{what} keeps conflicting with another writer ({driver_message(exc)})"
                ) from None
            logger.info("%s: another process wrote the same rows first; continuing", what)
            continue
        if result is None:
            return
        conflicts = 0
        yield result
