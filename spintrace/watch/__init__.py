"""Monitoring: watch publishers and farms over time, alert on new copies (docs/watch.md).

``watch/`` drives the stages the way ``jobs/`` and ``demo/`` do: a round reads a watch list
(:mod:`spintrace.watch.config`), fetches what changed (:mod:`spintrace.watch.fetch`, the
crawler), extracts, matches, raises and delivers alerts (:mod:`spintrace.watch.rounds`).
"""

from __future__ import annotations

from spintrace.watch.config import Target, WatchList, WatchListError, load
from spintrace.watch.rounds import RoundReport, due_targets, run_round

__all__ = [
    "RoundReport",
    "Target",
    "WatchList",
    "WatchListError",
    "due_targets",
    "load",
    "run_round",
]
