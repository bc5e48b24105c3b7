"""What the network report is made of: the evidence linking two sites, its weights, its tiers,
and how clues combine.

Sites are linked by stored evidence (never by re-matching), of six kinds
(:data:`EVIDENCE_KINDS`):

- **ids**: the same tracking or ad account ID on both (:data:`INDICATOR_WEIGHTS`, rule ``id``);
- **template**: the same theme, plugin, generator, icon or rare link on both;
- **timing**: both sites' copies of one source appeared within ``window_hours`` of each other
  (by the time of a page, :mod:`spintrace.reports.network.times`);
- **rare_spins**: learned spinner substitutions that no thesaurus explains, used by both;
- **thesaurus_spins**: learned substitutions a thesaurus explains (any thesaurus spinner
  makes them), used by both;
- **same_spin**: pages on both that publish the same spin of one source — the same
  substitutions against it, one of them no thesaurus explains
  (:mod:`spintrace.linking.duplicates`); per story. The same spin made of thesaurus choices only
  counts with the thesaurus spins.

Each shared item has a weight in 0..1; a kind's strength combines its items as independent
clues (:func:`noisy_or`, ``1 - prod(1 - w)``), and the edge's strength combines the kinds the
same way. Every edge also gets a tier (:func:`edge_tier`): ``strong`` (a shared account ID),
``medium`` (rare spins and tight copy timing) or ``weak`` (the rest). docs/reports.md explains
the weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from spintrace.records import INDICATOR_KINDS
from spintrace.reports.network.times import PageTime

__all__ = [
    "CHANNELS",
    "DEFAULT_MIN_STRENGTH",
    "DEFAULT_WINDOW_HOURS",
    "EVIDENCE_KINDS",
    "EVIDENCE_LIMIT",
    "INDICATOR_WEIGHTS",
    "MAX_SHARING_SITES",
    "MEDIUM_MIN",
    "RARE_SPINS_ALONE_MIN",
    "RARE_SPIN_WEIGHT",
    "SAME_SPIN_RARE_WEIGHT",
    "SAME_SPIN_STRONG",
    "SAME_SPIN_WEIGHT",
    "THESAURUS_SPINS_MAX",
    "THESAURUS_SPIN_WEIGHT",
    "TIERS",
    "TIMING_WEIGHT",
    "EdgeEvidence",
    "IndicatorEvidence",
    "NetworkSummary",
    "Rule",
    "SameSpinEvidence",
    "SiteStats",
    "SubstitutionEvidence",
    "Tier",
    "TimingEvidence",
    "edge_tier",
    "noisy_or",
    "rarity",
]

DEFAULT_WINDOW_HOURS = 48.0
DEFAULT_MIN_STRENGTH = 0.1
"""Edges weaker than this are left out: a shared theme alone (0.2) stays, a shared generator
string alone (0.05) and thesaurus spins alone (at most 0.05) do not."""
EVIDENCE_LIMIT = 20
"""Items of each kind listed on an edge (the strongest first); counts cover all of them."""
MAX_SHARING_SITES = 50
"""Discounted values (weak indicators, sources, substitutions) on more sites are skipped: past
it a pair would gain at most 0.01 from a shared icon (0.5 / 50), 0.05 from a shared source
(0.35 / sqrt(50)) and under 0.01 from a shared substitution, while the pairs grow with the
square of the count."""
CHANNELS = ("indicator", "timing", "substitution")
"""The channels the drawing colours lines by; an edge has a ``<channel>_strength`` for each."""
EVIDENCE_KINDS = ("ids", "template", "timing", "rare_spins", "thesaurus_spins", "same_spin")
"""The kinds of evidence; an edge has a ``<kind>_strength`` attribute for each."""

Rule = Literal["id", "weak", "rare"]
Tier = Literal["strong", "medium", "weak"]
TIERS: tuple[Tier, ...] = ("strong", "medium", "weak")
"""Evidence tiers, strongest first."""

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
RARE_SPIN_WEIGHT = 0.2
"""Per learned substitution no thesaurus explains (``substitutions.relation`` is NULL) that both
sites used, times its :func:`rarity`: the spinner's own dictionary ("car" -> "automotive",
"technology" -> "know-how"). Four such pairs used by just these two give 0.59."""
THESAURUS_SPIN_WEIGHT = 0.02
"""Per learned substitution a thesaurus explains (WordNet, Moby) that both sites used, times its
:func:`rarity`: every spinner with a thesaurus makes them."""
THESAURUS_SPINS_MAX = 0.05
"""Thesaurus spins together never count for more: they are one tool's choices, not independent
clues, and alone they stay under :data:`DEFAULT_MIN_STRENGTH`."""
SAME_SPIN_WEIGHT = 0.05
"""Per story both sites published in the same spin when every shared substitution is one a
thesaurus explains: a deterministic thesaurus spinner run by two unrelated operators makes the
same output, so this is one tool's choices, counted with the thesaurus spins (and their cap,
:data:`THESAURUS_SPINS_MAX`), not as ``same_spin``."""
SAME_SPIN_RARE_WEIGHT = 0.5
"""Per story both sites published in the same spin with a shared substitution no thesaurus
explains (the spinner's own dictionary): medium evidence alone (:func:`edge_tier`); three
such stories give 0.875 (:data:`SAME_SPIN_STRONG`)."""
SAME_SPIN_STRONG = 0.87
"""Same-spin strength from which, with copy timing of at least :data:`MEDIUM_MIN` (within
hours), an edge is ``strong``: several stories, spun alike, with rare substitutions, copied
together."""
MEDIUM_MIN = 0.5
"""An edge without a shared account ID is ``medium`` when its copy timing reaches this (two
sources copied within hours of each other), or when rare spins backed by another clue (copy
timing, a shared template) reach it together with that clue; else ``weak``."""
RARE_SPINS_ALONE_MIN = 0.8
"""Rare spins with nothing else behind them make an edge ``medium`` only from this strength
(eight pairs used by just these two sites): "no thesaurus explains it" also holds for common
synonyms the shipped thesauri happen to lack ("extremely" -> "incredibly"), which unrelated
spinners share."""


def noisy_or(weights: Iterable[float]) -> float:
    """Independent clues combined: ``1 - prod(1 - w)``, in 0..1."""
    missing = 1.0
    for weight in weights:
        missing *= 1.0 - min(max(weight, 0.0), 1.0)
    return 1.0 - missing


def rarity(users: int, sites: int) -> float:
    """How rare a substitution is, 0..1: ``ln((N + 1) / k) / ln((N + 1) / 2)`` for ``k`` =
    ``users`` of the ``N`` = ``sites`` with learned substitutions (an inverse document
    frequency scaled so that a pair of just two sites is 1 and a pair of every site near 0)."""
    if users < 2 or sites < users:
        raise ValueError(f"a shared substitution has 2..{sites} users, not {users}")
    return math.log((sites + 1) / users) / math.log((sites + 1) / 2)


@dataclass(frozen=True)
class SiteStats:
    """A suspect site's counts, and how fast it copies: of its ``timed_copies`` (links whose
    source has a published date and whose copy has a time), how many appeared within 2 and
    24 hours, and the median (``None`` when no copy has a known lag)."""

    domain: str
    pages: int
    copied_pages: int
    sources_copied: int
    median_lag_hours: float | None
    timed_copies: int = 0
    within_2h: int = 0
    within_24h: int = 0


@dataclass(frozen=True)
class IndicatorEvidence:
    kind: str
    value: str
    sites: int
    """How many suspect sites carry this value."""
    weight: float
    snippet: str
    """Where it was seen on the first of the two sites (plain text, hostile)."""
    account: bool = False
    """An account ID (rule ``id``: strong evidence), not a template trace."""


@dataclass(frozen=True)
class TimingEvidence:
    """Two sites' copies of one source, each with its time and what that time is."""

    source_url: str
    site_a: str
    time_a: PageTime
    site_b: str
    time_b: PageTime
    hours_apart: float
    """The most hours that can separate the two copies (exact when both are published dates;
    a capture time only bounds its copy to after the source's publication)."""
    sites: int
    """How many suspect sites copied this source (at any time)."""
    weight: float

    @property
    def exact(self) -> bool:
        """Both times are the pages' own published dates (so ``hours_apart`` is exact)."""
        return self.time_a.basis == self.time_b.basis == "published"


@dataclass(frozen=True)
class SubstitutionEvidence:
    spun: str
    original: str
    relation: str | None
    """The thesaurus relation that explains the pair (``wordnet-synonym``, ``moby``, ...), or
    ``None``: a rare spin, from the spinner's own dictionary."""
    sites: int
    """How many suspect sites used it."""
    weight: float


@dataclass(frozen=True)
class SameSpinEvidence:
    """Two pages, one on each site, publishing the same spin of one source."""

    url_a: str
    url_b: str
    source_url: str
    work: int
    """The story: the source's work (its editions are one story), else the source's id."""
    estimated_jaccard: float
    jaccard: float
    shared: int
    """Substitutions both pages made against the source."""
    unexplained: tuple[str, ...]
    """The shared substitutions no thesaurus explains, as ``spun -> original``."""
    weight: float


@dataclass(frozen=True)
class EdgeEvidence:
    """Everything that links two sites; lists capped at :data:`EVIDENCE_LIMIT`, strongest first."""

    indicators: tuple[IndicatorEvidence, ...] = ()
    timing: tuple[TimingEvidence, ...] = ()
    substitutions: tuple[SubstitutionEvidence, ...] = ()
    same_spins: tuple[SameSpinEvidence, ...] = ()
    indicator_count: int = 0
    timing_count: int = 0
    substitution_count: int = 0
    same_spin_count: int = 0


@dataclass(frozen=True)
class NetworkSummary:
    """What :func:`~spintrace.reports.network.graph.write_network_report` wrote."""

    sites: int
    edges: int
    communities: int
    files: tuple[Path, ...] = field(default_factory=tuple)


def edge_tier(strengths: Mapping[str, float]) -> Tier:
    """The tier of an edge with these ``<kind>_strength`` values (:data:`EVIDENCE_KINDS`):
    ``strong`` for a shared account ID, or the same spin of several stories (with rare
    substitutions) copied within hours; ``medium`` for one story in the same spin with a rare
    substitution, tight copy timing or many rare spins; else ``weak``."""
    rare, timing = strengths["rare_spins_strength"], strengths["timing_strength"]
    same_spin = strengths.get("same_spin_strength", 0.0)
    if strengths["ids_strength"] > 0 or (same_spin >= SAME_SPIN_STRONG and timing >= MEDIUM_MIN):
        return "strong"
    template = strengths["template_strength"]
    if timing >= MEDIUM_MIN or rare >= RARE_SPINS_ALONE_MIN or same_spin >= MEDIUM_MIN:
        return "medium"
    backed = timing > 0 or template > 0
    if rare > 0 and backed and noisy_or((rare, timing, template)) >= MEDIUM_MIN:
        return "medium"
    return "weak"
