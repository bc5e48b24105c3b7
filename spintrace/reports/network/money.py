"""The money trail between sites: who is paid for their ad space.

Read from the stored indicators (:mod:`spintrace.ingest.money` stores ads.txt and app-ads.txt
records and their OWNERDOMAIN / MANAGERDOMAIN; ingest finds AdSense IDs in pages) and the
stored sellers.json entries (``sellers``), never fetched here.

Two sites share a seller account when both list it in ads.txt or app-ads.txt, or when one
lists ``google.com, pub-N`` and the other's pages carry the AdSense ID ``ca-pub-N`` (two sites
with the ID in their pages are already an ``ids`` clue, not counted again). A shared account
weighs (:func:`money_evidence`)::

    weight = base x rarity(k, max(N, MONEY_MIN_POPULATION))
    base   = 0.9   both list it DIRECT and its sellers.json entry is a PUBLISHER (or BOTH)
             0.35  both list it DIRECT and no stored sellers.json entry names it
             0.05  both list it DIRECT and its entry is an INTERMEDIARY (or another type)
             0.02  either lists it as RESELLER

with ``k`` the suspect sites naming the account and ``N`` the suspect sites with any money
trail (:func:`~spintrace.reports.network.model.rarity`, the discount the spins use): big
exchanges' accounts are listed ``DIRECT`` by thousands of unrelated sites. An OWNERDOMAIN or
MANAGERDOMAIN both sites declare weighs 0.5 x the same rarity. Accounts named by more than
:data:`~spintrace.reports.network.model.MAX_SHARING_SITES` sites are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Literal

from sqlalchemy import Connection, Engine, Select, select

from spintrace.db.models import SiteIndicator
from spintrace.db.watch import Seller
from spintrace.records import AdsAccount
from spintrace.reports.network.model import (
    INDICATOR_WEIGHTS,
    MAX_SHARING_SITES,
    MONEY_INTERMEDIARY_WEIGHT,
    MONEY_MIN_POPULATION,
    MONEY_RESELLER_WEIGHT,
    MONEY_UNKNOWN_WEIGHT,
    MoneyEvidence,
    SellerEntry,
    noisy_or,
    rarity,
)

__all__ = [
    "ACCOUNT_KINDS",
    "DOMAIN_KINDS",
    "Listing",
    "MoneyTrail",
    "indicator_rows",
    "money_evidence",
    "money_strength",
    "read_money_trail",
]

ACCOUNT_KINDS = {"ads-txt": "ads.txt", "app-ads-txt": "app-ads.txt"}
"""Indicator kinds holding an ads.txt record, and the file each comes from."""
DOMAIN_KINDS: dict[str, Literal["owner", "manager"]] = {
    "ads-txt-owner": "owner",
    "ads-txt-manager": "manager",
}
"""Indicator kinds holding an ads.txt OWNERDOMAIN / MANAGERDOMAIN."""
PAGE = "page"
"""Where an AdSense ID found in a site's pages comes from."""
_LOOKUP_CHUNK = 500  # account ids per sellers query

Key = tuple[str, str]
"""An account: (ad system, account id lower-cased); an owner or manager domain: ("owner" or
"manager", the domain)."""


@dataclass(frozen=True)
class Listing:
    """One site naming a seller account (in ads.txt, app-ads.txt, or an AdSense ID in its
    pages), or declaring an owner or manager domain. Values are hostile: escape them."""

    site: str
    what: Literal["account", "owner", "manager"]
    key: Key
    ad_system: str
    account_id: str
    """As written (the domain, for an owner or manager)."""
    relationship: str
    """``DIRECT`` or ``RESELLER`` (``DIRECT`` for an AdSense ID in a page; empty for a
    domain)."""
    found_in: str
    """``ads.txt``, ``app-ads.txt`` or ``page`` (``ads.txt`` for a domain of either file;
    ``evidence`` names the file)."""
    evidence: str
    first_seen: datetime
    last_seen: datetime

    @property
    def where(self) -> str:
        """How the site names it, in words: ``ads.txt DIRECT``, ``AdSense ID in its pages``."""
        if self.found_in == PAGE:
            return "AdSense ID in its pages"
        if self.what != "account":
            return f"ads.txt {self.what.upper()}DOMAIN"
        return f"{self.found_in} {self.relationship}"


@dataclass(frozen=True)
class MoneyTrail:
    """What the sites name (``listings``, in reading order) and the sellers.json entries of
    their accounts (``sellers``, by account key; absent when none is stored)."""

    listings: list[Listing]
    sellers: dict[Key, SellerEntry]

    def holders(self) -> dict[Key, dict[str, list[Listing]]]:
        """Per account or domain, each site naming it and how."""
        found: dict[Key, dict[str, list[Listing]]] = defaultdict(lambda: defaultdict(list))
        for listing in self.listings:
            found[listing.key][listing.site].append(listing)
        return {key: dict(sites) for key, sites in found.items()}


def _listing(
    site: str, kind: str, value: str, evidence: str, first_seen: datetime, last_seen: datetime
) -> Listing | None:
    """What one stored indicator row names; ``None`` for a value that is no account."""
    if kind in DOMAIN_KINDS:
        what = DOMAIN_KINDS[kind]
        return Listing(site, what, (what, value), "", value, "", "ads.txt", evidence,
                       first_seen, last_seen)  # fmt: skip
    if kind == "adsense":
        account = AdsAccount.from_adsense(value)
        found_in = PAGE
    else:
        account = AdsAccount.from_value(value)
        found_in = ACCOUNT_KINDS[kind]
    if account is None:
        return None
    key = (account.ad_system, account.account_id.lower())
    return Listing(site, "account", key, account.ad_system, account.account_id,
                   account.relationship, found_in, evidence, first_seen, last_seen)  # fmt: skip


def indicator_rows(
    kinds: Iterable[str],
) -> Select[int, str, str, str, datetime, datetime, int]:
    """A query of the stored indicators of ``kinds`` (site id, kind, value, evidence, first
    and last seen, captures), by kind, value and site."""
    return (
        select(
            SiteIndicator.site_id,
            SiteIndicator.kind,
            SiteIndicator.value,
            SiteIndicator.evidence,
            SiteIndicator.first_seen,
            SiteIndicator.last_seen,
            SiteIndicator.captures,
        )
        .where(SiteIndicator.kind.in_(list(kinds)))
        .order_by(SiteIndicator.kind, SiteIndicator.value, SiteIndicator.site_id)
    )


def read_money_trail(engine: Engine, sites: Mapping[int, str]) -> MoneyTrail:
    """The money trail of ``sites`` (id -> domain): their stored ads.txt and app-ads.txt
    accounts, AdSense IDs, owner and manager domains, and their accounts' sellers."""
    kinds = [*ACCOUNT_KINDS, *DOMAIN_KINDS, "adsense"]
    listings: list[Listing] = []
    with engine.connect() as connection:
        rows = connection.execute(indicator_rows(kinds))
        for row in rows:
            site = sites.get(row.site_id)
            if site is None:
                continue
            listing = _listing(
                site, row.kind, row.value, row.evidence or "", row.first_seen, row.last_seen
            )
            if listing is not None:
                listings.append(listing)
        wanted: dict[str, set[str]] = defaultdict(set)
        for listing in listings:
            if listing.what == "account":
                wanted[listing.ad_system].add(listing.account_id)
        sellers = _read_sellers(connection, wanted)
    return MoneyTrail(listings, sellers)


def _read_sellers(connection: Connection, wanted: Mapping[str, set[str]]) -> dict[Key, SellerEntry]:
    """The stored sellers.json entries of ``wanted`` (ad system -> account ids as written)."""
    found: dict[Key, SellerEntry] = {}
    for system in sorted(wanted):
        ids = sorted(wanted[system])
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            rows = connection.execute(
                select(
                    Seller.seller_id,
                    Seller.name,
                    Seller.domain,
                    Seller.seller_type,
                    Seller.is_confidential,
                    Seller.source,
                    Seller.loaded_at,
                ).where(
                    Seller.ad_system == system,
                    Seller.seller_id.in_(ids[start : start + _LOOKUP_CHUNK]),
                )
            )
            for row in rows:
                found[system, row.seller_id.lower()] = SellerEntry(
                    system, row.seller_id, row.name, row.domain, row.seller_type,
                    bool(row.is_confidential), row.source, row.loaded_at,
                )  # fmt: skip
    return found


def _account_weight(direct: bool, seller: SellerEntry | None) -> tuple[float, str]:
    """The base weight of a shared account, and its basis."""
    if not direct:
        return MONEY_RESELLER_WEIGHT, "reseller"
    if seller is None:
        return MONEY_UNKNOWN_WEIGHT, "unknown seller"
    if seller.publisher:
        return INDICATOR_WEIGHTS["ads-txt"][0], "publisher"
    return MONEY_INTERMEDIARY_WEIGHT, "intermediary"


def _where(listings: list[Listing]) -> str:
    return ", ".join(dict.fromkeys(listing.where for listing in listings))


def money_evidence(trail: MoneyTrail) -> dict[tuple[str, str], list[MoneyEvidence]]:
    """Per pair of sites ``(a, b)``, ``a < b``: the accounts and domains both name, weighed
    as the module docstring says."""
    holders = trail.holders()
    population = max(len({listing.site for listing in trail.listings}), MONEY_MIN_POPULATION)
    found: dict[tuple[str, str], list[MoneyEvidence]] = defaultdict(list)
    for key, by_site in holders.items():
        count = len(by_site)
        if count < 2 or count > MAX_SHARING_SITES:
            continue
        share = rarity(count, population)
        for a, b in combinations(sorted(by_site), 2):
            in_a, in_b = by_site[a], by_site[b]
            first = in_a[0]
            seller = trail.sellers.get(key)
            if first.what == "account":
                if any(x.found_in == PAGE for x in in_a) and any(x.found_in == PAGE for x in in_b):
                    continue  # the AdSense ID on both: the ids evidence has it
                direct = all(any(x.relationship == "DIRECT" for x in side) for side in (in_a, in_b))
                base, basis = _account_weight(direct, seller)
                relationship = "DIRECT" if direct else "RESELLER"
            else:
                kind = next(k for k, what in DOMAIN_KINDS.items() if what == first.what)
                base, basis = INDICATOR_WEIGHTS[kind][0], f"{first.what} domain"
                relationship = ""
            item = MoneyEvidence(
                first.what, first.ad_system, first.account_id, relationship,
                a, _where(in_a), b, _where(in_b), seller, count, base * share, basis,
            )  # fmt: skip
            found[a, b].append(item)
    return found


def money_strength(items: Iterable[MoneyEvidence]) -> float:
    """The money trail's strength on an edge: publishers' accounts and owner or manager
    domains as independent clues; the accounts no sellers.json names together at most
    :data:`MONEY_UNKNOWN_WEIGHT`, intermediaries' and resellers' at most
    :data:`MONEY_INTERMEDIARY_WEIGHT` (an ad manager's block of ads.txt lines, copied whole
    into its clients' files, is one clue, not dozens)."""
    own: list[float] = []
    unknown: list[float] = []
    weak: list[float] = []
    for item in items:
        if item.basis == "unknown seller":
            unknown.append(item.weight)
        elif item.basis in ("intermediary", "reseller"):
            weak.append(item.weight)
        else:
            own.append(item.weight)
    return noisy_or(
        (
            *own,
            min(noisy_or(unknown), MONEY_UNKNOWN_WEIGHT),
            min(noisy_or(weak), MONEY_INTERMEDIARY_WEIGHT),
        )
    )
