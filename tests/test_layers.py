"""Imports point down the layers of DESIGN.md; an upward import fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spintrace"

# Higher number = higher layer. A module may import only from its own layer or lower ones
# (and, inside one subpackage, from its siblings).
LAYERS: dict[str, int] = {
    "errors": 0,
    "records": 0,
    "config": 0,
    "jsonl": 0,
    "matcher": 1,
    "extract": 1,
    "indicators": 1,
    "db": 2,
    "crawler": 3,
    "ingest": 4,
    "captures": 4,
    "spinners": 4,
    "pipeline": 4,
    "reports": 4,
    "demo": 5,
    "demo_site": 5,
    "frames": 5,
    "cli": 5,
    "cli_crawl": 5,
    "cli_reports": 5,
    "__init__": 5,  # the package facade: spintrace.open() hands over to frames lazily
}

# Third-party packages a layer must never import (DESIGN.md: the matcher does no I/O).
FORBIDDEN = {
    "matcher": {"sqlalchemy", "alembic", "scrapy", "pandas", "trafilatura", "twisted"},
    "crawler": set(),
}
FORBIDDEN_INTERNAL = {"crawler": {"matcher"}}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


# Package attributes anything may import from ``spintrace`` itself (not modules).
ROOT_ATTRIBUTES = {"__version__"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("relative import (use absolute spintrace.* imports)")
            elif node.module == "spintrace":
                # `from spintrace import x` imports the module spintrace.x, or an attribute
                # of the package facade (layer 5) unless it is a plain one like __version__.
                for alias in node.names:
                    if alias.name not in ROOT_ATTRIBUTES:
                        is_module = (PACKAGE / f"{alias.name}.py").exists() or (
                            PACKAGE / alias.name
                        ).is_dir()
                        names.append(f"spintrace.{alias.name if is_module else '__init__'}")
            elif node.module:
                names.append(node.module)
    return names


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_migrations" not in p.parts)


def test_every_module_has_a_layer() -> None:
    missing = {_unit(p) for p in MODULES} - set(LAYERS)
    assert not missing, f"add these to LAYERS (and docs/architecture.md): {sorted(missing)}"


def _violations(path: Path, unit: str) -> list[str]:
    level = LAYERS[unit]
    problems = []
    for name in _imports(path):
        if name.startswith("relative import"):
            problems.append(name)
            continue
        top, _, rest = name.partition(".")
        if top == "spintrace" and rest:
            target = rest.split(".")[0]
            if target == unit:
                continue
            if LAYERS.get(target, 99) > level:
                problems.append(f"{name} (layer {LAYERS.get(target)} > {level})")
            if target in FORBIDDEN_INTERNAL.get(unit, set()):
                problems.append(f"{name} (forbidden for {unit})")
        elif top in FORBIDDEN.get(unit, set()):
            problems.append(f"{name} (third-party package forbidden in {unit})")
    return problems


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    problems = _violations(path, _unit(path))
    assert not problems, f"{path.name} imports upward: {problems}"


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from spintrace.cli import main\nimport sqlalchemy\nfrom spintrace.errors import X\n"
        "from spintrace import frames, __version__\nfrom . import sibling\n",
        encoding="utf-8",
    )
    problems = _violations(bad, "matcher")
    assert len(problems) == 4
    assert any("spintrace.cli" in p for p in problems)
    assert any("sqlalchemy" in p for p in problems)


def test_import_has_no_heavy_side_effects() -> None:
    import subprocess
    import sys

    code = (
        "import sys, spintrace; "
        "print(','.join(m for m in ('pandas', 'scrapy', 'twisted', 'sqlalchemy', 'trafilatura')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
