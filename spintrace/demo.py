"""``spintrace demo``: the whole pipeline on bundled, public-domain demo articles.

Everything is local: a fresh SQLite database in the output folder, the bundled JSONL files,
matching, and a CSV export. The demo articles are fictional and CC0 (demo_data/LICENSE.txt).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from spintrace.config import Settings
from spintrace.db.engine import open_engine
from spintrace.db.migrate import upgrade
from spintrace.ingest import ImportReport, import_file
from spintrace.pipeline import MatchReport, match_pages
from spintrace.reports.export import export_table, iter_rows

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What the demo did and how its links compare with the demo's known truth."""

    folder: Path
    database_url: str
    imports: list[ImportReport] = field(default_factory=list)
    match: MatchReport | None = None
    links: list[dict[str, Any]] = field(default_factory=list)
    copies: int = 0
    found: int = 0
    wrong: int = 0
    false_links: int = 0


def _truth(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["page_url"]: row["source_url"] for row in csv.DictReader(handle)}


def run_demo(folder: Path, settings: Settings | None = None) -> DemoResult:
    """Run import, match and export into ``folder`` (its previous demo database is replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "demo.db"
    for stale in (db_path, folder / "demo.db-wal", folder / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db_path.resolve()}"
    result = DemoResult(folder=folder, database_url=url)
    engine = open_engine(url, create=True)
    try:
        upgrade(engine)
        with resources.as_file(resources.files("spintrace") / "demo_data") as data:
            data_copy = folder / "data"
            shutil.copytree(data, data_copy, dirs_exist_ok=True)
        result.imports.append(import_file(engine, data_copy / "sources.jsonl", "source", settings))
        result.imports.append(import_file(engine, data_copy / "pages.jsonl", "page", settings))
        result.match = match_pages(engine, settings)
        with (folder / "matches.csv").open("w", newline="", encoding="utf-8") as out:
            export_table(engine, "matches", "csv", out)
        result.links = list(iter_rows(engine, "matches"))
    finally:
        engine.dispose()
    truth = _truth(data_copy / "truth.csv")
    linked = {str(row["page_url"]): str(row["source_url"]) for row in result.links}
    result.copies = sum(1 for source in truth.values() if source)
    for page, source in truth.items():
        got = linked.get(page)
        if got is None:
            continue
        if not source:
            result.false_links += 1
        elif got == source:
            result.found += 1
        else:
            result.wrong += 1
    return result
