"""Alembic environment for spintrace; run by `spintrace db upgrade` and by developers."""

from __future__ import annotations

import re

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

from spintrace.db import Base  # every model, those outside models.py too

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x db=URL or set sqlalchemy.url")
    return url


# SQLite's full-text index of documents (migration 0013) is an FTS5 virtual table and its shadow
# tables, made by SQL rather than by the models: autogenerate must not propose to drop them.
_FTS_TABLE = re.compile(r"documents_fts(_data|_idx|_content|_docsize|_config)?")


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and _FTS_TABLE.fullmatch(name))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = create_engine(_url())
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by DROP + rename: with foreign keys enforced, the DROP
            # would cascade through every row that points at it. Only outside a transaction
            # does SQLite take this pragma; it is restored below for the pooled connection.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
