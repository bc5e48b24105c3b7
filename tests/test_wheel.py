"""The built wheel works on its own: migrations and demo data ship inside it.

Builds the wheel of this checkout, installs it into a fresh virtualenv (no system site-packages,
dependencies from the package index) and runs the CLI from a folder outside the repo, so the
repo's ``alembic/`` cannot stand in for the bundled one. Slow (a minute or more): ``-m "not slow"``
skips it.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import skip_or_fail

# One worker builds the wheel's virtualenv once for all its tests (with `pytest -n 2` each
# worker would otherwise build its own), and starts early (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 600


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path

    @property
    def spintrace(self) -> Path:
        return self.venv / "bin" / "spintrace"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _clean_env() -> dict[str, str]:
    """The environment minus anything that could point the installed copy back at the repo."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        and not key.startswith("SPINTRACE_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(
    args: list[str | Path], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\n"
        f"stderr:\n{result.stderr[-3000:]}"
    )


def _build_wheel(outdir: Path) -> Path:
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", outdir, ROOT]
    result = _run(build, cwd=ROOT, timeout=INSTALL_TIMEOUT)
    if result.returncode != 0:
        # Offline, the isolated build cannot fetch hatchling; build in this environment instead.
        if importlib.util.find_spec("hatchling") is None:
            pytest.fail(
                "isolated wheel build failed and hatchling is not installed for --no-isolation:\n"
                + _explain(result)
            )
        result = _run([*build, "--no-isolation"], cwd=ROOT, timeout=INSTALL_TIMEOUT)
    assert result.returncode == 0, _explain(result)
    wheels = sorted(outdir.glob("spintrace-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _offline(result: subprocess.CompletedProcess[str]) -> bool:
    text = (result.stdout + result.stderr).lower()
    return any(
        sign in text
        for sign in ("network is unreachable", "temporary failure in name resolution",
                     "connection refused", "max retries exceeded", "no matching distribution")
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, built and installed into a fresh virtualenv; a work folder outside the repo."""
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(ROOT)
    wheel = _build_wheel(base / "dist")
    venv = base / "venv"
    result = _run([sys.executable, "-m", "venv", venv], cwd=base)
    assert result.returncode == 0, _explain(result)
    result = _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel],
        cwd=base,
        timeout=INSTALL_TIMEOUT,
    )
    if result.returncode != 0 and _offline(result):
        # The dependencies come from the package index; without it there is nothing to test.
        skip_or_fail("the package index is unreachable: the wheel's dependencies cannot install")
    assert result.returncode == 0, _explain(result)
    workdir = base / "work"
    workdir.mkdir()
    return Installed(wheel=wheel, venv=venv, workdir=workdir)


def test_wheel_contains_migrations_and_demo_data(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    expected = {
        "spintrace/_migrations/alembic.ini",
        "spintrace/_migrations/alembic/env.py",
        "spintrace/_migrations/alembic/script.py.mako",
        "spintrace/demo/data/sources.jsonl",
        "spintrace/demo/data/pages.jsonl",
        "spintrace/demo/data/truth.csv",
    }
    assert expected <= names, sorted(expected - names)
    in_repo = {p.name for p in (ROOT / "alembic" / "versions").glob("*.py")}
    in_wheel = {
        Path(name).name
        for name in names
        if name.startswith("spintrace/_migrations/alembic/versions/") and name.endswith(".py")
    }
    assert in_repo
    assert in_wheel == in_repo
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_installed_copy_is_used_not_the_repo(installed: Installed) -> None:
    code = (
        "import spintrace, spintrace.db.migrate as m; "
        "print(spintrace.__file__); print(m.migrations_dir())"
    )
    result = _run([installed.python, "-c", code], cwd=installed.workdir)
    assert result.returncode == 0, _explain(result)
    package_file, scripts = result.stdout.splitlines()
    assert Path(package_file).is_relative_to(installed.venv)
    assert Path(scripts).is_relative_to(installed.venv)
    assert Path(scripts).parts[-2:] == ("_migrations", "alembic")


def test_db_upgrade_with_bundled_migrations(installed: Installed) -> None:
    path = installed.workdir / "x.db"
    url = f"sqlite:///{path}"
    result = _run([installed.spintrace, "--db", url, "db", "upgrade"], cwd=installed.workdir)
    assert result.returncode == 0, _explain(result)
    assert "upgraded from schema none" in result.stdout
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"documents", "sites", "matches", "alembic_version"} <= tables
    assert revision is not None

    again = _run([installed.spintrace, "--db", url, "db", "upgrade"], cwd=installed.workdir)
    assert again.returncode == 0, _explain(again)
    assert "up to date" in again.stdout


def test_demo_runs_from_the_wheel(installed: Installed) -> None:
    out = installed.workdir / "demo"
    result = _run([installed.spintrace, "demo", "-o", out], cwd=installed.workdir)
    assert result.returncode == 0, _explain(result)
    matches = out / "matches.csv"
    assert matches.is_file()
    with matches.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the demo linked no page"
    assert {"page_url", "source_url", "score", "containment", "spin_rate", "matched_at"} <= set(
        rows[0]
    )
    assert all(0.0 <= float(row["score"]) <= 1.0 for row in rows)
