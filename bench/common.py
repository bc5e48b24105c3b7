"""What the benchmark scripts share: the header of their output, a previous release's CLI
measured in the same run, and a scratch PostgreSQL database."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from spintrace.cli import main; main()"]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def print_header(date_note: str = "") -> None:
    """The command, the date (UTC) and the commit: what makes the output pasteable into docs."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    print(f"command:  python {shlex.join(sys.argv)}")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{date_note}")
    print(f"commit:   {commit or 'unknown'}")


def cli_of(root: Path | None) -> list[str]:
    """The command that runs the CLI of this tree, or of the release extracted at ``root``."""
    if root is None:
        return CLI
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from spintrace.cli import main; main()"
    return [sys.executable, "-c", code]


def extract_release(ref: str, into: Path) -> Path:
    """``git archive`` of ``ref`` (this repository's history) unpacked into ``into``."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"error: git archive {ref}: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


@contextmanager
def scratch_pg(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database (its SQLAlchemy URL), dropped afterwards whatever happens."""
    import psycopg

    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"{prefix}_{time.time_ns()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
