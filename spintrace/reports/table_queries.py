"""The query behind each export table and notebook frame, and the columns computed from them.

One query per table (``spintrace export TABLE``, ``spintrace.open(...).TABLE()``): the export
(:mod:`spintrace.reports.export`) streams its rows, the frames
(:mod:`spintrace.reports.frame_queries`) narrow it in SQL to the columns, site and time asked
for. Columns computed in Python from a row (a match's passage count, its copy delay; the
substitution rows of the evidence table) are computed here too, from the few columns each
needs (:data:`MATCH_DERIVED`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from spintrace.db.links import LinkTables
from spintrace.db.models import (
    Capture,
    Document,
    LearnedSubstitution,
    Match,
    MatchCheck,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.db.times import copy_delay

__all__ = [
    "DOCUMENT_COLUMNS",
    "EVIDENCE_COLUMNS",
    "EVIDENCE_INPUTS",
    "MATCH_COLUMNS",
    "MATCH_DERIVED",
    "captures_query",
    "derive_match_columns",
    "documents_query",
    "evidence_rows",
    "indicators_query",
    "match_checks_query",
    "matches_query",
    "sites_query",
    "substitutions_query",
]

DOCUMENT_COLUMNS = (
    "id",
    "url",
    "site",
    "title",
    "author",
    "published",
    "language",
    "canonical_url",
    "text_sha256",
    "added_at",
    "links",
    "text",
)
MATCH_COLUMNS = (
    "page_url",
    "source_url",
    "score",
    "containment",
    "coverage",
    "spin_rate",
    "matched_at",
    "page_site",
    "source_site",
    "page_title",
    "source_title",
    "source_published",
    "page_added_at",
    "page_published",
    "page_time",
    "page_time_basis",
    "source_time",
    "source_time_basis",
    "order",
    "copy_delay_hours",
    "published_delay_hours",
    "passages",
    "substitutions",
    "longest_exact",
    "matcher",
    "basis",
    "source_work",
    "source_editions",
    "evidence",
)


def documents_query(role: str) -> Select[*tuple[Any, ...]]:
    """The pages (``role`` "page") or sources export: every document with its site and how
    many links it has."""
    linked = (
        select(func.count())
        .where((Match.page_id if role == "page" else Match.source_id) == Document.id)
        .scalar_subquery()
    )
    return (
        select(
            Document.id,
            Document.url,
            Site.domain.label("site"),
            Document.title,
            Document.author,
            Document.published,
            Document.language,
            Document.canonical_url,
            Document.text_sha256,
            Document.added_at,
            linked.label("links"),
            Document.text,
        )
        .join(Site, Site.id == Document.site_id)
        .where(Document.role == role)
        .order_by(Document.id)
    )


def matches_query() -> Any:
    """Every link with its page's and source's URL, site, title and dates, and its evidence.

    The one query behind the matches export, the notebook frames and the reports.
    """
    t = LinkTables()
    edition = aliased(Document)
    editions = (
        select(func.count())
        .where(edition.work_id == t.source.work_id, edition.role == "source")
        .scalar_subquery()
    )
    return t.select(
        Match.id,
        Match.page_id,
        Match.source_id,
        t.page.url.label("page_url"),
        t.source.url.label("source_url"),
        Match.score,
        Match.containment,
        Match.coverage,
        Match.spin_rate,
        Match.matched_at,
        t.page_site.domain.label("page_site"),
        t.source_site.domain.label("source_site"),
        t.page.title.label("page_title"),
        t.source.title.label("source_title"),
        t.source.published.label("source_published"),
        t.page.added_at.label("page_added_at"),
        t.page.published.label("page_published"),
        Match.page_time,
        Match.page_time_basis,
        Match.source_time,
        Match.source_time_basis,
        Match.order,
        t.page_capture.fetched_at.label("page_fetched_at"),
        t.page_capture.headers.label("page_headers"),
        Match.matcher,
        Match.basis,
        t.source.work_id.label("source_work"),
        editions.label("source_editions"),
        Match.evidence,
    ).order_by(Match.id)


def _listed(evidence: object, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a match's evidence, its well-formed entries only: evidence is JSON
    in the database, and a hand-edited or damaged one must not stop an export."""
    items = evidence.get(key) if isinstance(evidence, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


_DELAY_INPUTS = (
    "page_published",
    "page_added_at",
    "page_fetched_at",
    "page_headers",
    "source_published",
)
#: The matches export's computed columns, and the columns of :func:`matches_query` each is
#: computed from.
MATCH_DERIVED: dict[str, tuple[str, ...]] = {
    "passages": ("evidence",),
    "substitutions": ("evidence",),
    "longest_exact": ("evidence",),
    "copy_delay_hours": _DELAY_INPUTS,
    "published_delay_hours": _DELAY_INPUTS,
}


def derive_match_columns(data: dict[str, Any], wanted: Iterable[str] = MATCH_DERIVED) -> None:
    """Add the computed columns ``wanted`` (:data:`MATCH_DERIVED`) to ``data``, a row of
    :func:`matches_query` holding at least the columns they are computed from."""
    wanted = set(wanted)
    evidence = data.get("evidence")
    if "passages" in wanted:
        data["passages"] = len(_listed(evidence, "passages"))
    if "substitutions" in wanted:
        data["substitutions"] = len(_listed(evidence, "substitutions"))
    if "longest_exact" in wanted:
        longest = evidence.get("longest_exact") if isinstance(evidence, dict) else None
        data["longest_exact"] = longest if isinstance(longest, int) else 0
    if wanted & {"copy_delay_hours", "published_delay_hours"}:
        delay = copy_delay(
            SimpleNamespace(
                published=data["page_published"],
                added_at=data["page_added_at"],
                fetched_at=data["page_fetched_at"],
                headers=data["page_headers"],
                source_published=data["source_published"],
            )
        )
        data["copy_delay_hours"] = delay.captured
        data["published_delay_hours"] = delay.published


#: The evidence table: one row per substitution of every link.
EVIDENCE_COLUMNS = (
    "match_id",
    "page_url",
    "source_url",
    "page_site",
    "spun",
    "original",
    "relation",
    "page_start",
    "source_start",
)
#: The columns of :func:`matches_query` the evidence rows are made from.
EVIDENCE_INPUTS = ("id", "page_url", "source_url", "page_site", "evidence")


def evidence_rows(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The evidence table's rows of one link, a row of :func:`matches_query` holding at least
    :data:`EVIDENCE_INPUTS`: one per well-formed substitution of its evidence."""
    for sub in _listed(row.get("evidence"), "substitutions"):
        yield {
            "match_id": row["id"],
            "page_url": row["page_url"],
            "source_url": row["source_url"],
            "page_site": row["page_site"],
            "spun": sub.get("spun", ""),
            "original": sub.get("original", ""),
            "relation": sub.get("relation"),
            "page_start": sub.get("page_start"),
            "source_start": sub.get("source_start"),
        }


def sites_query() -> Select[*tuple[Any, ...]]:
    """The sites export: every site with its pages, sources and the copies between them."""
    page, source = aliased(Document), aliased(Document)

    def count(role: str) -> Any:
        return (
            select(func.count())
            .where(Document.site_id == Site.id, Document.role == role)
            .scalar_subquery()
        )

    def distinct(column: Any, side: Any) -> Any:
        return (
            select(func.count(func.distinct(column)))
            .join(side, side.id == (Match.page_id if side is page else Match.source_id))
            .where(side.site_id == Site.id)
            .scalar_subquery()
        )

    return select(
        Site.domain.label("site"),
        Site.first_seen,
        count("page").label("pages"),
        count("source").label("sources"),
        distinct(Match.page_id, page).label("copied_pages"),
        distinct(Match.source_id, page).label("sources_copied"),
        distinct(Match.page_id, source).label("copied_from_here"),
    ).order_by(Site.domain)


def indicators_query() -> Select[*tuple[Any, ...]]:
    """The indicators export: every operator trace of every site."""
    return (
        select(
            Site.domain.label("site"),
            SiteIndicator.kind,
            SiteIndicator.value,
            SiteIndicator.captures,
            SiteIndicator.evidence,
            SiteIndicator.first_seen,
            SiteIndicator.last_seen,
        )
        .join(Site, Site.id == SiteIndicator.site_id)
        .order_by(Site.domain, SiteIndicator.kind, SiteIndicator.value)
    )


def substitutions_query() -> Select[*tuple[Any, ...]]:
    """The substitutions export: every learned substitution with each site that used it."""
    return (
        select(
            LearnedSubstitution.spun,
            LearnedSubstitution.original,
            LearnedSubstitution.pairs,
            LearnedSubstitution.occurrences,
            LearnedSubstitution.relation,
            Site.domain.label("site"),
            SubstitutionSite.pairs.label("site_pairs"),
            LearnedSubstitution.first_seen,
            LearnedSubstitution.last_seen,
        )
        .join(SubstitutionSite, SubstitutionSite.substitution_id == LearnedSubstitution.id)
        .join(Site, Site.id == SubstitutionSite.site_id)
        .order_by(LearnedSubstitution.pairs.desc(), LearnedSubstitution.spun, Site.domain)
    )


def captures_query() -> Select[*tuple[Any, ...]]:
    """Every stored capture, without its body: where and when it was fetched, what came back,
    what processing made of it, and the document extracted from it (if any)."""
    document = (
        select(func.min(Document.id)).where(Document.capture_id == Capture.id).scalar_subquery()
    )
    return (
        select(
            Capture.id,
            Capture.url,
            Site.domain.label("site"),
            Capture.seen_url,
            Capture.final_url,
            Capture.status,
            Capture.content_type,
            Capture.body_size,
            Capture.sha256,
            Capture.fetched_at,
            Capture.role,
            Capture.depth,
            Capture.processed_at,
            Capture.outcome,
            document.label("document_id"),
            Capture.headers,
        )
        .join(Site, Site.id == Capture.site_id)
        .order_by(Capture.id)
    )


def match_checks_query() -> Select[*tuple[Any, ...]]:
    """Every page's last check: its verdict, the matcher (and settings) that made it, the
    sources it was judged against, when, and how many links it has."""
    links = select(func.count()).where(Match.page_id == MatchCheck.page_id).scalar_subquery()
    return (
        select(
            MatchCheck.page_id,
            Document.url.label("page_url"),
            Site.domain.label("site"),
            MatchCheck.outcome,
            links.label("links"),
            MatchCheck.matcher,
            MatchCheck.sources_seen,
            MatchCheck.last_source_id,
            MatchCheck.checked_at,
        )
        .join(Document, Document.id == MatchCheck.page_id)
        .join(Site, Site.id == Document.site_id)
        .order_by(MatchCheck.page_id)
    )
