"""Every command, setting and table is documented; the README keeps its promises."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from spintrace.cli import cli
from spintrace.config import SETTINGS_FILE, describe_settings
from spintrace.db.models import Base

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands(group: click.Group, prefix: str = "spintrace") -> list[str]:
    names = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            names.extend(_commands(command, path))
        else:
            names.append(path)
    return names


@pytest.mark.parametrize("command", _commands(cli))
def test_every_command_is_documented(command: str) -> None:
    assert f"## {command}" in (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "env", "default", "help_"), describe_settings())
def test_every_setting_is_documented(name: str, env: str, default: object, help_: str) -> None:
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"{name} is missing from docs/settings.md"
    assert f"`{env}`" in row and f"`{default}`" in row


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_every_table_is_documented(table: str) -> None:
    assert f"| `{table}` |" in (DOCS / "data-model.md").read_text(encoding="utf-8")


def test_readme_has_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = readme.index("<!-- test-command -->")
    test_block = re.search(r"```sh\n(.+?)\n```", readme[marker:], re.S)
    assert test_block is not None and "pytest" in test_block.group(1)
    blocks_before = re.findall(r"```sh\n(.+?)\n```", readme[:marker], re.S)
    assert any("spintrace demo" in block for block in blocks_before)
    assert "test-command" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_documented_links_exist() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} links to missing {target}"


def _resolves(dotted: str) -> bool:
    """Whether ``spintrace.a.b`` names a module, or an attribute of one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_documented_module_paths_exist() -> None:
    """A doc, bench or config string that names a module or a file of the package names one
    that exists (the layout moves; the docs move with it)."""
    pages = [ROOT / "README.md", ROOT / "pyproject.toml", *DOCS.glob("*.md")]
    pages += [*(ROOT / "bench").glob("*.md"), *(ROOT / "bench").glob("*.py")]
    missing = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for path in set(re.findall(r"\bspintrace/[\w/.-]*\w", text)):
            # _migrations/ exists in the wheel only; spintrace/VERSION is the user agent.
            if path.startswith("spintrace/_migrations") or path == "spintrace/VERSION":
                continue
            if not (ROOT / path).exists():
                missing.append(f"{page.name}: {path}")
        for dotted in set(re.findall(r"\bspintrace(?:\.[A-Za-z_]\w*)+", text)):
            # The settings file (spintrace.config.SETTINGS_FILE) is a file name, not a module.
            if dotted != SETTINGS_FILE and not _resolves(dotted):
                missing.append(f"{page.name}: {dotted}")
    assert not missing, missing
