"""Schema migrations with Alembic: the only way spintrace's tables are made or changed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from spintrace.db.engine import bulk_engine
from spintrace.errors import NotMigratedError

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migrations_dir",
    "require_current_schema",
    "upgrade",
]


def migrations_dir() -> Path:
    """The Alembic scripts: in the package when installed from a wheel, else in the repo."""
    package = Path(__file__).resolve().parent.parent
    bundled = package / "_migrations" / "alembic"
    if bundled.is_dir():
        return bundled
    return package.parent / "alembic"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic ``Config`` for the bundled migrations, bound to ``engine`` if given."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    """The newest migration this version of spintrace ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, ``None`` if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str | None) -> bool:
    if revision is None:
        return True
    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == revision for r in script.walk_revisions())


def _newer(engine: Engine, current: str) -> NotMigratedError:
    shown = engine.url.render_as_string(hide_password=True)
    return NotMigratedError(
        f"{shown} is at schema {current}, made by a newer spintrace than this one "
        f"(which knows up to {head_revision()}); upgrade spintrace to use it",
        url=shown,
    )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (idempotent)."""
    current = current_revision(engine)
    if current is not None and not _known(current):
        raise _newer(engine, current)
    migrating = bulk_engine(engine)  # a migration may run longer than db_statement_timeout
    try:
        command.upgrade(alembic_config(migrating), revision)
    finally:
        if migrating is not engine:
            migrating.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` removes every table)."""
    migrating = bulk_engine(engine)
    try:
        command.downgrade(alembic_config(migrating), revision)
    finally:
        if migrating is not engine:
            migrating.dispose()


def require_current_schema(engine: Engine) -> None:
    """Raise :class:`NotMigratedError` unless the database is at this version's head."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    shown = engine.url.render_as_string(hide_password=True)
    if current is not None and not _known(current):
        raise _newer(engine, current)
    if current is None:
        raise NotMigratedError(
            f"{shown} has no spintrace tables; run `spintrace --db {shown} db upgrade` first",
            url=shown,
        )
    raise NotMigratedError(
        f"{shown} is at schema {current}, this spintrace needs {head}; run "
        f"`spintrace --db {shown} db upgrade`",
        url=shown,
    )
