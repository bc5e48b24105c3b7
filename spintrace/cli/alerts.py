"""``spintrace alerts``: the pairs linked for the first time, and sending them on.

See :mod:`spintrace.reports.alerts` for the record and the delivery rules, docs/watch.md for
how a watch list sends them after every round.
"""

from __future__ import annotations

import json

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spintrace.cli.app import App
from spintrace.reports.rendering import plural

__all__ = ["alerts"]


@click.group()
def alerts() -> None:
    """Alerts: one per (page, source) pair the first time it is linked."""


@alerts.command("deliver")
@click.option(
    "--to",
    "targets",
    multiple=True,
    required=True,
    metavar="WHERE",
    help="A JSON Lines file (appended), '-' for standard output, or a webhook http(s) URL; "
    "repeatable. A place met for the first time gets every alert not yet sent to it.",
)
@click.option("--from-now", is_flag=True, help="A new place gets only alerts raised from now on.")
@click.option(
    "--retry-seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="First back-off after a failed webhook; it doubles, up to an hour.",
)
@click.pass_obj
def deliver(app: App, targets: tuple[str, ...], from_now: bool, retry_seconds: float) -> None:
    """Send pending alerts; each place gets each alert once (at least once for a webhook that
    drops a connection: the record's ``id`` tells a repeat)."""
    from spintrace.reports.alerts import deliver_alerts, sink_target

    try:
        for target in targets:
            sink_target(target)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    with app.engine() as engine:
        report = deliver_alerts(engine, targets, from_now=from_now, retry_seconds=retry_seconds)
    for sink in report.sinks:
        line = f"{sink.target}: {plural(sink.sent, 'alert')} sent"
        if sink.error:
            line += f"; {sink.pending} waiting ({sink.error})"
            if sink.retry_at:
                line += f", next try after {sink.retry_at.isoformat(timespec='seconds')}"
        click.echo(line, err=True)
    if any(sink.error for sink in report.sinks):
        raise SystemExit(1)


@alerts.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_obj
def list_alerts(app: App, limit: int) -> None:
    """The latest alerts as JSON Lines (newest first), with where each was delivered."""
    from spintrace.db.alerts import Alert, AlertDelivery, AlertSink

    with app.engine() as engine, Session(engine) as session:
        total = session.scalar(select(func.count()).where(Alert.baseline.is_(False)))
        rows = session.scalars(
            select(Alert).where(Alert.baseline.is_(False)).order_by(Alert.id.desc()).limit(limit)
        ).all()
        for alert in rows:
            sent = session.scalars(
                select(AlertSink.target)
                .join(AlertDelivery, AlertDelivery.sink_id == AlertSink.id)
                .where(AlertDelivery.alert_id == alert.id, AlertDelivery.delivered_at.is_not(None))
            ).all()
            record = {**alert.payload, "delivered_to": sorted(sent)}
            click.echo(json.dumps(record, sort_keys=True))
    click.echo(f"{plural(total or 0, 'alert')} in all", err=True)
