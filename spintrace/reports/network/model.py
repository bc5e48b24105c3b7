"""What the network report is made of: the evidence linking two sites, its weights, and how
clues combine.

Sites are linked by three kinds of stored evidence (never by re-matching):

- **indicators**: the same (kind, value) on two sites, weighed by :data:`INDICATOR_WEIGHTS`;
- **timing**: both sites' copies of the same source first seen within ``window_hours``;
- **substitutions**: learned spinner substitutions used by both sites (``substitution_sites``).

Each shared item has a weight in 0..1; a channel's strength combines its items as independent
clues (:func:`noisy_or`, ``1 - prod(1 - w)``), and the edge strength combines the three
channels the same way. docs/reports.md explains the weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from spintrace.records import INDICATOR_KINDS

__all__ = [
    "CHANNELS",
    "DEFAULT_MIN_STRENGTH",
    "DEFAULT_WINDOW_HOURS",
    "EVIDENCE_LIMIT",
    "INDICATOR_WEIGHTS",
    "MAX_SHARING_SITES",
    "SUBSTITUTION_WEIGHT",
    "TIMING_WEIGHT",
    "EdgeEvidence",
    "IndicatorEvidence",
    "NetworkSummary",
    "Rule",
    "SiteStats",
    "SubstitutionEvidence",
    "TimingEvidence",
    "noisy_or",
]

DEFAULT_WINDOW_HOURS = 48.0
DEFAULT_MIN_STRENGTH = 0.1
"""Edges weaker than this are left out: a shared theme alone (0.2) stays, a shared generator
string alone (0.05) does not."""
EVIDENCE_LIMIT = 20
"""Items of each kind listed on an edge (the strongest first); counts cover all of them."""
MAX_SHARING_SITES = 50
"""Discounted values (weak indicators, sources, substitutions) on more sites are skipped: past
it a pair would gain at most 0.01 from a shared icon (0.5 / 50), 0.05 from a shared source
(0.35 / sqrt(50)) and 0.0012 from a shared substitution, while the pairs grow with the square of
the count."""
CHANNELS = ("indicator", "timing", "substitution")
"""The kinds of evidence; an edge has a ``<channel>_strength`` attribute for each."""

Rule = Literal["id", "weak", "rare"]

INDICATOR_WEIGHTS: dict[str, tuple[float, Rule]] = {
    kind.name: (kind.weight, kind.rule) for kind in INDICATOR_KINDS
}
"""Weight and rule of each indicator kind (:data:`spintrace.records.INDICATOR_KINDS`): an
account ID is never discounted by how many sites share it (twenty sites on one AdSense ID are
one payee); a template trace is divided by (sites sharing it - 1); a rare one counts only when
just two sites have it."""
TIMING_WEIGHT = 0.35
"""Per source both sites copied within the window; halved at the window's edge, divided by
sqrt(sites copying it - 1). Three such sources give 0.73."""
SUBSTITUTION_WEIGHT = 0.06
"""Per learned substitution both sites used, divided by (sites using it - 1): eleven pairs
used by just these two give 0.49; "said -> stated" on 30 sites adds 0.002."""


@dataclass(frozen=True)
class SiteStats:
    """A suspect site's counts (``median_lag_hours`` is None when no copied source has a date)."""

    domain: str
    pages: int
    copied_pages: int
    sources_copied: int
    median_lag_hours: float | None


@dataclass(frozen=True)
class IndicatorEvidence:
    kind: str
    value: str
    sites: int
    """How many suspect sites carry this value."""
    weight: float
    snippet: str
    """Where it was seen on the first of the two sites (plain text, hostile)."""


@dataclass(frozen=True)
class TimingEvidence:
    source_url: str
    first_seen_a: datetime
    first_seen_b: datetime
    sites: int
    """How many suspect sites copied this source (at any time)."""
    weight: float

    @property
    def hours_apart(self) -> float:
        return abs((self.first_seen_a - self.first_seen_b).total_seconds()) / 3600


@dataclass(frozen=True)
class SubstitutionEvidence:
    spun: str
    original: str
    sites: int
    weight: float


@dataclass(frozen=True)
class EdgeEvidence:
    """Everything that links two sites; lists capped at :data:`EVIDENCE_LIMIT`, strongest first."""

    indicators: tuple[IndicatorEvidence, ...] = ()
    timing: tuple[TimingEvidence, ...] = ()
    substitutions: tuple[SubstitutionEvidence, ...] = ()
    indicator_count: int = 0
    timing_count: int = 0
    substitution_count: int = 0


@dataclass(frozen=True)
class NetworkSummary:
    """What :func:`~spintrace.reports.network.graph.write_network_report` wrote."""

    sites: int
    edges: int
    communities: int
    files: tuple[Path, ...] = field(default_factory=tuple)


def noisy_or(weights: Iterable[float]) -> float:
    """Independent clues combined: ``1 - prod(1 - w)``, in 0..1."""
    missing = 1.0
    for weight in weights:
        missing *= 1.0 - min(max(weight, 0.0), 1.0)
    return 1.0 - missing
