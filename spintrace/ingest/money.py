"""The money trail into the database: a site's ads.txt / app-ads.txt records as indicators,
and an ad system's sellers.json entries as its ``sellers`` rows.

Fetching is not done here (a watch round fetches ``/ads.txt``, ``/app-ads.txt`` and the
sellers.json files, parses them with :mod:`spintrace.ingest.adstxt` and calls these functions
in its own transaction). What is stored:

- every ads.txt record as an indicator of kind ``ads-txt`` (``app-ads-txt`` for app-ads.txt)
  whose value is :attr:`spintrace.records.AdsAccount.value`
  (``"google.com, pub-1234, DIRECT"``) and whose evidence is the line as written, with its
  number;
- the ``OWNERDOMAIN`` and ``MANAGERDOMAIN`` variables (the site's owner, its ad manager) as
  ``ads-txt-owner`` / ``ads-txt-manager`` indicators, the value the lower-cased domain;
- a sellers.json replaces every stored entry of its ad system (:func:`store_sellers`).

An indicator row is one per (site, kind, value), as for the indicators found in pages: a
re-fetch of an unchanged file adds a sighting (``captures`` + 1, ``last_seen``), never a row,
and a record dropped from the file keeps its row (``last_seen`` says when it was last listed).
The network report weighs the trail (:mod:`spintrace.reports.network.money`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from itertools import islice
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spintrace.db.models import SiteIndicator, utcnow
from spintrace.db.watch import Seller
from spintrace.db.writes import insert_rows, lock_transaction
from spintrace.ingest.adstxt import AdsTxt, SellersJson
from spintrace.records import AdsAccount

__all__ = [
    "MAX_STORED_RECORDS",
    "AdsTxtKind",
    "seller_of",
    "store_ads_txt",
    "store_sellers",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

AdsTxtKind = Literal["ads.txt", "app-ads.txt"]

MAX_STORED_RECORDS = 10_000
"""Records stored per file: large publishers list 1,000-3,000; a file padded past this is
hostile, and the rest of it is logged and left out."""
MAX_EVIDENCE_CHARS = 300
SELLERS_BATCH = 20_000
"""Sellers inserted per statement (the largest exchanges list over a million)."""

_RECORD_KINDS: dict[str, str] = {"ads.txt": "ads-txt", "app-ads.txt": "app-ads-txt"}
_DOMAIN_KINDS: dict[str, str] = {
    "ownerdomain": "ads-txt-owner",
    "managerdomain": "ads-txt-manager",
}
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]+)")
_SELLER_TYPE_CHARS = 16  # sellers.seller_type is String(16)


def _text(value: str) -> str:
    """``value`` as PostgreSQL text can hold it (no NUL)."""
    return value.replace("\x00", "")


def _domain(value: str) -> str | None:
    """The domain of an OWNERDOMAIN / MANAGERDOMAIN value (``MANAGERDOMAIN=example.com,US``
    carries a country after the comma), lower-cased; ``None`` when it is no domain."""
    domain = value.partition(",")[0].strip().lower().removesuffix(".")
    domain = re.sub(r"^https?://", "", domain).partition("/")[0]
    return domain if len(domain) <= 253 and _DOMAIN.fullmatch(domain) else None


def store_ads_txt(
    session: Session,
    site_id: int,
    kind: AdsTxtKind,
    parsed: AdsTxt,
    capture_id: int | None = None,
) -> int:
    """Record a parsed ads.txt (``kind`` ``"ads.txt"``) or app-ads.txt (``"app-ads.txt"``) of
    the site ``site_id`` as its indicators; ``capture_id`` is the file's capture, if stored.

    Returns how many records were stored (the owner and manager domains not counted): all of
    them up to :data:`MAX_STORED_RECORDS`, less any whose value is over
    :attr:`SiteIndicator.MAX_VALUE` characters. Idempotent: a second call with the same file
    counts one more sighting of each row and adds none. Flushes; the caller commits.
    """
    record_kind = _RECORD_KINDS.get(kind)
    if record_kind is None:
        raise ValueError(f"kind must be 'ads.txt' or 'app-ads.txt', not {kind!r}")
    wanted: dict[tuple[str, str], str] = {}
    for record in islice(parsed.records, MAX_STORED_RECORDS):
        account = AdsAccount(record.ad_system, _text(record.account_id), record.relationship)
        value = account.value
        if len(value) > SiteIndicator.MAX_VALUE or AdsAccount.from_value(value) != account:
            logger.info("%s line %d: account id not stored (over-long or empty)", kind, record.line)
            continue
        line = _text(record.raw or value)
        wanted.setdefault((record_kind, value), f"{kind} line {record.line}: {line}")
    stored = len(wanted)
    if len(parsed.records) > MAX_STORED_RECORDS:
        logger.warning(
            "%s of site %d: %d records, only the first %d stored",
            kind, site_id, len(parsed.records), MAX_STORED_RECORDS,
        )  # fmt: skip
    for name, raw in parsed.variables:
        indicator = _DOMAIN_KINDS.get(name)
        domain = _domain(raw) if indicator is not None else None
        if indicator is not None and domain is not None:
            wanted.setdefault((indicator, domain), f"{kind}: {name.upper()}={_text(raw)}")
    _sightings(session, site_id, wanted, capture_id)
    return stored


def _sightings(
    session: Session, site_id: int, wanted: dict[tuple[str, str], str], capture_id: int | None
) -> None:
    """One sighting of each ``(kind, value)`` with its evidence, as
    :meth:`SiteIndicator.record` adds one, but with one query for the whole file (an ads.txt
    has up to thousands of records: a query each would be thousands of round trips)."""
    if not wanted:
        return
    kinds = sorted({kind for kind, _ in wanted})
    existing = {
        (row.kind, row.value): row
        for row in session.scalars(
            select(SiteIndicator).where(
                SiteIndicator.site_id == site_id, SiteIndicator.kind.in_(kinds)
            )
        )
    }
    now = utcnow()
    for (kind, value), evidence in wanted.items():
        row = existing.get((kind, value))
        if row is None:
            row = SiteIndicator(
                site_id=site_id,
                kind=kind,
                value=value,
                evidence=evidence[:MAX_EVIDENCE_CHARS],
                first_capture_id=capture_id,
                captures=0,
                first_seen=now,
            )
            session.add(row)
        row.captures += 1
        row.last_seen = now
    session.flush()


def _sellers_lock(ad_system: str) -> int:
    """The advisory lock key of one ad system's sellers (two loads of it wait for each other)."""
    digest = hashlib.blake2b(f"spintrace-sellers:{ad_system}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def store_sellers(session: Session, ad_system: str, parsed: SellersJson, source: str) -> int:
    """Make the stored sellers of ``ad_system`` (a domain, ``google.com``) those of
    ``parsed``, the ad system's sellers.json read from ``source`` (a URL or file).

    Entries no longer in the file are deleted, the others written afresh (``loaded_at`` is
    this load): the stored entries are the file's, whatever was there. In the caller's
    transaction, under a lock per ad system (PostgreSQL), so two loads of one system do not
    mix; readers see the old entries until it commits. Returns how many entries were stored.
    """
    system = ad_system.strip().lower().removesuffix(".")
    if not system:
        raise ValueError("an ad system (its domain, e.g. google.com) is needed for sellers.json")
    lock_transaction(session, _sellers_lock(system))
    # Replacing beats updating row by row: a sellers.json holds up to millions of entries,
    # bulk-inserted (COPY on PostgreSQL) after one DELETE; nothing refers to a seller's id.
    session.execute(delete(Seller).where(Seller.ad_system == system))
    now = utcnow()
    batch: list[dict[str, Any]] = []
    for seller in parsed.sellers.values():
        batch.append(
            {
                "ad_system": system,
                "seller_id": _text(seller.seller_id),
                "name": None if seller.name is None else _text(seller.name),
                "domain": None if seller.domain is None else _text(seller.domain),
                "seller_type": _text(seller.seller_type)[:_SELLER_TYPE_CHARS],
                "is_confidential": seller.is_confidential,
                "source": _text(source),
                "loaded_at": now,
            }
        )
        if len(batch) >= SELLERS_BATCH:
            insert_rows(session, Seller, batch, ignore_conflicts=True)
            batch = []
    insert_rows(session, Seller, batch, ignore_conflicts=True)
    session.flush()
    logger.info("sellers.json of %s from %s: %d entries", system, source, len(parsed.sellers))
    return len(parsed.sellers)


def seller_of(session: Session, ad_system: str, account_id: str) -> Seller | None:
    """The stored sellers.json entry of ``account_id`` on ``ad_system``; ``None`` when the ad
    system's sellers.json was not loaded or does not list it. An AdSense client ID from a page
    (``ca-pub-N``) is looked up as the ``google.com`` account ``pub-N``."""
    system = ad_system.strip().lower()
    adsense = AdsAccount.from_adsense(account_id)
    if adsense is not None and system == adsense.ad_system:
        account_id = adsense.account_id
    return session.scalar(
        select(Seller).where(Seller.ad_system == system, Seller.seller_id == account_id.strip())
    )
