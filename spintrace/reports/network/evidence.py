"""The stored evidence that links suspect sites, read from the database (never re-matched).

:func:`read_evidence` returns each suspect site's counts and indicators and, for every pair of
sites, the indicators, timely copies of the same source, spinner substitutions and money trail
(:mod:`spintrace.reports.network.money`) they share, each weighed as
:mod:`spintrace.reports.network.model` says.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import TypeVar

from sqlalchemy import Engine, select

from spintrace.db.links import spin_pairs_query
from spintrace.db.models import (
    Document,
    LearnedSubstitution,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.reports.network.copies import Copy, lag_hours, read_copies, timing_evidence
from spintrace.reports.network.model import (
    EVIDENCE_LIMIT,
    INDICATOR_WEIGHTS,
    MAX_SHARING_SITES,
    RARE_SPIN_WEIGHT,
    SAME_SPIN_RARE_WEIGHT,
    SAME_SPIN_WEIGHT,
    THESAURUS_SPIN_WEIGHT,
    THESAURUS_SPINS_MAX,
    EdgeEvidence,
    IndicatorEvidence,
    MoneyEvidence,
    SameSpinEvidence,
    SiteStats,
    SubstitutionEvidence,
    Tier,
    TimingEvidence,
    edge_tier,
    noisy_or,
    rarity,
)
from spintrace.reports.network.money import money_evidence, money_strength, read_money_trail

__all__ = ["PairEvidence", "StoredEvidence", "read_evidence", "suspect_sites"]

_Item = TypeVar(
    "_Item",
    IndicatorEvidence,
    TimingEvidence,
    SubstitutionEvidence,
    SameSpinEvidence,
    MoneyEvidence,
)


@dataclass
class PairEvidence:
    """Everything two sites share, as collected (uncapped, in reading order)."""

    indicators: list[IndicatorEvidence] = field(default_factory=list)
    timing: list[TimingEvidence] = field(default_factory=list)
    substitutions: list[SubstitutionEvidence] = field(default_factory=list)
    same_spins: list[SameSpinEvidence] = field(default_factory=list)
    money: list[MoneyEvidence] = field(default_factory=list)

    def kind_strengths(self) -> dict[str, float]:
        """Each evidence kind's strength (``<kind>_strength``, :data:`EVIDENCE_KINDS`)."""
        spins = self.substitutions
        # Stories spun alike with thesaurus choices only are that tool's output too: they share
        # the thesaurus spins' cap. Stories with a rare substitution are their own kind.
        alike = [s for s in self.same_spins if not s.unexplained]
        thesaurus = noisy_or(
            [s.weight for s in spins if s.relation is not None] + _per_story(alike)
        )
        return {
            "ids_strength": noisy_or(i.weight for i in self.indicators if i.account),
            "template_strength": noisy_or(i.weight for i in self.indicators if not i.account),
            "timing_strength": noisy_or(item.weight for item in self.timing),
            "rare_spins_strength": noisy_or(s.weight for s in spins if s.relation is None),
            "thesaurus_spins_strength": min(thesaurus, THESAURUS_SPINS_MAX),
            "same_spin_strength": noisy_or(
                _per_story([s for s in self.same_spins if s.unexplained])
            ),
            "money_strength": money_strength(self.money),
        }

    def channel_strengths(self) -> dict[str, float]:
        """The drawing's channels (``<channel>_strength``, :data:`CHANNELS`), from the kinds."""
        kinds = self.kind_strengths()
        return {
            "indicator_strength": noisy_or((kinds["ids_strength"], kinds["template_strength"])),
            "timing_strength": kinds["timing_strength"],
            "substitution_strength": noisy_or(
                (
                    kinds["rare_spins_strength"],
                    kinds["thesaurus_spins_strength"],
                    kinds["same_spin_strength"],
                )
            ),
            "money_strength": kinds["money_strength"],
        }

    def tier(self) -> Tier:
        """The edge's evidence tier (:func:`edge_tier`)."""
        return edge_tier(self.kind_strengths())

    def edge_evidence(self) -> EdgeEvidence:
        """The strongest :data:`EVIDENCE_LIMIT` items of each kind, and the full counts."""
        return EdgeEvidence(
            indicators=_top(self.indicators),
            timing=_top(self.timing),
            substitutions=_top(self.substitutions),
            same_spins=_top(self.same_spins),
            money=_top(self.money),
            indicator_count=len(self.indicators),
            timing_count=len(self.timing),
            substitution_count=len(self.substitutions),
            same_spin_count=len(self.same_spins),
            money_count=len(self.money),
        )


def _per_story(items: list[SameSpinEvidence]) -> list[float]:
    """One weight per story (a work): several page pairs of one story are one clue."""
    best: dict[int, float] = {}
    for item in items:
        best[item.work] = max(best.get(item.work, 0.0), item.weight)
    return list(best.values())


def _top(items: list[_Item]) -> tuple[_Item, ...]:
    return tuple(sorted(items, key=lambda item: -item.weight)[:EVIDENCE_LIMIT])


_Pairs = defaultdict[tuple[str, str], PairEvidence]


@dataclass(frozen=True)
class StoredEvidence:
    """What :func:`read_evidence` found.

    ``sites`` has every suspect site (a site with pages), by domain; ``indicators`` each
    site's stored indicator values by kind (absent for a site with none); ``pairs`` the
    evidence of every pair of sites sharing anything, keyed ``(a, b)`` with ``a < b``.
    """

    sites: list[SiteStats]
    indicators: dict[str, dict[str, list[str]]]
    pairs: dict[tuple[str, str], PairEvidence]


def read_evidence(engine: Engine, window_hours: float) -> StoredEvidence:
    """Read the sites and what they share; copies count as timely within ``window_hours``."""
    suspects = suspect_sites(engine)
    copies = read_copies(engine, suspects)
    pairs: _Pairs = defaultdict(PairEvidence)
    indicators = _add_indicators(engine, suspects, pairs)
    for key, money in money_evidence(read_money_trail(engine, suspects)).items():
        pairs[key].money.extend(money)
    for key, items in timing_evidence(copies, window_hours).items():
        pairs[key].timing.extend(items)
    _add_substitutions(engine, suspects, pairs)
    _add_same_spins(engine, suspects, pairs)
    return StoredEvidence(_site_stats(suspects, engine, copies), indicators, pairs)


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _indicator_weight(kind: str, sites: int) -> float:
    base, rule = INDICATOR_WEIGHTS.get(kind, (0.0, "rare"))
    if rule == "id":
        return base
    if rule == "rare":
        return base if sites == 2 else 0.0
    if rule == "money":
        return 0.0  # the money trail's own evidence (network/money.py)
    return base / (sites - 1) if sites <= MAX_SHARING_SITES else 0.0


def suspect_sites(engine: Engine) -> dict[int, str]:
    """The suspect sites (sites with at least one page), id -> domain, by domain."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Site.id, Site.domain)
            .where(
                select(Document.id)
                .where(Document.site_id == Site.id, Document.role == "page")
                .exists()
            )
            .order_by(Site.domain)
        )
        return {row.id: row.domain for row in rows}


def _add_indicators(
    engine: Engine, suspects: dict[int, str], pairs: _Pairs
) -> dict[str, dict[str, list[str]]]:
    """Adds shared indicators to ``pairs``; returns each site's values by kind."""
    shared: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    values: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                SiteIndicator.site_id,
                SiteIndicator.kind,
                SiteIndicator.value,
                SiteIndicator.evidence,
            ).order_by(SiteIndicator.kind, SiteIndicator.value, SiteIndicator.site_id)
        )
        for row in rows:
            if row.site_id in suspects:
                shared[row.kind, row.value].append((suspects[row.site_id], row.evidence or ""))
                values[suspects[row.site_id]][row.kind].append(row.value)
    for (kind, value), holders in shared.items():
        weight = _indicator_weight(kind, len(holders)) if len(holders) > 1 else 0.0
        if weight <= 0:
            continue
        account = INDICATOR_WEIGHTS.get(kind, (0.0, "rare"))[1] == "id"
        for (a, snippet), (b, _) in combinations(holders, 2):
            item = IndicatorEvidence(kind, value, len(holders), weight, snippet, account)
            pairs[_key(a, b)].indicators.append(item)
    return {site: dict(kinds) for site, kinds in values.items()}


def _add_substitutions(engine: Engine, suspects: dict[int, str], pairs: _Pairs) -> None:
    """Adds the learned substitutions each pair of sites used, weighed by how rare they are
    among the sites with learned substitutions and by whether a thesaurus explains them."""
    users: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                LearnedSubstitution.spun,
                LearnedSubstitution.original,
                LearnedSubstitution.relation,
                SubstitutionSite.site_id,
            )
            .join(LearnedSubstitution, LearnedSubstitution.id == SubstitutionSite.substitution_id)
            .order_by(LearnedSubstitution.spun, LearnedSubstitution.original)
        )
        for row in rows:
            if row.site_id in suspects:
                users[row.spun, row.original, row.relation].append(suspects[row.site_id])
    spinning = len({site for sites in users.values() for site in sites})
    for (spun, original, relation), sites in users.items():
        count = len(sites)
        if count < 2 or count > MAX_SHARING_SITES:
            continue
        base = RARE_SPIN_WEIGHT if relation is None else THESAURUS_SPIN_WEIGHT
        weight = base * rarity(count, spinning)
        item = SubstitutionEvidence(spun, original, relation, count, weight)
        for a, b in combinations(sorted(sites), 2):
            pairs[_key(a, b)].substitutions.append(item)


def _add_same_spins(engine: Engine, suspects: dict[int, str], pairs: _Pairs) -> None:
    """Adds the same-spin page pairs of each pair of sites, one weight per story."""
    sites = set(suspects.values())
    with engine.connect() as connection:
        rows = connection.execute(spin_pairs_query())
        for row in rows:
            if row.page_a_site not in sites or row.page_b_site not in sites:
                continue
            subs = row.evidence.get("substitutions") if isinstance(row.evidence, dict) else None
            rare = tuple(
                f"{sub.get('spun')} -> {sub.get('original')}"
                for sub in (subs if isinstance(subs, list) else [])
                if isinstance(sub, dict) and not sub.get("explained", sub.get("relation"))
            )
            weight = SAME_SPIN_RARE_WEIGHT if rare else SAME_SPIN_WEIGHT
            site_a, site_b = row.page_a_site, row.page_b_site
            url_a, url_b = row.page_a_url, row.page_b_url
            if site_b < site_a:
                url_a, url_b = url_b, url_a
            item = SameSpinEvidence(
                url_a, url_b, row.source_url, row.work, row.estimated_jaccard, row.jaccard,
                row.shared, rare, weight,
            )  # fmt: skip
            pairs[_key(site_a, site_b)].same_spins.append(item)


def _site_stats(suspects: dict[int, str], engine: Engine, copies: list[Copy]) -> list[SiteStats]:
    pages: dict[str, int] = defaultdict(int)
    with engine.connect() as connection:
        for site_id in connection.scalars(select(Document.site_id).where(Document.role == "page")):
            if site_id in suspects:
                pages[suspects[site_id]] += 1
    sources: dict[str, set[int]] = defaultdict(set)
    copied: dict[str, set[int]] = defaultdict(set)
    lags: dict[str, list[float]] = defaultdict(list)
    for copy in copies:
        sources[copy.site].add(copy.source_id)
        copied[copy.site].add(copy.page_id)
        lag = lag_hours(copy)
        if lag is not None:
            lags[copy.site].append(lag)
    stats = []
    for domain in sorted(suspects.values()):
        timed = lags[domain]
        lag = round(statistics.median(timed), 1) if timed else None
        stats.append(
            SiteStats(
                domain,
                pages[domain],
                len(copied[domain]),
                len(sources[domain]),
                lag,
                timed_copies=len(timed),
                within_2h=sum(0 <= hours <= 2 for hours in timed),
                within_24h=sum(0 <= hours <= 24 for hours in timed),
            )
        )
    return stats
