"""A dossier per suspect site: everything stored that says who runs it and who is paid.

:func:`write_dossiers` writes one self-contained HTML page per suspect site (a site with
pages) from ``templates/dossier.html``: its tracking and ad account IDs; its ads.txt and
app-ads.txt accounts grouped by ad system, each with its relationship and the seller that the
ad system's stored sellers.json names (name, domain, type); its ads.txt owner and manager
domains; its template traces. Each comes with when it was first and last seen and the other
sites naming it too (an ads.txt ``google.com, pub-N`` and an AdSense ``ca-pub-N`` in a page are
one account), linked to their dossiers. The network report writes the dossiers into
``dossiers/`` beside network.html (:func:`spintrace.reports.network.graph.write_network_report`).

Every value comes from content farms or their ad files: the page is rendered like every report
(:mod:`spintrace.reports.rendering`: escaped, no script, a Content-Security-Policy), and file
names are made from site names by :func:`dossier_name`, never taken as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from spintrace.db.models import Document, Site
from spintrace.errors import ReportError
from spintrace.records import INDICATOR_KINDS, AdsAccount
from spintrace.reports.network.evidence import suspect_sites
from spintrace.reports.network.model import SellerEntry
from spintrace.reports.network.money import (
    PAGE,
    Listing,
    MoneyTrail,
    indicator_rows,
    read_money_trail,
)
from spintrace.reports.rendering import render_html

__all__ = ["MAX_OTHERS", "dossier_name", "write_dossiers"]

MAX_OTHERS = 30
"""Other sites listed per ID or account (then "and N more"): a big exchange's account is in
thousands of ads.txt files."""

_PLAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,98}[a-z0-9])?")
_RANK = {kind.name: number for number, kind in enumerate(INDICATOR_KINDS)}
_ID_KINDS = tuple(kind.name for kind in INDICATOR_KINDS if kind.rule == "id")
_TEMPLATE_KINDS = tuple(kind.name for kind in INDICATOR_KINDS if kind.rule == "weak")


def dossier_name(domain: str) -> str:
    """The file name of ``domain``'s dossier: ``DOMAIN.html`` for a plain lower-case host name
    (``[a-z0-9.-]``, at most 100 characters), else the name reduced to those characters,
    ``_`` and a hash of the exact name (two hostile names never share a file, and no plain
    name has a ``_``)."""
    if _PLAIN.fullmatch(domain):
        return f"{domain}.html"
    slug = re.sub(r"[^a-z0-9.-]+", "-", domain.lower()).strip(".-")[:80] or "site"
    digest = hashlib.sha256(domain.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{slug}_{digest}.html"


@dataclass(frozen=True)
class _Other:
    """Another site naming the same value; ``href`` its dossier (a suspect site's only)."""

    name: str
    href: str | None
    how: str = ""


@dataclass(frozen=True)
class _Item:
    """An ID, account, domain or trace of the site, as the page shows it."""

    kind: str
    value: str
    first_seen: datetime
    last_seen: datetime
    evidence: str
    others: tuple[_Other, ...]
    more: int
    """Other sites not listed (past :data:`MAX_OTHERS`)."""
    captures: int = 0
    relationship: str = ""
    listed_in: str = ""
    seller: SellerEntry | None = None


@dataclass(frozen=True)
class _AdSystem:
    name: str
    accounts: tuple[_Item, ...]


@dataclass(frozen=True)
class _Dossier:
    domain: str
    pages: int
    first_seen: datetime
    ids: tuple[_Item, ...]
    systems: tuple[_AdSystem, ...]
    domains: tuple[_Item, ...]
    templates: tuple[_Item, ...]


@dataclass(frozen=True)
class _Row:
    site: str
    kind: str
    value: str
    evidence: str
    first_seen: datetime
    last_seen: datetime
    captures: int


class _Reader:
    """Everything the dossiers show, read once for all sites."""

    def __init__(self, engine: Engine) -> None:
        self.suspects = suspect_sites(engine)
        with engine.connect() as connection:
            self.sites: dict[int, str] = {}
            self.site_seen: dict[str, datetime] = {}
            for known in connection.execute(select(Site.id, Site.domain, Site.first_seen)):
                self.sites[known.id] = known.domain
                self.site_seen[known.domain] = known.first_seen
            pages = connection.execute(
                select(Site.domain, func.count(Document.id).label("pages"))
                .join(Document, Document.site_id == Site.id)
                .where(Document.role == "page")
                .group_by(Site.domain)
            )
            self.pages: dict[str, int] = {row.domain: row.pages for row in pages}
            rows = connection.execute(indicator_rows((*_ID_KINDS, *_TEMPLATE_KINDS)))
            self.rows: dict[str, list[_Row]] = defaultdict(list)
            self.holders: dict[tuple[str, str], list[str]] = defaultdict(list)
            for row in rows:
                site = self.sites[row.site_id]
                item = _Row(site, row.kind, row.value, row.evidence or "", row.first_seen,
                            row.last_seen, row.captures)  # fmt: skip
                self.rows[site].append(item)
                self.holders[row.kind, row.value].append(site)
        self.trail: MoneyTrail = read_money_trail(engine, self.sites)
        self.money = self.trail.holders()
        self.listings: dict[str, list[Listing]] = defaultdict(list)
        for listing in self.trail.listings:
            self.listings[listing.site].append(listing)
        self.hrefs = {domain: dossier_name(domain) for domain in self.suspects.values()}

    def others(self, site: str, named: list[tuple[str, str]]) -> tuple[tuple[_Other, ...], int]:
        """The other sites among ``named`` ((site, how) pairs), each once, and how many more
        there are than are listed."""
        how: dict[str, list[str]] = defaultdict(list)
        for other, way in named:
            if other != site and way not in how[other]:
                how[other].append(way)
        shown = sorted(how)[:MAX_OTHERS]
        listed = tuple(
            _Other(name, self.hrefs.get(name), ", ".join(w for w in how[name] if w))
            for name in shown
        )
        return listed, len(how) - len(shown)

    def dossier(self, site: str) -> _Dossier:
        ids: list[_Item] = []
        templates: list[_Item] = []
        for row in sorted(self.rows.get(site, ()), key=lambda r: (_RANK[r.kind], r.value)):
            named = [(other, "") for other in self.holders[row.kind, row.value]]
            seller = None
            account = AdsAccount.from_adsense(row.value) if row.kind == "adsense" else None
            if account is not None:
                key = (account.ad_system, account.account_id.lower())
                named += [(x.site, x.where) for x in self._listed(key)]
                seller = self.trail.sellers.get(key)
            others, more = self.others(site, named)
            item = _Item(row.kind, row.value, row.first_seen, row.last_seen, row.evidence,
                         others, more, captures=row.captures, seller=seller)  # fmt: skip
            (ids if row.kind in _ID_KINDS else templates).append(item)
        mine = self.listings.get(site, [])
        return _Dossier(
            site,
            self.pages.get(site, 0),
            self.site_seen[site],
            tuple(ids),
            self._systems(site, [x for x in mine if x.what == "account" and x.found_in != PAGE]),
            tuple(self._merged(site, [x for x in mine if x.what != "account"])),
            tuple(templates),
        )

    def _listed(self, key: tuple[str, str]) -> list[Listing]:
        return [x for listings in self.money.get(key, {}).values() for x in listings]

    def _merged(self, site: str, listings: list[Listing]) -> list[_Item]:
        """One item per account or domain of the site (from either file, any relationship)."""
        by_key: dict[tuple[str, str], list[Listing]] = defaultdict(list)
        for listing in listings:
            by_key[listing.key].append(listing)
        items = []
        for key, same in by_key.items():
            named = [(x.site, x.where) for x in self._listed(key)]
            others, more = self.others(site, named)
            relationships = sorted({x.relationship for x in same if x.relationship})
            files = sorted({x.found_in for x in same})
            items.append(
                _Item(
                    same[0].what,
                    same[0].account_id,
                    min(x.first_seen for x in same),
                    max(x.last_seen for x in same),
                    "; ".join(dict.fromkeys(x.evidence for x in same)),
                    others,
                    more,
                    relationship=", ".join(relationships),
                    listed_in=", ".join(files),
                    seller=self.trail.sellers.get(key),
                )
            )
        # DIRECT accounts first (the ones a site's owner is paid through), then by ID.
        items.sort(key=lambda item: ("DIRECT" not in item.relationship, item.value.lower()))
        return items

    def _systems(self, site: str, listings: list[Listing]) -> tuple[_AdSystem, ...]:
        by_system: dict[str, list[Listing]] = defaultdict(list)
        for listing in listings:
            by_system[listing.ad_system].append(listing)
        return tuple(
            _AdSystem(system, tuple(self._merged(site, by_system[system])))
            for system in sorted(by_system)
        )


_MARK = b"spintrace dossier</title>"


def _prepare(folder: Path) -> None:
    """Make ``folder`` ready: created, and emptied of earlier dossiers (files whose title marks
    them as one; anything else in it is left alone)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for item in folder.iterdir():
            if item.suffix != ".html" or item.is_symlink() or not item.is_file():
                continue
            with item.open("rb") as handle:
                if _MARK in handle.read(4096):
                    item.unlink()
    except OSError as exc:
        raise ReportError(f"cannot write the dossiers to {folder}: {exc.strerror}") from None


def write_dossiers(engine: Engine, out_dir: Path, *, back: str | None = None) -> list[Path]:
    """Write one dossier per suspect site into ``out_dir`` (created; earlier dossiers in it
    are removed, other files left alone), named by :func:`dossier_name`; ``back`` is a
    relative link shown at the top (the network report's page). Returns the files, by site
    name."""
    reader = _Reader(engine)
    _prepare(out_dir)
    generated_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    written = []
    for site in sorted(reader.suspects.values()):
        path = out_dir / dossier_name(site)
        page = render_html(
            "dossier.html", site=reader.dossier(site), back=back, generated_at=generated_at
        )
        try:
            if path.is_symlink():  # never write through a link planted in the folder
                path.unlink()
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
