"""The complaint pack: what a rights holder attaches to takedown requests.

:func:`build_complaint_pack` writes, for the sources of one site (the owner), a folder with:

- ``infringements.csv``: one row per copying page, the columns bulk takedown forms ask for;
- ``evidence/<n>.html``: original and copy side by side, aligned passages and substitutions
  highlighted, the scores in words, the capture's time and SHA-256;
- ``notices/<site>.txt``: a notice DRAFT per hosting site, for a person to check and sign
  (spintrace never sends anything);
- ``captures.warc.gz``: the raw captures of the copies and originals, when any exist;
- ``index.html`` linking it all.

Reports only read what is stored (documents, captures, match evidence); nothing is matched
again. The stored content is hostile (scraped from content farms): see ``rendering.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.links import LinkTables
from spintrace.db.models import Document, Match, Site, utcnow
from spintrace.db.urls import site_domain
from spintrace.errors import ReportError
from spintrace.reports.complaint.evidence import evidence_view
from spintrace.reports.export import write_rows
from spintrace.reports.rendering import render_html, render_text
from spintrace.reports.tables import spreadsheet_safe

__all__ = ["CSV_COLUMNS", "ComplaintSummary", "build_complaint_pack", "normalise_owner"]

CSV_COLUMNS = (
    "page_url",
    "original_url",
    "original_title",
    "site",
    "abuse_contact",
    "first_seen",
    "original_published",
    "score",
    "containment",
    "coverage",
    "spin_rate",
    "page_time",
    "page_time_basis",
    "order",
    "capture_sha256",
    "evidence",
)
WARC_NAME = "captures.warc.gz"
_PACK_ENTRIES = {"index.html", "infringements.csv", WARC_NAME, "evidence", "notices"}
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True, slots=True)
class ComplaintSummary:
    """What a complaint pack holds: ``works`` copied, by ``copies`` pages, on ``sites``.

    ``captures`` is the number of captures in the WARC; 0 means no WARC was written (every copy
    and original was imported as text).
    """

    owner: str
    output_dir: Path
    works: int
    copies: int
    sites: tuple[str, ...]
    captures: int
    index: Path


@dataclass(frozen=True, slots=True)
class Copy:
    """One copying page of an owner's source, as stored (``number`` is its evidence page)."""

    number: int
    match_id: int
    page_id: int
    source_id: int
    page_url: str
    page_title: str | None
    site: str
    source_url: str
    source_title: str | None
    source_published: datetime | None
    page_added_at: datetime
    score: float
    containment: float
    coverage: float
    spin_rate: float
    matched_at: datetime
    matcher: str
    page_text_sha256: str
    source_text_sha256: str
    capture_id: int | None
    capture_sha256: str | None
    capture_fetched_at: datetime | None
    capture_status: int | None
    source_capture_id: int | None
    page_time: datetime | None
    page_time_basis: str | None
    source_time: datetime | None
    source_time_basis: str | None
    order: str | None
    work_id: int | None = None
    """The source's work (near-duplicate editions of one story), if it has other editions."""
    notice: str = field(default="")
    copied_words: int | None = None
    """Words of the page in the aligned passages (``None``: the evidence has no passages, as
    for a paraphrase)."""

    @property
    def work_key(self) -> int:
        """What identifies the copied work: its work, else the source alone."""
        return self.work_id or self.source_id

    @property
    def first_seen(self) -> datetime:
        """When spintrace first had the page: its capture's fetch time, else its import time."""
        return self.capture_fetched_at or self.page_added_at

    @property
    def evidence_path(self) -> str:
        return f"evidence/{self.number}.html"


def normalise_owner(owner: str) -> str:
    """The host name in ``owner`` (a host, or a URL), lower case, without a leading ``www.``.

    Raises :class:`ReportError` when there is no host name in it.
    """
    value = owner.strip().lower()
    parts = urlsplit(value if "://" in value else f"//{value}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port ("javascript:alert(1)")
    except ValueError:
        host = ""
    else:
        host = (parts.hostname or "").rstrip(".").removeprefix("www.")
    if not _HOST.fullmatch(host):
        raise ReportError(f"--owner {owner!r} is not a host name; give one like example.com")
    return host


def _owner_sites(session: Session, owner: str) -> list[int]:
    """Ids of the owner's sites: its registered domain's site (sites are registered domains:
    ``news.bbc.co.uk`` is on ``bbc.co.uk``), the host itself and its subdomains."""
    wanted = {owner, site_domain(owner)}
    rows = session.execute(select(Site.id, Site.domain)).all()
    return [site_id for site_id, domain in rows if domain in wanted or domain.endswith(f".{owner}")]


def _copies(session: Session, site_ids: Sequence[int]) -> list[Copy]:
    t = LinkTables()
    query = (
        t.select(
            Match.id.label("match_id"),
            t.page.id.label("page_id"),
            t.source.id.label("source_id"),
            t.page.url.label("page_url"),
            t.page.title.label("page_title"),
            t.page_site.domain.label("site"),
            t.source.url.label("source_url"),
            t.source.title.label("source_title"),
            t.source.published.label("source_published"),
            t.page.added_at.label("page_added_at"),
            Match.score,
            Match.containment,
            Match.coverage,
            Match.spin_rate,
            Match.matched_at,
            Match.matcher,
            t.page.text_sha256.label("page_text_sha256"),
            t.source.text_sha256.label("source_text_sha256"),
            t.page_capture.id.label("capture_id"),
            t.page_capture.sha256.label("capture_sha256"),
            t.page_capture.fetched_at.label("capture_fetched_at"),
            t.page_capture.status.label("capture_status"),
            t.source.capture_id.label("source_capture_id"),
            Match.page_time,
            Match.page_time_basis,
            Match.source_time,
            Match.source_time_basis,
            Match.order,
            t.source.work_id.label("work_id"),
        )
        .where(t.source.site_id.in_(site_ids))
        .order_by(t.page_site.domain, t.page.url, t.source.url, Match.id)
    )
    rows = session.execute(query)
    # Named columns, named fields: a column added to the query cannot shift the others.
    return [Copy(number=number, **row._mapping) for number, row in enumerate(rows, 1)]


def _prepare_output(path: Path) -> None:
    """Make ``path`` ready: new, empty, or an earlier pack (whose files are replaced)."""
    if path.exists() and not path.is_dir():
        raise ReportError(f"{path} is a file; give a folder for the complaint pack")
    if path.is_dir():
        entries = {entry.name for entry in path.iterdir()}
        if entries and ("infringements.csv" not in entries or entries - _PACK_ENTRIES):
            raise ReportError(
                f"{path} is not empty and holds no earlier complaint pack; give a new or empty"
                " folder"
            )
        for name, suffix in (("evidence", ".html"), ("notices", ".txt")):
            folder = path / name
            if folder.is_symlink():
                # Never clean through a link: its files are not the pack's. The link goes, and
                # a real folder is made below.
                folder.unlink()
            elif folder.is_dir():
                for item in folder.iterdir():
                    # A link is removed itself (unlink never follows it), a file only by name.
                    if item.suffix == suffix and (item.is_symlink() or item.is_file()):
                        item.unlink()
        (path / WARC_NAME).unlink(missing_ok=True)
    try:
        (path / "evidence").mkdir(parents=True, exist_ok=True)
        (path / "notices").mkdir(exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror}") from None


def _csv_row(copy: Copy, contacts: Mapping[str, str]) -> dict[str, Any]:
    return {
        "page_url": spreadsheet_safe(copy.page_url),
        "original_url": spreadsheet_safe(copy.source_url),
        "original_title": spreadsheet_safe(copy.source_title or ""),
        "site": spreadsheet_safe(copy.site),
        # From the rights holder's contacts file (spintrace looks none up): empty when unknown.
        "abuse_contact": spreadsheet_safe(contacts.get(copy.site, "")),
        "first_seen": copy.first_seen,
        "original_published": copy.source_published,
        "score": copy.score,
        "containment": copy.containment,
        "coverage": copy.coverage,
        "spin_rate": copy.spin_rate,
        "page_time": copy.page_time,
        "page_time_basis": copy.page_time_basis or "",
        "order": copy.order or "unknown",
        "capture_sha256": copy.capture_sha256 or "",
        "evidence": copy.evidence_path,
    }


def _notice_names(sites: Sequence[str]) -> dict[str, str]:
    """A safe, distinct file name per site (site names come from hostile URLs)."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for site in sites:
        base = re.sub(r"[^a-z0-9.-]+", "_", site.lower()).strip("._-")[:100] or "site"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        names[site] = f"notices/{name}.txt"
    return names


def _write_evidence(
    session: Session, output: Path, copies: Sequence[Copy], owner: str
) -> list[Copy]:
    """Write the evidence pages; returns ``copies`` with their copied words counted."""
    threshold = Settings.from_env().match_threshold
    counted: list[Copy] = []
    for copy in copies:
        evidence = session.scalar(select(Match.evidence).where(Match.id == copy.match_id))
        page_text = session.scalar(select(Document.text).where(Document.id == copy.page_id))
        source_text = session.scalar(select(Document.text).where(Document.id == copy.source_id))
        view = evidence_view(
            evidence if isinstance(evidence, dict) else {},
            page_text or "",
            source_text or "",
            scores=(copy.score, copy.containment, copy.coverage, copy.spin_rate),
            threshold=threshold,
        )
        html = render_html(
            "evidence.html",
            owner=owner,
            copy=copy,
            view=view,
            total=len(copies),
            generated_at=utcnow(),
        )
        (output / copy.evidence_path).write_text(html, encoding="utf-8")
        words = sum(passage.words for passage in view.passages) if view.passages else None
        counted.append(replace(copy, copied_words=words))
    return counted


def _write_warc(engine: Engine, output: Path, copies: Sequence[Copy]) -> int:
    ids = {copy.capture_id for copy in copies} | {copy.source_capture_id for copy in copies}
    capture_ids = {capture_id for capture_id in ids if capture_id is not None}
    if not capture_ids:
        return 0
    from spintrace.reports.warc import write_warc

    with (output / WARC_NAME).open("wb") as stream:
        return write_warc(engine, stream, capture_ids=capture_ids)


def build_complaint_pack(
    engine: Engine,
    owner: str,
    output_dir: str | Path,
    contacts: Mapping[str, str] | None = None,
) -> ComplaintSummary:
    """Write the complaint pack for the sources of ``owner`` (a host) into ``output_dir``.

    Sources on ``owner`` and its subdomains count. ``output_dir`` must be new, empty, or an
    earlier complaint pack (its files are replaced). ``contacts``: site -> abuse contact
    (:func:`spintrace.reports.complaint.contacts.read_contacts`), for the CSV and the notices.
    Raises :class:`ReportError` when no source of ``owner`` is stored (a typo, usually) or the
    folder cannot be used.
    """
    contacts = dict(contacts or {})
    host = normalise_owner(owner)
    output = Path(output_dir)
    with Session(engine) as session:
        site_ids = _owner_sites(session, host)
        has_sources = bool(site_ids) and session.scalar(
            select(Document.id)
            .where(Document.role == "source", Document.site_id.in_(site_ids))
            .limit(1)
        )
        if not has_sources:
            raise ReportError(f"no sources from {host} are stored; import or crawl them first")
        found = _copies(session, site_ids)
        names = _notice_names(sorted({copy.site for copy in found}))
        copies = [replace(copy, notice=names[copy.site]) for copy in found]
        _prepare_output(output)
        # The BOM tells Excel the file is UTF-8 (without it, it reads accented titles in the
        # local code page). Here only: `spintrace export` output stays plain UTF-8.
        with (output / "infringements.csv").open("w", newline="", encoding="utf-8-sig") as handle:
            write_rows((_csv_row(c, contacts) for c in copies), "csv", handle, CSV_COLUMNS)
        copies = _write_evidence(session, output, copies, host)
    generated_at = utcnow()
    sites: dict[str, list[Copy]] = {}
    works: dict[int, list[Copy]] = {}
    for copy in copies:
        sites.setdefault(copy.site, []).append(copy)
        works.setdefault(copy.work_key, []).append(copy)
    for group in works.values():  # the earliest dated edition first: the work's original
        group.sort(key=_edition_order)
    for site, site_copies in sites.items():
        text = render_text(
            "notice.txt",
            owner=host,
            site=site,
            contact=contacts.get(site),
            copies=site_copies,
            works=_works_of(site_copies),
            generated_at=generated_at,
        )
        (output / names[site]).write_text(text, encoding="utf-8")
    captures = _write_warc(engine, output, copies)
    index = output / "index.html"
    index.write_text(
        render_html(
            "index.html",
            owner=host,
            copies=copies,
            works=[group for group in works.values()],
            sites=sites,
            contacts=contacts,
            notices=names,
            captures=captures,
            warc=WARC_NAME if captures else None,
            uncaptured=sum(1 for copy in copies if copy.capture_id is None),
            generated_at=generated_at,
        ),
        encoding="utf-8",
    )
    return ComplaintSummary(
        host, output, len(works), len(copies), tuple(sorted(sites)), captures, index
    )


def _edition_order(copy: Copy) -> tuple[bool, datetime, str, int]:
    """Earliest published edition first (undated last), then by URL and link."""
    published = copy.source_published or datetime.max.replace(tzinfo=UTC)
    return (copy.source_published is None, published, copy.source_url, copy.number)


def _works_of(copies: Sequence[Copy]) -> list[Copy]:
    """One copy per distinct work (the editions of one story are one work, named by its
    earliest dated edition), in order: the works a notice identifies."""
    seen: dict[int, Copy] = {}
    for copy in sorted(copies, key=_edition_order):
        seen.setdefault(copy.work_key, copy)
    return sorted(seen.values(), key=lambda copy: copy.source_url)
