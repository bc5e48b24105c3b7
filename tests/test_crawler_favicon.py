"""Favicons are fetched once per site and their hash stored as an operator indicator."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from test_crawler import FAST, run_cli

from spintrace.db import Site, SiteIndicator, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply, article_html

ICON = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def _site(base: str, icon: bool) -> dict[str, Reply]:
    head = '<link rel="icon" href="/static/brand.png">' if icon else ""
    routes = {f"/news/article-{i}.html": Reply(article_html(i, base, extra=head)) for i in range(3)}
    links = "".join(f'<a href="/news/article-{i}.html">a{i}</a>' for i in range(3))
    routes["/"] = Reply(f"<html><head>{head}</head><body>{links}</body></html>".encode())
    if icon:
        routes["/static/brand.png"] = Reply(ICON, headers=(("Content-Type", "image/png"),))
    return routes


def test_shared_custom_favicon_is_recorded_for_both_sites(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    engine = open_engine(url, create=True)
    upgrade(engine)
    with (
        LoopbackServer(host="127.0.0.1") as one,
        LoopbackServer(host="127.0.0.2") as two,
        LoopbackServer(host="127.0.0.3") as plain,
    ):
        one.routes.update(_site(one.url, icon=True))
        two.routes.update(_site(two.url, icon=True))
        plain.routes.update(_site(plain.url, icon=False))
        result = run_cli(url, "crawl", one.url + "/", two.url + "/", plain.url + "/", *FAST)
        assert result.returncode == 0, result.stderr
        assert one.hits["/static/brand.png"] == 1 and two.hits["/static/brand.png"] == 1
        assert plain.hits["/favicon.ico"] == 1  # asked once, missing: not a skip
        assert "favicon" not in result.stderr
    with Session(engine) as session:
        rows = session.execute(
            select(Site.domain, SiteIndicator.value)
            .join(Site, Site.id == SiteIndicator.site_id)
            .where(SiteIndicator.kind == "favicon-hash")
        ).all()
    digest = hashlib.sha256(ICON).hexdigest()
    # Sites on an IP address keep their port (issue 9.4): two loopback sites stay two.
    hosts = [one.url.removeprefix("http://"), two.url.removeprefix("http://")]
    assert sorted(rows) == sorted((host, digest) for host in hosts)
    engine.dispose()
