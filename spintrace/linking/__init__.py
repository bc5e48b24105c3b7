"""The match stage: index sources, link pages to the sources they copy, learn substitutions.

Reads documents from the database, uses the pure :mod:`spintrace.matcher`, and writes links
(``matches``), checks and learned substitutions back; nothing else is handed to other stages.
"""

from __future__ import annotations

from spintrace.linking.index import index_sources
from spintrace.linking.match import MATCHER_VERSION, MatchReport, match_pages
from spintrace.linking.substitutions import LearnedPair, harvest, iter_learned, load_substitutions

__all__ = [
    "MATCHER_VERSION",
    "LearnedPair",
    "MatchReport",
    "harvest",
    "index_sources",
    "iter_learned",
    "load_substitutions",
    "match_pages",
]
