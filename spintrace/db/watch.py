"""What monitoring remembers between rounds, and the sellers of the money trail.

``watch_resources`` holds one row per URL a watch round looks at: the feeds, sitemaps and home
pages of the watch list, each site's ``ads.txt`` and ``app-ads.txt``, and every article URL a
feed or sitemap lists (``entry``). A row keeps what makes the next round cheap: the validators
of the last answer (``etag``, ``last_modified``) for a conditional request, and for an entry
the ``lastmod`` its feed or sitemap gave when it was last fetched, so it is fetched again only
when that changes. ``sellers`` holds the entries of the ``sellers.json`` files a watch list
names: who an ad system's seller account belongs to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from spintrace.db.models import Base, utcnow

__all__ = ["Seller", "StoredWatchList", "WatchResource"]


class WatchResource(Base):
    """A URL a watch round checks, with what its last answer said."""

    __tablename__ = "watch_resources"
    __table_args__ = (UniqueConstraint("kind", "url"), Index("ix_watch_resources_site", "site"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(16), doc="feed, sitemap, home, ads.txt, app-ads.txt or entry"
    )
    url: Mapped[str] = mapped_column(Text)
    site: Mapped[str] = mapped_column(Text, doc="the host it belongs to (without www.)")
    role: Mapped[str] = mapped_column(String(6), doc="source (a publisher) or page (a farm)")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text, doc="the Last-Modified header, as sent")
    lastmod: Mapped[datetime | None] = mapped_column(
        doc="an entry's lastmod (sitemap) or updated date (feed) when it was last fetched"
    )
    status: Mapped[int | None] = mapped_column(Integer, doc="HTTP status of the last answer")
    error: Mapped[str | None] = mapped_column(Text, doc="why the last check failed, if it did")
    failures: Mapped[int] = mapped_column(Integer, default=0, doc="failed checks in a row")
    checked_at: Mapped[datetime | None]
    changed_at: Mapped[datetime | None] = mapped_column(doc="when an answer last had new content")
    retry_at: Mapped[datetime | None] = mapped_column(
        doc="after a failed check: not before then (a back-off doubling with each failure)"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Seller(Base):
    """One entry of an ad system's ``sellers.json``: who a seller account id belongs to."""

    __tablename__ = "sellers"
    __table_args__ = (UniqueConstraint("ad_system", "seller_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ad_system: Mapped[str] = mapped_column(Text, doc="the ad system's domain (google.com)")
    seller_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text, doc="NULL when confidential")
    domain: Mapped[str | None] = mapped_column(Text)
    seller_type: Mapped[str] = mapped_column(String(16), doc="PUBLISHER, INTERMEDIARY or BOTH")
    is_confidential: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(Text, doc="the sellers.json file or URL it came from")
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredWatchList(Base):
    """A watch list synced into the database (``spintrace watch FILE --queue``): workers on
    any machine read it to run its rounds as jobs."""

    __tablename__ = "watch_lists"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(
        JSON, doc="the checked watch list (spintrace.watch.store) and its crawl settings"
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
