"""The ingest stage: JSON Lines imports and crawled captures become documents.

- :mod:`.jsonl` reads input files (``-`` for stdin) into records, naming bad lines;
- :mod:`.extract` is the only caller of trafilatura (main text and metadata of HTML);
- :mod:`.indicators` finds operator traces (tracking and ad IDs, themes) in raw HTML;
- :mod:`.documents` writes documents and indicators, the same for both ways in;
- :mod:`.imports` imports files; :mod:`.captures` processes crawled captures.
"""

from __future__ import annotations

from spintrace.ingest.captures import ProcessReport, process_captures
from spintrace.ingest.imports import ImportReport, import_file

__all__ = ["ImportReport", "ProcessReport", "import_file", "process_captures"]
