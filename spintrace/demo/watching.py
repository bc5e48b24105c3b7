"""The demo's watch round: the watch list of its sites, one round, and the money trail.

After the demo's crawls and match, :func:`watch_round` writes ``watch.toml`` (the publishers
and the farms, alerts to ``alerts.jsonl``, the small ad network's ``sellers.json``) into the
demo folder and runs one round of ``spintrace watch`` over the same loopback servers: the
lists are fetched, nothing already captured is fetched again, the links found by the match
are delivered as alerts (each pair's first link), and each farm's ``ads.txt`` is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from spintrace.db.engine import open_engine
from spintrace.db.models import Site, SiteIndicator
from spintrace.db.watch import Seller
from spintrace.demo.content import DemoSite
from spintrace.demo.farm import EXCHANGE, EXCHANGE_SELLERS, SELLERS, SMALL_NETWORK
from spintrace.demo.servers import crawl_settings
from spintrace.watch import RoundReport, load, run_round

__all__ = ["money_trail", "watch_round", "write_watch_list"]


def write_watch_list(folder: Path, sites: Sequence[DemoSite]) -> Path:
    """``watch.toml`` for the demo sites (and the ad networks' sellers.json beside it)."""
    files = {"sellers-smallads.json": (SMALL_NETWORK, SELLERS)}
    files["sellers-bigexchange.json"] = (EXCHANGE, EXCHANGE_SELLERS)
    entries = []
    for name, (system, data) in files.items():
        (folder / name).write_text(json.dumps(data, indent=2), "utf-8")
        entries.append(f'{{ system = "{system}", file = "{name}" }}')
    parts = [
        '[alerts]\nto = ["alerts.jsonl"]\n',
        f"[money]\nsellers = [{', '.join(entries)}]\n",
    ]
    for site in sites:
        kind = "publisher" if site.role == "source" else "farm"
        parts.append(f'[[{kind}]]\nname = "{site.name}"\nhome = "{site.start_url}"\nevery = "1h"\n')
    path = folder / "watch.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def watch_round(
    folder: Path, db_url: str, sites: Sequence[DemoSite], hosts: Mapping[str, str]
) -> RoundReport:
    """One watch round over the demo sites, served at ``hosts`` (host -> 127.0.0.1:PORT)."""
    alerts = folder / "alerts.jsonl"
    alerts.unlink(missing_ok=True)
    watch = load(write_watch_list(folder, sites))
    engine = open_engine(db_url)
    try:
        return run_round(
            engine, watch, crawl_settings=crawl_settings(dict(hosts)), force=True, hosts=hosts
        )
    finally:
        engine.dispose()


def money_trail(db_url: str, domains: Sequence[str]) -> dict[str, list[str]]:
    """Per farm, its ads.txt DIRECT accounts, each with its seller when a sellers.json says."""
    engine = open_engine(db_url)
    found: dict[str, list[str]] = {domain: [] for domain in domains}
    try:
        with Session(engine) as session:
            sellers = {(s.ad_system, s.seller_id): s for s in session.scalars(select(Seller)).all()}
            rows = session.execute(
                select(Site.domain, SiteIndicator.value)
                .join(Site, Site.id == SiteIndicator.site_id)
                .where(Site.domain.in_(domains), SiteIndicator.kind == "ads-txt")
                .order_by(Site.domain, SiteIndicator.value)
            ).all()
    finally:
        engine.dispose()
    for domain, value in rows:
        system, account, relationship = (part.strip() for part in value.split(",")[:3])
        if relationship != "DIRECT":
            continue
        seller = sellers.get((system, account))
        who = f" ({seller.name or 'confidential'}, {seller.seller_type})" if seller else ""
        found[domain].append(f"{system} {account}{who}")
    return found
