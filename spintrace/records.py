"""Frozen dataclasses that cross stage boundaries.

They carry plain values only (no database rows, no numpy arrays) so that every layer can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "ADSENSE_SYSTEM",
    "INDICATOR_KINDS",
    "AdsAccount",
    "Evidence",
    "ExtractedText",
    "IndicatorKind",
    "IndicatorRule",
    "InputRecord",
    "Passage",
    "Role",
    "Substitution",
    "plural",
]

Role = Literal["source", "page"]


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One valid line of an import file: a URL with its text, its HTML, or both (the text is
    then the document and the HTML its capture). ``warnings`` say what was dropped from an
    otherwise good line (an unreadable date)."""

    url: str
    line: int
    text: str | None = None
    html: str | None = None
    title: str | None = None
    published: datetime | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """The main text and metadata of a page. ``None`` fields were not found."""

    text: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A stretch of the page aligned with a stretch of the source.

    Offsets are character offsets into the two original texts (``text[start:end]``).
    ``substitutions`` counts the spun words inside it; 0 means an exact, unspun passage.
    """

    page_start: int
    page_end: int
    source_start: int
    source_end: int
    tokens: int
    substitutions: int


@dataclass(frozen=True, slots=True)
class Substitution:
    """A word or phrase of the source replaced in the page (``spun`` -> ``original``)."""

    spun: str
    original: str
    page_start: int
    source_start: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """What matching a page with a source found (docs/matching.md has the rule).

    - ``score``: how sure the link is, 0..1: ``max(weighted_containment, weighted_coverage) *
      spine`` for an alignment, raised to the link threshold for a rare exact passage; for a
      paraphrase, the geometric mean of its two IDF-weighted shares;
    - ``containment``: share of the page's tokens aligned with the source (for a paraphrase:
      the IDF-weighted share of the page's words that the source has);
    - ``coverage``: share of the source's tokens that were copied (for a paraphrase: the
      IDF-weighted share of the source's words found in the page);
    - ``spin_rate``: share of the aligned page tokens that were substituted;
    - ``longest_exact``: the longest run of words copied verbatim (an unspun passage: the
      strongest evidence of all, as a spinner leaves no such run in an independent text);
    - ``basis``: what made it a link: ``alignment``, ``passage`` (a rare exact passage alone)
      or ``paraphrase``;
    - ``weighted_containment``, ``weighted_coverage``: both shares with every word weighted by
      rarity; ``spine``: share of the source's names and numbers the copy keeps;
      ``rare_passage``: rarity-weighted length of the longest exact passage;
    - ``cosine``, ``number_share``: the paraphrase channel's TF-IDF cosine and share of the
      source's numbers found; ``shared_words``, ``shared_numbers``, ``shared_names``,
      ``shared_quotes``: what a paraphrase shares with the source, in page order.
    """

    score: float
    containment: float
    coverage: float
    spin_rate: float
    page_tokens: int
    source_tokens: int
    longest_exact: int = 0
    passages: tuple[Passage, ...] = field(default=())
    substitutions: tuple[Substitution, ...] = field(default=())
    basis: str = "alignment"
    weighted_containment: float = 0.0
    weighted_coverage: float = 0.0
    spine: float = 1.0
    rare_passage: float = 0.0
    cosine: float = 0.0
    number_share: float = 0.0
    shared_words: tuple[str, ...] = field(default=())
    shared_numbers: tuple[str, ...] = field(default=())
    shared_names: tuple[str, ...] = field(default=())
    shared_quotes: tuple[str, ...] = field(default=())


IndicatorRule = Literal["id", "weak", "rare", "money"]


@dataclass(frozen=True, slots=True)
class IndicatorKind:
    """A kind of operator trace: what ``ingest`` stores and how the network report weighs it.

    - ``rule``: ``"id"`` for an account ID (whoever holds it is paid by, or reads the stats of,
      every site carrying it; never discounted by how many sites share it), ``"weak"`` for a
      template trace shared by unrelated sites too (divided by the sites sharing it - 1),
      ``"rare"`` for a trace that counts only when just two sites have it, ``"money"`` for the
      money trail of ads.txt, weighed by :mod:`spintrace.reports.network.money` (by the
      account's relationship, its sellers.json seller type and how many sites list it);
    - ``weight``: its weight on an edge between two sites, 0..1 (for ``"money"``: the most it
      weighs, a ``DIRECT`` account of a publisher or an owner or manager domain of two sites);
    - ``found_in``: ``"html"`` when :func:`spintrace.ingest.indicators.find_indicators` finds it
      in a page, ``"crawl"`` when the crawler records it (the favicon's hash), ``"ads.txt"``
      when :func:`spintrace.ingest.money.store_ads_txt` stores it from an ads.txt or
      app-ads.txt file.
    """

    name: str
    rule: IndicatorRule
    weight: float
    found_in: Literal["html", "crawl", "ads.txt"] = "html"


INDICATOR_KINDS: tuple[IndicatorKind, ...] = (
    # Account IDs, in the order find_indicators lists them.
    IndicatorKind("google-analytics", "id", 0.8),
    IndicatorKind("google-tag-manager", "id", 0.8),
    IndicatorKind("google-ads", "id", 0.7),
    IndicatorKind("google-tag", "id", 0.7),
    IndicatorKind("adsense", "id", 0.9),
    IndicatorKind("facebook-pixel", "id", 0.8),
    IndicatorKind("yandex-metrica", "id", 0.8),
    IndicatorKind("hotjar", "id", 0.7),
    IndicatorKind("microsoft-clarity", "id", 0.7),
    IndicatorKind("statcounter", "id", 0.7),
    IndicatorKind("quantcast", "id", 0.7),
    IndicatorKind("taboola", "id", 0.5),
    IndicatorKind("outbrain", "id", 0.5),
    IndicatorKind("amazon-affiliate", "id", 0.8),
    # Templates: shared by unrelated sites too.
    IndicatorKind("generator", "weak", 0.05),
    IndicatorKind("wordpress-theme", "weak", 0.2),
    IndicatorKind("wordpress-plugin", "weak", 0.1),
    # Not operator evidence unless only two sites have it (an icon hotlinked from the same
    # third host; the same obscure outbound link).
    IndicatorKind("favicon-url", "rare", 0.3),
    IndicatorKind("outbound-link", "rare", 0.1),
    # A custom icon's SHA-256 ties sites; a stock one (a CMS default) is shared by many.
    IndicatorKind("favicon-hash", "weak", 0.5, found_in="crawl"),
    # The money trail: an ads.txt / app-ads.txt record as AdsAccount.value ("google.com,
    # pub-1, DIRECT"), and the OWNERDOMAIN and MANAGERDOMAIN variables (lower-cased domains).
    # A DIRECT account of a publisher weighs like an AdSense ID; an owner or manager domain
    # is medium evidence (farms copy other sites' ads.txt files wholesale).
    IndicatorKind("ads-txt", "money", 0.9, found_in="ads.txt"),
    IndicatorKind("app-ads-txt", "money", 0.9, found_in="ads.txt"),
    IndicatorKind("ads-txt-owner", "money", 0.5, found_in="ads.txt"),
    IndicatorKind("ads-txt-manager", "money", 0.5, found_in="ads.txt"),
)
"""Every indicator kind, once: adding a kind is a row here and its detection rule."""


ADSENSE_SYSTEM = "google.com"
"""The ad system AdSense and Google Ad Manager accounts are listed under in ads.txt."""


@dataclass(frozen=True, slots=True)
class AdsAccount:
    """A seller account as an ads.txt record names it: ``account_id`` on the ad system
    ``ad_system`` (a lower-cased domain), ``relationship`` ``DIRECT`` or ``RESELLER``.

    Stored as the value of an ``ads-txt`` / ``app-ads-txt`` indicator (:attr:`value`, read
    back with :meth:`from_value`): an account ID cannot hold a comma (ads.txt fields are
    comma-separated), so the value splits back unambiguously.
    """

    ad_system: str
    account_id: str
    relationship: str

    @property
    def value(self) -> str:
        """``"{ad_system}, {account_id}, {relationship}"``."""
        return f"{self.ad_system}, {self.account_id}, {self.relationship}"

    @classmethod
    def from_adsense(cls, client: str) -> AdsAccount | None:
        """The Google account of an AdSense client ID found in a page (``ca-pub-N``, the
        ``adsense`` indicator): ``google.com, pub-N, DIRECT``, as the payee's own ads.txt
        names it; ``None`` for another value."""
        client = client.strip().lower()
        if not client.startswith("ca-pub-") or len(client) == len("ca-pub-"):
            return None
        return cls(ADSENSE_SYSTEM, client.removeprefix("ca-"), "DIRECT")

    @classmethod
    def from_value(cls, value: str) -> AdsAccount | None:
        """The account of a stored indicator value; ``None`` when it is not one."""
        parts = [part.strip() for part in value.split(",")]
        if len(parts) != 3 or not all(parts) or parts[2] not in ("DIRECT", "RESELLER"):
            return None
        return cls(parts[0], parts[1], parts[2])


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural unless it is 1: "1 site", "3 sites", "2 copies"
    (``many`` for an irregular plural). Every summary a person reads counts this way."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"
