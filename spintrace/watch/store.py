"""Watch lists in the database, for workers on any machine (``spintrace watch FILE --queue``).

A watch list is stored as the checked list itself (JSON: its paths already resolved against
the file's folder, so a worker needs no copy of the file) with the crawl settings it was queued
with. Alert files and local sellers.json paths are read and written on the worker that runs a
job: with workers on several machines, send alerts to a webhook and give sellers.json as URLs.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.db.models import utcnow
from spintrace.db.watch import StoredWatchList
from spintrace.watch.config import AlertSettings, SellersFile, Target, WatchList

__all__ = ["from_json", "save_watch_list", "stored_watch_lists", "to_json"]


def to_json(watch: WatchList, crawl_settings: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a watch list and its crawl settings."""
    return {"watch": asdict(watch), "crawl_settings": dict(crawl_settings)}


def from_json(data: dict[str, Any]) -> tuple[WatchList, dict[str, Any]]:
    """Inverse of :func:`to_json`."""
    watch = data["watch"]
    targets = tuple(
        Target(
            role=t["role"],
            name=t["name"],
            home=t["home"],
            feeds=tuple(t["feeds"]),
            sitemaps=tuple(t["sitemaps"]),
            every=float(t["every"]),
        )
        for t in watch["targets"]
    )
    alerts = AlertSettings(tuple(watch["alerts"]["to"]), float(watch["alerts"]["retry_seconds"]))
    sellers = tuple(
        SellersFile(s["system"], s["location"], bool(s["is_url"])) for s in watch["sellers"]
    )
    return WatchList(targets, alerts, sellers), dict(data.get("crawl_settings") or {})


def save_watch_list(
    engine: Engine, name: str, watch: WatchList, crawl_settings: dict[str, Any]
) -> None:
    """Store (or replace) the watch list ``name``."""
    with Session(engine) as session, session.begin():
        row = session.get(StoredWatchList, name)
        if row is None:
            row = StoredWatchList(name=name)
            session.add(row)
        row.data = to_json(watch, crawl_settings)
        row.updated_at = utcnow()


def stored_watch_lists(engine: Engine) -> dict[str, tuple[WatchList, dict[str, Any]]]:
    """Every stored watch list by name, with its crawl settings."""
    with Session(engine) as session:
        rows = session.scalars(select(StoredWatchList).order_by(StoredWatchList.name)).all()
        return {row.name: from_json(row.data) for row in rows}
