"""``spintrace db``: create, migrate and inspect the schema."""

from __future__ import annotations

import click

from spintrace.cli.app import App
from spintrace.db.migrate import current_revision, head_revision, upgrade

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create or migrate the database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(app: App) -> None:
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
def db_current(app: App) -> None:
    """Print the database's schema revision and the one this spintrace needs."""
    with app.engine(migrated=False) as engine:
        click.echo(f"database: {current_revision(engine) or 'none'}; needed: {head_revision()}")
