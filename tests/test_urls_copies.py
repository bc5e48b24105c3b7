"""Regression (issue 9.4): one copy counted as five.

The same page imported or crawled under ``?utm_source=...``, ``#comments``, ``http://`` and
``https://``, or a ``WWW.`` host was five documents on two sites: five rows in the complaint
pack and the export, and a second notice. Each test here failed before URLs were canonicalised
on the way in and sites identified by their registered domain.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.db import Capture, Document, Match, Site, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply, article_html
from spintrace.ingest.captures import process_captures
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.complaint.pack import build_complaint_pack
from spintrace.reports.export import export_table

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def _variants(url: str) -> list[str]:
    """``url`` (https, lower-case host) and four ways the same page is met in the wild."""
    assert url.startswith("https://")
    host = url.split("/")[2]
    return [
        url,
        f"{url}?utm_source=twitter&utm_medium=social&fbclid=IwAR0abc",
        f"{url}#comments",
        "http://" + url.removeprefix("https://"),
        url.replace(host, "WWW." + host.title(), 1),
    ]


def _demo_records(name: str) -> list[dict[str, str]]:
    with (DEMO / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_five_imported_variants_are_one_copy_on_one_site(migrated: Engine, tmp_path: Path) -> None:
    source = _demo_records("sources.jsonl")[0]  # harbourgazette.example: ferry service
    page = _demo_records("pages.jsonl")[0]  # dailytrendwire.example: its spun copy, as HTML
    assert "ferry" in source["url"] and "ferry" in page["url"] and "html" in page
    import_file(migrated, _write(tmp_path / "s.jsonl", [source]), "source")
    variants = _variants(page["url"])
    records = [{**page, "url": url} for url in variants]
    report = import_file(migrated, _write(tmp_path / "p.jsonl", records), "page")
    assert (report.new, report.unchanged, report.rejected) == (1, 4, 0)

    with Session(migrated) as session:
        document = session.scalars(select(Document).where(Document.role == "page")).one()
        assert document.url == page["url"]
        assert document.seen_url == variants[0]
        assert session.get(Site, document.site_id).domain == "dailytrendwire.example"  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Capture)) == 1
    assert _count(migrated, Site) == 2  # the publisher and the farm

    # Imported again in another order, and as the text alone: still nothing new.
    again = import_file(migrated, _write(tmp_path / "p2.jsonl", records[::-1]), "page")
    assert (again.new, again.unchanged) == (0, 5)

    assert match_pages(migrated).linked == 1
    assert _count(migrated, Match) == 1
    summary = build_complaint_pack(migrated, "harbourgazette.example", tmp_path / "pack")
    assert summary.copies == 1
    assert summary.sites == ("dailytrendwire.example",)
    assert len(list((tmp_path / "pack" / "notices").iterdir())) == 1
    with (tmp_path / "pack" / "infringements.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["page_url"] for row in rows] == [page["url"]]

    out = io.StringIO()
    assert export_table(migrated, "matches", "csv", out) == 1
    assert page["url"] in out.getvalue()


def test_a_registered_domain_is_one_site(migrated: Engine, tmp_path: Path) -> None:
    text = "The council approved the new harbour bridge on Tuesday evening after a long debate."
    urls = [
        "https://news.farmwire.co.uk/a",
        "https://www.farmwire.co.uk/b",
        "https://FARMWIRE.co.uk:8443/c",
        "https://alice.blogspot.com/d",
        "https://bob.blogspot.com/e",
        "http://127.0.0.1:8001/f",
        "http://127.0.0.1:8002/g",
        "http://www.news.example/h",
        "http://news.example/i",
    ]
    records = [{"url": url, "text": f"{text} {i}"} for i, url in enumerate(urls)]
    report = import_file(migrated, _write(tmp_path / "p.jsonl", records), "page")
    assert report.new == len(urls)
    with Session(migrated) as session:
        domains = set(session.scalars(select(Site.domain)))
    assert domains == {
        "farmwire.co.uk",
        "alice.blogspot.com",
        "bob.blogspot.com",
        "127.0.0.1:8001",
        "127.0.0.1:8002",
        "news.example",
    }


_CRAWL = """
import json, sys
from spintrace.crawler.process import CrawlOptions, run_crawl
from spintrace.demo.sites import crawl_settings
urls, db_url, hosts = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
report = run_crawl(CrawlOptions(urls=tuple(urls), db_url=db_url, mode="list",
                                settings=crawl_settings(hosts)))
print(report.new, report.unchanged, report.skipped)
"""


def test_five_crawled_variants_are_one_capture_one_document_one_site(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crawl.db'}"
    engine = open_engine(db_url, create=True)
    upgrade(engine)
    body = article_html(7, "https://farm.example")

    def serve(path: str) -> Reply | None:
        return Reply(body) if path.split("?")[0] == "/2026/03/ferry.html" else None

    try:
        with LoopbackServer(fallback=serve) as server:
            target = server.url.removeprefix("http://")
            hosts = {"farm.example": target, "www.farm.example": target}
            variants = _variants("https://farm.example/2026/03/ferry.html")
            result = subprocess.run(
                [sys.executable, "-c", _CRAWL, json.dumps(variants), db_url, json.dumps(hosts)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
            assert sum(n for path, n in server.hits.items() if "ferry" in path) >= 4
        assert _count(engine, Capture) == 1
        report = process_captures(engine)
        assert (report.documents_new, report.errors) == (1, [])
        with Session(engine) as session:
            document = session.scalars(select(Document)).one()
            # Whichever variant the concurrent crawl stored first names the page (its canonical
            # form keeps the scheme and a www.); its identity is the same either way.
            assert document.url_key == "farm.example/2026/03/ferry.html", document.url
            assert document.url.endswith(
                ("://farm.example/2026/03/ferry.html", "://www.farm.example/2026/03/ferry.html")
            )
            # The crawler asks for WWW.Farm.Example and records the host as Scrapy sends it,
            # in lower case (host names are case-insensitive).
            assert document.seen_url in {_lower_host(v) for v in variants}, document.seen_url
            assert list(session.scalars(select(Site.domain))) == ["farm.example"]
    finally:
        engine.dispose()


def _lower_host(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.lower()))
