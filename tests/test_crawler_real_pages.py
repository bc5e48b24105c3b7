"""A loopback site made of the 181 real article pages of the scrapinghub benchmark.

The real pages (from ../shared, skipped when absent) are served on 127.0.0.1 behind a sitemap
(half of them) and a paginated archive (the other half); the crawl must capture every one,
exactly once, and extract an article from nearly all of them with real trafilatura.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_crawler import FAST, run_cli

from spintrace.db import Capture, Document, SiteIndicator, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply

PAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "html" / "scrapinghub"


def _site(base: str, keys: list[str]) -> dict[str, Reply]:
    routes: dict[str, Reply] = {}
    for key in keys:
        body = gzip.decompress((PAGES / "html" / f"{key}.html.gz").read_bytes())
        routes[f"/a/{key}.html"] = Reply(body)
    in_sitemap, in_archive = keys[::2], keys[1::2]
    urls = "".join(f"<url><loc>{base}/a/{k}.html</loc></url>" for k in in_sitemap)
    routes["/sitemap.xml"] = Reply(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{urls}</urlset>".encode(),
        headers=(("Content-Type", "application/xml"),),
    )
    routes["/robots.txt"] = Reply(
        f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap.xml\n".encode(),
        headers=(("Content-Type", "text/plain"),),
    )
    per_page = 20
    pages = [in_archive[i : i + per_page] for i in range(0, len(in_archive), per_page)]
    for n, chunk in enumerate(pages):
        links = "".join(f'<li><a href="/a/{k}.html">article {k[:8]}</a></li>' for k in chunk)
        more = f'<a href="/archive/{n + 2}/">older</a>' if n + 1 < len(pages) else ""
        path = "/" if n == 0 else f"/archive/{n + 1}/"
        routes[path] = Reply(f"<html><body><ul>{links}</ul>{more}</body></html>".encode())
    return routes


def test_the_real_pages_site_is_crawled_completely(tmp_path: Path) -> None:
    if not (PAGES / "ground-truth.json").is_file():
        pytest.skip(f"scrapinghub pages not found under {PAGES}")
    keys = sorted(json.loads((PAGES / "ground-truth.json").read_text(encoding="utf-8")))
    url = f"sqlite:///{tmp_path / 'real.db'}"
    engine = open_engine(url, create=True)
    upgrade(engine)
    with LoopbackServer() as server:
        server.routes.update(_site(server.url, keys))
        result = run_cli(url, "crawl", server.url + "/", "--max-pages", "1000", *FAST, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert all(server.hits[f"/a/{k}.html"] == 1 for k in keys)
    with Session(engine) as session:
        articles = session.scalars(select(Capture.url).where(Capture.url.like("%/a/%"))).all()
        assert len(articles) == len(set(articles)) == len(keys)
        documents = session.scalar(select(func.count()).select_from(Document)) or 0
        # Real pages are articles; a few short or link-heavy ones may be judged otherwise.
        assert documents >= 0.9 * len(keys)
        trackers = session.scalar(
            select(func.count(func.distinct(SiteIndicator.value))).where(
                SiteIndicator.kind.in_(("google-analytics", "google-tag-manager"))
            )
        )
        assert (trackers or 0) >= 50
    engine.dispose()
