"""The alert outbox: one alert the first time a (page, source) pair is ever linked.

A pair is known by the identities of its two URLs (:func:`spintrace.db.urls.url_key`), so a page
whose text changed (a new document row), a re-check, a migration or a new matcher version that
links the same pair again raises nothing new. :func:`record_alerts` is called by the match stage
in the transaction that stores the links: a link and its alert commit together or not at all.

Delivery (:mod:`spintrace.reports.alerts`) reads the outbox: every place alerts go is a *sink*
(``alert_sinks``: a JSON Lines file, standard output, a webhook URL) that receives the alerts
raised since it was first configured, each recorded in ``alert_deliveries`` once it arrived,
with attempts, back-off and the last error while it does not.

Links that existed when the outbox was created (migration 0009) are entered as ``baseline``:
known, never sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from spintrace.db.models import Base, Document, utcnow
from spintrace.db.writes import insert_ignoring_conflicts

__all__ = ["Alert", "AlertDelivery", "AlertSink", "alert_key", "record_alerts"]


class Alert(Base):
    """The first link ever stored between a page and a source (by their URLs' identities)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(
        String(32), unique=True, doc="stable alert id: a hash of the two URL identities"
    )
    page_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    source_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    page_url: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSON, doc="the alert record; completed with the link's times when first delivered"
    )
    final: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="payload completed: every sink gets exactly these bytes"
    )
    baseline: Mapped[bool] = mapped_column(
        Boolean, default=False, doc="linked before the outbox existed: known, never sent"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AlertSink(Base):
    """A place alerts go (``file:PATH``, ``stdout``, ``webhook:URL``): it gets the alerts
    from ``first_alert_id`` on (those raised since it was first configured)."""

    __tablename__ = "alert_sinks"

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(Text, unique=True)
    first_alert_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertDelivery(Base):
    """One alert's delivery to one sink: delivered, or attempts so far and when to retry."""

    __tablename__ = "alert_deliveries"

    sink_id: Mapped[int] = mapped_column(
        ForeignKey("alert_sinks.id", ondelete="CASCADE"), primary_key=True
    )
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


def alert_key(page_url_key: str, source_url_key: str) -> str:
    """The stable id of the alert of a (page, source) pair: 32 hex digits of SHA-256."""
    digest = hashlib.sha256(f"{page_url_key}\n{source_url_key}".encode()).hexdigest()
    return digest[:32]


def record_alerts(
    session: Session, links: Iterable[tuple[int, int, Mapping[str, Any]]], baseline: bool = False
) -> int:
    """Enter the links ``(page_id, source_id, fields)`` in the outbox; a pair linked before
    (by URL identity) is left alone. ``fields`` (score, shares...) start the alert's record.
    Returns how many alerts are new."""
    links = list(links)
    if not links:
        return 0
    ids = {doc_id for page_id, source_id, _ in links for doc_id in (page_id, source_id)}
    documents = {
        row.id: row
        for row in session.execute(
            select(Document.id, Document.url, Document.url_key).where(Document.id.in_(ids))
        )
    }
    rows = []
    now = utcnow()
    for page_id, source_id, fields in links:
        page, source = documents[page_id], documents[source_id]
        key = alert_key(page.url_key, source.url_key)
        payload = {
            "id": key,
            "page_url": page.url,
            "source_url": source.url,
            **fields,
            "linked_at": now.isoformat(),
        }
        rows.append(
            {
                "key": key,
                "page_id": page_id,
                "source_id": source_id,
                "page_url": page.url,
                "source_url": source.url,
                "payload": payload,
                "final": False,
                "baseline": baseline,
                "created_at": now,
            }
        )
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:  # the first of a key wins; the batch's order is the alerts' order
        unique.setdefault(row["key"], row)
    known = set(session.scalars(select(Alert.key).where(Alert.key.in_(unique))))
    new = [row for key, row in unique.items() if key not in known]
    if new:
        # A concurrent run may enter the same pair first: its alert stands, this one is dropped.
        session.execute(insert_ignoring_conflicts(session, Alert), new)
    return len(new)
