"""Delivering alerts from the outbox (:mod:`spintrace.db.alerts`): JSON Lines and webhooks.

Every alert is one JSON object: a stable ``id`` (the same for every delivery of it, so a
receiver can drop a repeat), ``page_url``, ``source_url``, ``score``, ``containment``,
``coverage``, ``spin_rate``, ``basis``, ``matcher``, ``linked_at`` and the dates that order the
pair: ``page_time`` and ``page_time_basis``, ``source_time`` and ``source_time_basis``,
``order``, and the copy delays in hours from the source's publication to the page's first
capture (``copy_delay_hours``) and to its own published date (``published_delay_hours``).
The record is completed when it is first delivered anywhere and is then fixed: every sink gets
the same bytes.

A sink is a place alerts go: ``stdout``, ``file:PATH`` (JSON Lines, appended) or
``webhook:URL`` (one POST per alert, body the JSON object, ``X-Spintrace-Alert-Id`` header).
A sink receives every alert raised since it was first configured (with ``from_now``: from the
next one on), in order. Delivery is at least once: an alert is marked delivered only after it
was written and flushed, or after the webhook answered 2xx. A failing webhook (refused, timed
out, a dropped connection, a non-2xx answer) keeps its alerts and is tried again after a
back-off that doubles from ``retry_seconds`` up to an hour; an alert is never given up.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from spintrace._version import __version__
from spintrace.db.alerts import Alert, AlertDelivery, AlertSink
from spintrace.db.links import LinkTables
from spintrace.db.locks import lock_key
from spintrace.db.models import Match, utcnow
from spintrace.db.times import copy_delay, link_times, order_of
from spintrace.db.writes import is_postgresql

__all__ = ["DeliveryReport", "SinkReport", "deliver_alerts", "parse_sink", "sink_target"]

logger = logging.getLogger(__name__)

BATCH = 200
"""Alerts sent to one sink per transaction."""
MAX_BACKOFF = timedelta(hours=1)
TIMEOUT_SECONDS = 10.0


@dataclass
class SinkReport:
    """What one sink got in one delivery pass."""

    target: str
    sent: int = 0
    pending: int = 0
    error: str | None = None
    retry_at: datetime | None = None


@dataclass
class DeliveryReport:
    """What a delivery pass did, per sink."""

    sinks: list[SinkReport] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.sinks)

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.sinks)


def sink_target(where: str) -> str:
    """The stored form of a place alerts go: ``-`` or ``stdout``, an ``http(s)://`` URL (a
    webhook) or a file path; :class:`ValueError` for anything else."""
    if where in ("-", "stdout"):
        return "stdout"
    if where.startswith(("http://", "https://")):
        return f"webhook:{where}"
    if where.startswith(("webhook:", "file:")):
        return sink_target(where.split(":", 1)[1]) if where.startswith("webhook:") else where
    if "://" in where:
        raise ValueError(f"alerts go to a file, '-' or an http(s) URL, not {where!r}")
    return f"file:{Path(where).expanduser().resolve()}"


def parse_sink(target: str) -> tuple[str, str]:
    """``(kind, where)`` of a stored target: ``("stdout", "")``, ``("file", path)`` or
    ``("webhook", url)``."""
    kind, _, where = target.partition(":")
    return kind, where


def deliver_alerts(
    engine: Engine,
    targets: Sequence[str],
    *,
    from_now: bool = False,
    retry_seconds: float = 60.0,
    now: datetime | None = None,
) -> DeliveryReport:
    """Send every pending alert to each of ``targets`` (see :func:`sink_target`).

    A target met for the first time becomes a sink that gets every alert not yet sent to it,
    or with ``from_now`` only those raised from now on. ``now`` (tests) stands for the clock.
    """
    report = DeliveryReport()
    for target in dict.fromkeys(sink_target(t) for t in targets):
        sink_id = _sink(engine, target, from_now)
        report.sinks.append(_deliver(engine, sink_id, target, retry_seconds, now))
    return report


def _sink(engine: Engine, target: str, from_now: bool) -> int:
    with Session(engine) as session, session.begin():
        sink = session.scalar(select(AlertSink).where(AlertSink.target == target))
        if sink is None:
            newest = session.scalar(select(func.max(Alert.id))) or 0
            sink = AlertSink(target=target, first_alert_id=newest + 1 if from_now else 0)
            session.add(sink)
            session.flush()
        return sink.id


def _deliver(
    engine: Engine, sink_id: int, target: str, retry_seconds: float, now: datetime | None
) -> SinkReport:
    report = SinkReport(target)
    while True:
        with Session(engine) as session, session.begin():
            if is_postgresql(session):
                got = session.scalar(
                    select(func.pg_try_advisory_xact_lock(lock_key(f"alert-sink:{target}")))
                )
                if not got:  # another process is delivering to this sink
                    report.pending = _pending_count(session, sink_id)
                    return report
            clock = now or utcnow()
            batch = _pending(session, sink_id, BATCH)
            if not batch:
                return report
            first = batch[0][1]
            if first is not None and first.next_attempt_at and first.next_attempt_at > clock:
                report.retry_at = first.next_attempt_at
                report.error = first.last_error
                report.pending = _pending_count(session, sink_id)
                return report
            sent, error = _send(session, target, [alert for alert, _ in batch])
            for alert, delivery in batch[:sent]:
                delivery = delivery or _new_delivery(session, sink_id, alert.id)
                delivery.attempts += 1
                delivery.delivered_at = clock
                delivery.next_attempt_at = None
            report.sent += sent
            if error is not None:
                alert, delivery = batch[sent]
                delivery = delivery or _new_delivery(session, sink_id, alert.id)
                delivery.attempts += 1
                delivery.last_error = error[:500]
                # Capped before it is a timedelta: 2**41 minutes overflows (a long outage).
                doubled = retry_seconds * 2 ** min(delivery.attempts - 1, 30)
                backoff = timedelta(seconds=min(doubled, MAX_BACKOFF.total_seconds()))
                delivery.next_attempt_at = clock + min(backoff, MAX_BACKOFF)
                report.error, report.retry_at = error, delivery.next_attempt_at
                retry = delivery.next_attempt_at.isoformat(timespec="seconds")
                logger.warning(
                    "alert %s not delivered to %s (%s); retrying after %s",
                    alert.key, target, error, retry,
                )  # fmt: skip
                session.flush()
                report.pending = _pending_count(session, sink_id)
                return report


def _new_delivery(session: Session, sink_id: int, alert_id: int) -> AlertDelivery:
    delivery = AlertDelivery(sink_id=sink_id, alert_id=alert_id, attempts=0)
    session.add(delivery)
    return delivery


def _pending_query(sink_id: int) -> Any:
    sink_from = select(AlertSink.first_alert_id).where(AlertSink.id == sink_id).scalar_subquery()
    return (
        select(Alert, AlertDelivery)
        .outerjoin(
            AlertDelivery,
            and_(AlertDelivery.alert_id == Alert.id, AlertDelivery.sink_id == sink_id),
        )
        .where(
            Alert.baseline.is_(False),
            Alert.id >= sink_from,
            AlertDelivery.delivered_at.is_(None),
        )
    )


def _pending(session: Session, sink_id: int, limit: int) -> list[tuple[Alert, AlertDelivery]]:
    rows = session.execute(_pending_query(sink_id).order_by(Alert.id).limit(limit)).all()
    return [(alert, delivery) for alert, delivery in rows]


def _pending_count(session: Session, sink_id: int) -> int:
    query = _pending_query(sink_id).with_only_columns(func.count(Alert.id))
    return int(session.scalar(query) or 0)


def _send(session: Session, target: str, alerts: list[Alert]) -> tuple[int, str | None]:
    """Send ``alerts`` in order; ``(how many arrived, the error that stopped the rest)``."""
    lines = [json.dumps(_record(session, alert), sort_keys=True) for alert in alerts]
    kind, where = parse_sink(target)
    if kind == "stdout":
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
        return len(lines), None
    if kind == "file":
        try:
            with open(where, "a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in lines))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            return 0, f"cannot write {where}: {exc.strerror or exc}"
        return len(lines), None
    for sent, (alert, line) in enumerate(zip(alerts, lines, strict=True)):
        error = _post(where, alert.key, line.encode())
        if error is not None:
            return sent, error
    return len(lines), None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that answers 3xx has not received the alert: urllib would repeat the POST as
    a GET to the new place and call that delivered."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _post(url: str, key: str, body: bytes) -> str | None:
    """POST one alert; ``None`` when the receiver answered 2xx, else why not."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"spintrace/{__version__} (alerts)",
            "X-Spintrace-Alert-Id": key,
        },
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            answer.read(65536)
            return None
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "?") if exc.headers else "?"
            return f"HTTP {exc.code} to {where[:200]}: redirects are not followed, give that URL"
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{type(exc).__name__}: {reason}"[:300]
    except Exception as exc:  # http.client oddities (a dropped connection, a bad status line)
        return f"{type(exc).__name__}: {exc}"[:300]


def _record(session: Session, alert: Alert) -> dict[str, Any]:
    """The alert's JSON record, completed with its link's times the first time it is sent."""
    if alert.final:
        return alert.payload
    payload = dict(alert.payload)
    t = LinkTables()
    row = None
    if alert.page_id is not None and alert.source_id is not None:
        row = session.execute(
            t.select(*t.time_columns()).where(
                Match.page_id == alert.page_id, Match.source_id == alert.source_id
            )
        ).first()
    page = source = None
    delay_captured = delay_published = None
    if row is not None:
        page, source = link_times(row)
        delay = copy_delay(row)
        delay_captured, delay_published = delay.captured, delay.published
    payload.update(
        {
            "page_time": page.at.isoformat() if page else None,
            "page_time_basis": page.basis if page else None,
            "source_time": source.at.isoformat() if source else None,
            "source_time_basis": source.basis if source else None,
            "order": order_of(page, source),
            "copy_delay_hours": delay_captured,
            "published_delay_hours": delay_published,
        }
    )
    alert.payload = payload
    alert.final = True
    return payload
