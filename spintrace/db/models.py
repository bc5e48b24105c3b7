"""The database schema as SQLAlchemy 2.0 typed models.

Alembic migrations (``alembic/versions``) are the only way this schema is created; a test checks
that they and these models never drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    validates,
)

from spintrace.db.urls import canonical_url, site_domain, url_key
from spintrace.db.writes import insert_ignoring_conflicts

__all__ = [
    "Base",
    "Capture",
    "Document",
    "DocumentTokens",
    "IndexSegment",
    "LearnedSubstitution",
    "LshBand",
    "Match",
    "MatchCheck",
    "Signature",
    "Site",
    "SiteIndicator",
    "SpinPair",
    "SubstitutionSite",
    "UTCDateTime",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones and returns naive values; PostgreSQL converts to the session's zone.
    Both come back here as aware UTC datetimes, so values compare and export the same everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: spintrace stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Site(Base):
    """A web site, by registered domain (``news.bbc.co.uk`` is ``bbc.co.uk``); a host with no
    known public suffix (``localhost``, ``*.example``) or an IP address by ``host[:port]``.
    The rule is :func:`spintrace.db.urls.site_domain`."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)

    @staticmethod
    def id_for(session: Session, url: str, cache: dict[str, int] | None = None) -> int:
        """The id of the row of ``url``'s site (:func:`~spintrace.db.urls.site_domain`), added
        (and flushed) when missing.

        ``cache`` (domain -> id) saves a query per URL; clear it after a rolled-back transaction.
        """
        domain = site_domain(url)
        if cache is not None and domain in cache:
            return cache[domain]
        site_id = session.scalar(select(Site.id).where(Site.domain == domain))
        if site_id is None:
            # Insert-or-ignore, then read: a concurrent transaction adding the same host makes
            # this wait for it and use its row, never fail on the unique domain.
            session.execute(
                insert_ignoring_conflicts(session, Site),
                [{"domain": domain, "first_seen": utcnow()}],
            )
            site_id = session.scalar(select(Site.id).where(Site.domain == domain))
            assert site_id is not None
        if cache is not None:
            cache[domain] = site_id
        return site_id


class Capture(Base):
    """The raw bytes of one fetched (or imported) page, kept as evidence.

    One row per body of a URL: the same body met again under a variant of the URL (another
    scheme, ``www.``, tracking parameters, a fragment; the same ``url_key``) adds nothing.
    """

    __tablename__ = "captures"
    __table_args__ = (UniqueConstraint("url_key", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # Indexed for resumed crawls, which look their pages up by URL (crawler/resume.py).
    url: Mapped[str] = mapped_column(
        Text, index=True, doc="canonical URL (spintrace.db.urls.canonical_url)"
    )
    # Added by migration 0005 (one copy counted as five).
    seen_url: Mapped[str] = mapped_column(Text, doc="the URL as it was requested or imported")
    url_key: Mapped[str] = mapped_column(Text, doc="the URL's identity (spintrace.db.urls.url_key)")
    final_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, Any] | None]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    sha256: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the raw (uncompressed) body")
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="the raw body, zlib-compressed")
    body_size: Mapped[int] = mapped_column(Integer)
    # Added by migration 0003 (the crawler); NULL on captures made by `sources/pages import`.
    role: Mapped[str | None] = mapped_column(
        String(6), doc="the role the crawl was started with: 'source' or 'page'"
    )
    content_type: Mapped[str | None] = mapped_column(String(255))
    depth: Mapped[int | None] = mapped_column(Integer, doc="link hops from the crawl's start")
    processed_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="when process_captures looked at it; NULL = not yet"
    )
    outcome: Mapped[str | None] = mapped_column(
        String(16), doc="what processing made of it: document, unchanged, non-article, not-html"
    )

    site: Mapped[Site] = relationship()

    @validates("url")
    def _canonical(self, _key: str, url: str) -> str:
        return _set_url(self, url)


def _set_url(row: Capture | Document, url: str) -> str:
    """What a capture or document stores for ``url``: the canonical URL; its key follows it,
    and the URL as given is kept in ``seen_url`` unless that is set already."""
    if not row.seen_url:
        row.seen_url = url
    row.url_key = url_key(url)
    return canonical_url(url)


class Document(Base):
    """Extracted text with its metadata: a ``source`` (an original) or a ``page`` (a suspect).

    One row per distinct text of a URL: re-importing the same text adds nothing, a changed text
    adds a new row and keeps the old one (history). A URL is known by its ``url_key``, so the
    same text met under a variant of its URL (another scheme, ``www.``, tracking parameters, a
    fragment) is the same document.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("role", "url_key", "text_sha256"),
        CheckConstraint("role IN ('source', 'page')", name="role"),
        Index("ix_documents_role_id", "role", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(6))
    url: Mapped[str] = mapped_column(Text, doc="canonical URL (spintrace.db.urls.canonical_url)")
    # Added by migration 0005 (one copy counted as five).
    seen_url: Mapped[str] = mapped_column(Text, doc="the URL as first met (import or capture)")
    url_key: Mapped[str] = mapped_column(Text, doc="the URL's identity (spintrace.db.urls.url_key)")
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    capture_id: Mapped[int | None] = mapped_column(
        ForeignKey("captures.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(16))
    canonical_url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Added by migration 0008: near-duplicate sources (editions of one story) form a work.
    work_id: Mapped[int | None] = mapped_column(
        Integer,
        index=True,
        doc="a source's work: the smallest id among its near-duplicate editions (NULL: alone)",
    )

    site: Mapped[Site] = relationship()
    capture: Mapped[Capture | None] = relationship()

    @validates("url")
    def _canonical(self, _key: str, url: str) -> str:
        return _set_url(self, url)


class DocumentTokens(Base):
    """A document's lemmatised tokens (``TokenTable`` bytes), so matching never re-tokenises it.

    One row per normalisation version (``kind``): a new feature version adds its own rows.
    """

    __tablename__ = "document_tokens"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(
        String(32), primary_key=True, doc="normalisation and its version"
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Signature(Base):
    """A MinHash signature of a document, with the parameters that made it."""

    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("document_id", "kind", "num_perm", "seed", "scheme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), doc="feature set and its version")
    num_perm: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    scheme: Mapped[str] = mapped_column(String(16), doc="datasketch permutation scheme")
    set_size: Mapped[int] = mapped_column(Integer)
    hashvalues: Mapped[bytes] = mapped_column(LargeBinary, doc="little-endian uint32 values")


_UNORDERED = text('"order" IS NULL')


class Match(Base):
    """A link from a page to the source it copies, with the evidence for it."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("page_id", "source_id"),
        # The links a finish step has still to order, found without walking the rest.
        Index("ix_matches_unordered", "id", sqlite_where=_UNORDERED, postgresql_where=_UNORDERED),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    containment: Mapped[float] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    spin_rate: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]]
    basis: Mapped[str | None] = mapped_column(
        String(10),
        doc="what made it a link: 'alignment', 'passage' or 'paraphrase' (NULL: made by a "
        "matcher older than align-v4, replaced at the next match run)",
    )
    matcher: Mapped[str] = mapped_column(String(32))
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)
    learned_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="when its substitutions were harvested into the learned table"
    )
    # Who came first (spintrace.db.times): each side's time and what it is, and the verdict.
    # Filled by the match stage for every link (NULL only until the next `match` after an
    # upgrade from a database without them).
    page_time: Mapped[datetime | None] = mapped_column(doc="the page's time, if it has one")
    page_time_basis: Mapped[str | None] = mapped_column(String(9), doc="'published' or 'captured'")
    source_time: Mapped[datetime | None] = mapped_column(doc="the source's time, if it has one")
    source_time_basis: Mapped[str | None] = mapped_column(
        String(9), doc="'published' or 'captured'"
    )
    order: Mapped[str | None] = mapped_column(
        String(14), doc="'source-earlier', 'page-earlier' or 'unknown'"
    )

    page: Mapped[Document] = relationship(foreign_keys=[page_id])
    source: Mapped[Document] = relationship(foreign_keys=[source_id])


class MatchCheck(Base):
    """That a page was matched against the index of ``sources_seen`` sources, linked or not."""

    __tablename__ = "match_checks"

    page_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    sources_seen: Mapped[int] = mapped_column(Integer)
    last_source_id: Mapped[int | None] = mapped_column(
        Integer,
        doc="the newest source (highest id) indexed when the page was last judged; a newer "
        "source among its candidates makes it judged again",
    )
    matcher: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), doc="linked, unlinked or too-short")
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class LearnedSubstitution(Base):
    """A spinner substitution harvested from accepted matches: ``spun`` replaces ``original``.

    Both sides are normalised phrases of at most four tokens. ``pairs`` counts the distinct
    (page, source) matches it was seen in; it is used for matching once a thesaurus links a word
    inside it (``relation``) or it recurs in two or more matches.
    """

    __tablename__ = "substitutions"
    __table_args__ = (UniqueConstraint("spun", "original"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    spun: Mapped[str] = mapped_column(Text)
    original: Mapped[str] = mapped_column(Text)
    pairs: Mapped[int] = mapped_column(Integer)
    occurrences: Mapped[int] = mapped_column(Integer)
    relation: Mapped[str | None] = mapped_column(String(32))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class SubstitutionSite(Base):
    """How many matches of a site's pages used a learned substitution (spinner fingerprint)."""

    __tablename__ = "substitution_sites"

    substitution_id: Mapped[int] = mapped_column(
        ForeignKey("substitutions.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    pairs: Mapped[int] = mapped_column(Integer)


class LshBand(Base):
    """One band key of a document's MinHash signature: near-duplicate candidates are documents
    with an equal key in the same band (spintrace.linking.duplicates)."""

    __tablename__ = "lsh_bands"
    __table_args__ = (Index("ix_lsh_bands_kind_band_key", "kind", "band", "key"),)

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True, doc="the signature kind")
    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger)


class SpinPair(Base):
    """Two pages on two sites that publish the same spin of one source: the same substitutions
    against it (spintrace.linking.duplicates)."""

    __tablename__ = "spin_pairs"
    __table_args__ = (UniqueConstraint("page_a_id", "page_b_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    page_a_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_b_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    estimated_jaccard: Mapped[float] = mapped_column(Float, doc="from the MinHash signatures")
    jaccard: Mapped[float] = mapped_column(Float, doc="exact, of the word 3-shingle sets")
    shared: Mapped[int] = mapped_column(Integer, doc="substitutions both pages made")
    unexplained: Mapped[int] = mapped_column(Integer, doc="of those, none a thesaurus explains")
    evidence: Mapped[dict[str, Any]]
    found_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndexSegment(Base):
    """An immutable piece of the candidate index, covering a range of source documents.

    Segments are only ever added (and merged by replacing several with one in a transaction),
    so a reader always sees a consistent set of them while another process adds sources.
    """

    __tablename__ = "index_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), doc="index kind and version")
    first_document_id: Mapped[int] = mapped_column(Integer)
    last_document_id: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteIndicator(Base):
    """A trace of a site's operator (tracking or ad ID, generator, theme...) seen on its pages.

    One row per (site, kind, value); ``captures`` counts the pages it was seen on. Two sites
    sharing an AdSense publisher ID or an Analytics property are likely run by one operator.
    """

    __tablename__ = "indicators"
    __table_args__ = (
        UniqueConstraint("site_id", "kind", "value"),
        Index("ix_indicators_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, doc="plain-text snippet where it was first seen")
    first_capture_id: Mapped[int | None] = mapped_column(
        ForeignKey("captures.id", ondelete="SET NULL")
    )
    captures: Mapped[int] = mapped_column(Integer, doc="pages of the site it was seen on")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)

    # Longer values (a very long outbound URL) are cut: they only need to compare equal.
    MAX_VALUE: ClassVar[int] = 1000

    @staticmethod
    def record(
        session: Session,
        site_id: int,
        kind: str,
        value: str,
        evidence: str,
        capture_id: int | None = None,
    ) -> SiteIndicator:
        """Add one sighting of ``kind``/``value`` on a site: a new row, or one more capture."""
        value = value[: SiteIndicator.MAX_VALUE]
        row = session.scalar(
            select(SiteIndicator).where(
                SiteIndicator.site_id == site_id,
                SiteIndicator.kind == kind,
                SiteIndicator.value == value,
            )
        )
        if row is None:
            row = SiteIndicator(
                site_id=site_id,
                kind=kind,
                value=value,
                evidence=evidence,
                first_capture_id=capture_id,
                captures=0,
            )
            session.add(row)
        row.captures += 1
        row.last_seen = utcnow()
        session.flush()
        return row
