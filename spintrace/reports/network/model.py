"""What the network report is made of: the evidence linking two sites, its weights, its tiers,
and how clues combine.

Sites are linked by stored evidence (never by re-matching), of seven kinds
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
  counts with the thesaurus spins;
- **money**: the money trail of ads.txt / app-ads.txt (:mod:`spintrace.reports.network.money`):
  the same seller account listed by both (or listed by one, its AdSense ID in the other's
  pages), weighed by its relationship, its sellers.json seller type and how many sites list
  it; the same OWNERDOMAIN or MANAGERDOMAIN.

Each shared item has a weight in 0..1; a kind's strength combines its items as independent
clues (:func:`noisy_or`, ``1 - prod(1 - w)``), and the edge's strength combines the kinds the
same way. Every edge also gets a tier (:func:`edge_tier`): ``strong`` (a shared account ID, a
publisher's seller account few sites list), ``medium`` (rare spins and tight copy timing, an
owner or manager domain) or ``weak`` (the rest). docs/reports.md explains
the weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from spintrace.records import INDICATOR_KINDS, IndicatorRule
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
    "MONEY_INTERMEDIARY_WEIGHT",
    "MONEY_MIN_POPULATION",
    "MONEY_RESELLER_WEIGHT",
    "MONEY_STRONG_MIN",
    "MONEY_UNKNOWN_WEIGHT",
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
    "MoneyEvidence",
    "NetworkSummary",
    "Rule",
    "SameSpinEvidence",
    "SellerEntry",
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
CHANNELS = ("indicator", "timing", "substitution", "money")
"""The channels the drawing colours lines by; an edge has a ``<channel>_strength`` for each."""
EVIDENCE_KINDS = (
    "ids",
    "template",
    "timing",
    "rare_spins",
    "thesaurus_spins",
    "same_spin",
    "money",
)
"""The kinds of evidence; an edge has a ``<kind>_strength`` attribute for each."""

Rule = IndicatorRule
Tier = Literal["strong", "medium", "weak"]
TIERS: tuple[Tier, ...] = ("strong", "medium", "weak")
"""Evidence tiers, strongest first."""

INDICATOR_WEIGHTS: dict[str, tuple[float, Rule]] = {
    kind.name: (kind.weight, kind.rule) for kind in INDICATOR_KINDS
}
"""Weight and rule of each indicator kind (:data:`spintrace.records.INDICATOR_KINDS`): an
account ID is never discounted by how many sites share it (twenty sites on one AdSense ID are
one payee); a template trace is divided by (sites sharing it - 1); a rare one counts only when
just two sites have it; the money trail's kinds (rule ``money``) are weighed by
:mod:`spintrace.reports.network.money`, their weight being the most they count for."""
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
MONEY_UNKNOWN_WEIGHT = 0.35
"""A ``DIRECT`` seller account both sites list that no stored sellers.json entry names (the
ad system's file not loaded, or the account missing from it): often the operator's own, but
also an ad manager's, so medium-low. (A publisher's account weighs the ``ads-txt`` kind's 0.9,
like an AdSense ID: :data:`INDICATOR_WEIGHTS`.)"""
MONEY_INTERMEDIARY_WEIGHT = 0.05
"""A ``DIRECT`` account whose sellers.json entry is an ``INTERMEDIARY`` (or an unknown type):
an exchange or network selling many publishers' space, not a payee of its own. Such accounts
and resellers' together count at most this: alone they stay under
:data:`DEFAULT_MIN_STRENGTH`, as an ad network's boilerplate lines in every client's ads.txt
should."""
MONEY_RESELLER_WEIGHT = 0.02
"""An account one of the two sites lists as ``RESELLER``: resellers sell for thousands of
unrelated sites."""
MONEY_MIN_POPULATION = 10
"""Money clues are discounted by :func:`rarity` of the ``k`` sites listing the account among
the ``N`` suspect sites with a money trail, ``N`` counted as at least this: with few sites,
"every site lists it" says little about how common it is. A publisher's account (0.9) on 2
sites keeps 0.9, on 3 of 10 0.69, on 4 of 10 0.53, on 8 of 10 0.17."""
MONEY_STRONG_MIN = 0.6
"""Money strength from which an edge is ``strong``: a publisher's ``DIRECT`` account on 2-3 of
10 suspect sites (2-5 of 40), or an owner or manager domain with the other domain or an
account no sellers.json names; the
domain alone (0.5) or a publisher's account on 4 of 10 sites is ``medium``
(:data:`MEDIUM_MIN`); accounts no sellers.json names (at most 0.35 together) are ``weak``."""


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
class SellerEntry:
    """An ad system's sellers.json entry for an account (plain values; ``name`` and
    ``domain`` ``None`` when confidential or not given). All hostile: escape them."""

    ad_system: str
    seller_id: str
    name: str | None
    domain: str | None
    seller_type: str
    """``PUBLISHER``, ``INTERMEDIARY``, ``BOTH`` or whatever the file says."""
    is_confidential: bool
    source: str = ""
    """The sellers.json file or URL the entry was loaded from."""
    loaded_at: datetime | None = None

    @property
    def summary(self) -> str:
        """The entry in words: ``Name, domain, PUBLISHER`` (``confidential`` for a name the
        file withholds)."""
        parts = ["confidential"] if self.is_confidential else []
        parts += [part for part in (self.name, self.domain) if part]
        return ", ".join([*parts, self.seller_type])

    @property
    def publisher(self) -> bool:
        """The account's owner sells its own space (``PUBLISHER`` or ``BOTH``): a payee."""
        return self.seller_type in ("PUBLISHER", "BOTH")


@dataclass(frozen=True)
class MoneyEvidence:
    """A seller account, or an ads.txt owner or manager domain, that both sites name.

    ``what`` is ``account`` (``ad_system`` / ``account_id`` / ``relationship``), ``owner`` or
    ``manager`` (``account_id`` is then the domain, ``ad_system`` and ``relationship``
    empty). ``relationship`` is ``DIRECT`` when both sites list the account ``DIRECT`` (an
    AdSense ID in a page counts as ``DIRECT``: it is the payee), else ``RESELLER``.
    ``found_a`` / ``found_b`` say how each site names it (``ads.txt DIRECT``, ``AdSense ID in
    its pages``, ...); ``basis`` why it weighs what it does.
    """

    what: Literal["account", "owner", "manager"]
    ad_system: str
    account_id: str
    relationship: str
    site_a: str
    found_a: str
    site_b: str
    found_b: str
    seller: SellerEntry | None
    sites: int
    """How many suspect sites name it (in ads.txt, app-ads.txt or, for AdSense, a page)."""
    weight: float
    basis: str
    """``publisher``, ``unknown seller``, ``intermediary``, ``reseller``, ``owner domain`` or
    ``manager domain``."""


@dataclass(frozen=True)
class EdgeEvidence:
    """Everything that links two sites; lists capped at :data:`EVIDENCE_LIMIT`, strongest first."""

    indicators: tuple[IndicatorEvidence, ...] = ()
    timing: tuple[TimingEvidence, ...] = ()
    substitutions: tuple[SubstitutionEvidence, ...] = ()
    same_spins: tuple[SameSpinEvidence, ...] = ()
    money: tuple[MoneyEvidence, ...] = ()
    indicator_count: int = 0
    timing_count: int = 0
    substitution_count: int = 0
    same_spin_count: int = 0
    money_count: int = 0


@dataclass(frozen=True)
class NetworkSummary:
    """What :func:`~spintrace.reports.network.graph.write_network_report` wrote."""

    sites: int
    edges: int
    communities: int
    files: tuple[Path, ...] = field(default_factory=tuple)
    dossiers: tuple[Path, ...] = field(default_factory=tuple)
    """The sites' dossiers (``dossiers/``; none when written from a graph alone)."""


def edge_tier(strengths: Mapping[str, float]) -> Tier:
    """The tier of an edge with these ``<kind>_strength`` values (:data:`EVIDENCE_KINDS`):
    ``strong`` for a shared account ID, a money trail of :data:`MONEY_STRONG_MIN` (a
    publisher's seller account few sites list), or the same spin of several stories (with rare
    substitutions) copied within hours; ``medium`` for one story in the same spin with a rare
    substitution, tight copy timing, many rare spins or a money trail of :data:`MEDIUM_MIN`
    (an owner or manager domain); else ``weak``."""
    rare, timing = strengths["rare_spins_strength"], strengths["timing_strength"]
    same_spin = strengths.get("same_spin_strength", 0.0)
    money = strengths.get("money_strength", 0.0)
    if (
        strengths["ids_strength"] > 0
        or money >= MONEY_STRONG_MIN
        or (same_spin >= SAME_SPIN_STRONG and timing >= MEDIUM_MIN)
    ):
        return "strong"
    template = strengths["template_strength"]
    if (
        timing >= MEDIUM_MIN
        or rare >= RARE_SPINS_ALONE_MIN
        or same_spin >= MEDIUM_MIN
        or money >= MEDIUM_MIN
    ):
        return "medium"
    backed = timing > 0 or template > 0 or money > 0
    if rare > 0 and backed and noisy_or((rare, timing, template, money)) >= MEDIUM_MIN:
        return "medium"
    return "weak"
