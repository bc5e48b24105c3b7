"""Shared fixtures: fresh SQLite and PostgreSQL databases, the dev set, and the CLI runner.

PostgreSQL tests need a server (``SPINTRACE_TEST_PG_URL``, by default the local one). Without it
they skip, except when ``SPINTRACE_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then a missing
server fails the test instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text

from spintrace.db import open_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
# The baselines spintrace is measured against (bench/baselines.py) are not part of the package.
sys.path.insert(0, str(ROOT / "bench"))
SHARED_DATA = ROOT.parent / "shared" / "data"
DEV_SET = SHARED_DATA / "dev"
PG_ADMIN_URL = os.environ.get(
    "SPINTRACE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("SPINTRACE_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when CI requires every service to be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SPINTRACE_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _pg_admin() -> Engine:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any failure to reach the server means "no PostgreSQL here"
        engine.dispose()
        skip_or_fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
    return engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    yield from _pg_database()


@pytest.fixture
def second_pg_url() -> Iterator[str]:
    """Another fresh PostgreSQL database (a reference run beside ``pg_url``'s)."""
    yield from _pg_database()


def _pg_database() -> Iterator[str]:
    admin = _pg_admin()
    name = f"spintrace_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def migrated(any_db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head (SQLite and PostgreSQL)."""
    engine = open_engine(any_db_url, create=True)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def dev_set() -> Path:
    """The shared dev set; skipped with a reason where it is absent (a user's fresh clone)."""
    if not (DEV_SET / "truth.csv").is_file():
        pytest.skip(f"dev set not found at {DEV_SET} (it lives in the developers' shared/)")
    return DEV_SET


# Modules whose tests run first: their long installs then overlap the rest of the suite on the
# other workers instead of being its tail (`pytest -n 2 --dist loadgroup`, pyproject.toml).
_FIRST = ("test_wheel.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in _FIRST)  # stable: the rest keep order
