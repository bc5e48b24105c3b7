"""The investigation notebook in docs/ runs top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "investigation.ipynb"


def test_the_investigation_notebook_runs(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    figures = sum(cell.source.count("plt.subplots(") for cell in notebook.cells)
    assert figures >= 3 and len(images) == figures  # each figure rendered once, not twice
    text = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "G-DEMO12345" in text and "dailytrendwire.example" in text
    # The joins: link to its original's title, checks to the pages, SQL through db.frame.
    sources = " ".join(cell.source for cell in notebook.cells)
    assert 'left_on="source_id"' in sources and "db.match_checks(" in sources
    assert "db.frame(" in sources and "db.captures(" in sources
    assert "Marrowby Foods" in text and "unlinked" in text and "mean_score" in text
