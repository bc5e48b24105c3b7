"""The house rules of DESIGN.md "Shape": who may import whom, no import cycle, small modules.

The package is one package per stage over a small core:

- the core (``errors``, ``records``, ``config``, ``_version``) imports nothing of ours but
  itself; ``db/`` and ``matcher/`` import only the core;
- the stages ``crawler/``, ``ingest/``, ``linking/`` and ``reports/`` import only the core,
  ``db/`` and (linking alone) ``matcher/``; they never import each other and hand work over
  through the database;
- ``watch/`` (monitoring rounds) drives the stages; ``jobs/`` (the queued work of many
  workers) drives the stages and the watch rounds, like ``demo/``; only ``cli`` imports
  ``jobs/``, and only ``cli``, ``demo/`` and ``jobs/`` import ``watch/``;
- ``cli/`` and ``demo/`` may import anything, and nothing imports them (but ``cli`` runs the
  demo, and ``python -m spintrace`` runs ``cli``);
- the facade ``spintrace/__init__.py`` hands ``spintrace.open()`` over to ``reports``.

An upward import, a cycle between any two modules (imports inside functions count too), a
heavy library in the wrong room or a module over 500 lines fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "spintrace"

CORE = frozenset({"errors", "records", "config", "_version"})
STAGES = frozenset({"crawler", "ingest", "linking", "reports"})

# What each room may import from spintrace (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "db": frozenset({"core"}),
    "matcher": frozenset({"core"}),
    "crawler": frozenset({"core", "db"}),
    "ingest": frozenset({"core", "db"}),
    "linking": frozenset({"core", "db", "matcher"}),
    "reports": frozenset({"core", "db"}),
    "watch": frozenset({"core", "db", "matcher", *STAGES}),
    "jobs": frozenset({"core", "db", "matcher", *STAGES, "watch"}),
    "demo": frozenset({"core", "db", "matcher", *STAGES, "watch"}),
    "cli": frozenset({"core", "db", "matcher", *STAGES, "demo", "jobs", "watch"}),
    "__init__": frozenset({"core", "reports"}),
    "__main__": frozenset({"cli"}),
}

# Third-party libraries only some rooms may import (DESIGN.md: the matcher does no I/O;
# trafilatura has one caller; Scrapy and Twisted stay in the crawler; pandas in the notebook
# frames).
ONLY_IN: dict[str, tuple[str, ...]] = {
    "trafilatura": ("ingest/extract.py",),
    "scrapy": ("crawler/",),
    "twisted": ("crawler/",),
    "pandas": ("reports/frames.py",),
    "sqlalchemy": (
        "db/",
        "crawler/",
        "ingest/",
        "linking/",
        "reports/",
        "cli/",
        "demo/",
        "jobs/",
        "watch/",
    ),
    "jinja2": ("reports/",),
    "alembic": ("db/",),
    "tldextract": ("db/urls.py",),
    "networkx": ("reports/network/",),
    "matplotlib": ("reports/network/",),
    "procrastinate": ("jobs/",),
}

MAX_LINES = 500
MAX_LOOSE = 5  # modules directly in spintrace/ besides __init__, __main__ and _version


def room(path: Path, package: Path = PACKAGE) -> str:
    """The room of a module: its top-level package, ``core`` for the core modules."""
    first = path.relative_to(package).parts[0].removesuffix(".py")
    return "core" if first in CORE else first


def _module_name(path: Path, package: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, package: Path = PACKAGE) -> list[str]:
    """Every spintrace module or third-party package ``path`` imports, anywhere in the file.

    ``from spintrace import x`` names the module ``spintrace.x`` when there is one, else the
    facade ``spintrace`` itself. A relative import is reported as such (they are not allowed).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("<relative import>")
                continue
            module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                target = package.parent / Path(*candidate.split("."))
                is_module = target.with_suffix(".py").exists() or target.is_dir()
                names.append(candidate if is_module else module)
    return names


def _target_room(name: str, package: Path) -> str | None:
    parts = name.split(".")
    if parts[0] != package.name:
        return None
    if len(parts) == 1:
        return "__init__"
    return "core" if parts[1] in CORE else parts[1]


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """The imports of ``path`` that break the rules, each with the reason."""
    own = room(path, package)
    problems = []
    rel = path.relative_to(package).as_posix()
    for name in imports(path, package):
        if name == "<relative import>":
            problems.append("relative import (use absolute spintrace.* imports)")
            continue
        target = _target_room(name, package)
        if target is None:
            top = name.split(".")[0]
            rooms = ONLY_IN.get(top)
            if rooms is not None and not any(rel.startswith(r) for r in rooms):
                problems.append(f"{name}: {top} belongs in {', '.join(rooms)} only")
            continue
        if target != own and target not in ALLOWED[own]:
            problems.append(f"{name}: {own} may not import {target}")
    return problems


def import_graph(package: Path = PACKAGE) -> nx.DiGraph[str]:
    """Module -> the spintrace modules it imports (packages resolve to their ``__init__``)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    for name, path in modules.items():
        graph.add_node(name)
        for target in imports(path, package):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph.add_edge(name, target)
    return graph


def cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Each group of modules that import each other, directly or round a loop."""
    graph = import_graph(package)
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


# _migrations/ is the copy of alembic/ that only the wheel holds.
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_migrations" not in p.parts)


def test_every_module_is_in_a_room() -> None:
    unknown = {room(p) for p in MODULES} - set(ALLOWED)
    assert not unknown, f"add these rooms to ALLOWED and docs/architecture.md: {sorted(unknown)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_rules(path: Path) -> None:
    problems = violations(path)
    assert not problems, f"{path.relative_to(PACKAGE)}: {problems}"


def test_no_import_cycle() -> None:
    assert cycles() == []


def test_nothing_imports_cli_demo_or_jobs() -> None:
    graph = import_graph()
    for top in ("spintrace.cli", "spintrace.demo", "spintrace.jobs", "spintrace.watch"):
        importers = {
            src
            for src, dst in graph.edges
            if (dst == top or dst.startswith(f"{top}."))
            and not (src == top or src.startswith(f"{top}."))
        }
        allowed = {"spintrace.__main__"} if top == "spintrace.cli" else set()
        if top in ("spintrace.demo", "spintrace.jobs"):
            allowed = {m for m in importers if m.startswith("spintrace.cli")}
        if top == "spintrace.watch":
            allowed = {
                m
                for m in importers
                if m.startswith(("spintrace.cli", "spintrace.demo", "spintrace.jobs"))
            }
        assert importers <= allowed, f"{top} is imported by {sorted(importers - allowed)}"


def test_modules_are_small_and_the_core_is_small() -> None:
    long = [
        f"{p.relative_to(PACKAGE)} ({n})"
        for p in MODULES
        if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_LINES
    ]
    assert not long, f"split by responsibility: {long}"
    loose = sorted(
        p.name
        for p in PACKAGE.glob("*.py")
        if p.name not in {"__init__.py", "__main__.py", "_version.py"}
    )
    assert len(loose) <= MAX_LOOSE, f"loose modules in spintrace/: {loose}"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string statements in ``tree``: docstrings of modules, classes, functions
    and attributes (they may name ``<placeholders>``), never rendered."""
    return {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}


def test_no_html_in_report_code() -> None:
    """One rendering stack: HTML lives in Jinja templates, never in Python strings."""
    tag = re.compile(r"<\s*/?[a-z][\w-]*[\s/>]", re.IGNORECASE)
    found = []
    for path in (PACKAGE / "reports").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and id(node) not in docstrings and tag.search(text):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, f"move this markup into reports/templates/: {found}"


# The checker checks: a planted upward import, a planted cycle and a misplaced library fail.


def _plant(root: Path, files: dict[str, str]) -> Path:
    package = root / "spintrace"
    for name, code in {"__init__.py": "", "errors.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    return package


def test_the_checker_catches_upward_and_sideways_imports(tmp_path: Path) -> None:
    package = _plant(
        tmp_path,
        {
            "matcher/__init__.py": "",
            "matcher/align.py": (
                "from spintrace.cli import main\nimport sqlalchemy\nimport trafilatura\n"
                "from spintrace.errors import X\nfrom . import sibling\n"
            ),
            "cli/__init__.py": "",
            "ingest/__init__.py": "",
            "ingest/imports.py": "from spintrace.linking import match_pages\n",
            "linking/__init__.py": "from spintrace.matcher import align\n",
            "db/__init__.py": "import spintrace\n",
        },
    )
    align = violations(package / "matcher" / "align.py", package)
    assert len(align) == 4, align
    assert any("may not import cli" in p for p in align)
    assert any("sqlalchemy belongs in" in p for p in align)
    assert any("trafilatura belongs in" in p for p in align)
    assert any("relative import" in p for p in align)
    assert violations(package / "ingest" / "imports.py", package) == [
        "spintrace.linking: ingest may not import linking"
    ]
    assert violations(package / "linking" / "__init__.py", package) == []
    assert violations(package / "db" / "__init__.py", package) == [
        "spintrace: db may not import __init__"
    ]


def test_the_checker_catches_a_cycle(tmp_path: Path) -> None:
    package = _plant(
        tmp_path,
        {
            "reports/__init__.py": "",
            "reports/graph.py": "from spintrace.reports.files import write\n",
            "reports/files.py": "def write():\n    from spintrace.reports.html import page\n",
            "reports/html.py": "import spintrace.reports.graph\n",
            "reports/ok.py": "from spintrace.reports.files import write\n",
        },
    )
    assert cycles(package) == [
        ["spintrace.reports.files", "spintrace.reports.graph", "spintrace.reports.html"]
    ]


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
