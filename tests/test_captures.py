"""Captures into documents, the WARC export, and the crawler's parsing helpers (no crawl)."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.crawler.discovery import (
    feed_links,
    is_binary,
    robots_sitemaps,
    sitemap_links,
    sniff,
)
from spintrace.crawler.errors import CrawlError
from spintrace.crawler.process import CrawlOptions, build_settings, check_start_url
from spintrace.crawler.settings import load_settings_file, parse_overrides
from spintrace.db import Capture, Document, Site
from spintrace.db.models import utcnow
from spintrace.demo.loopback import article_html
from spintrace.ingest.captures import process_captures
from spintrace.ingest.extract import extract_html
from spintrace.ingest.pages import classify_page, link_density
from spintrace.records import ExtractedText

BASE = "http://farm.example"
LISTING = (
    "<html><head><title>Tag: harbour</title></head><body><h1>Tag: harbour</h1><ul>"
    + "".join(f"<li><a href='/news/{i}.html'>Harbour story number {i}</a></li>" for i in range(30))
    + "</ul></body></html>"
).encode()


def _add(engine: Engine, url: str, body: bytes, role: str | None = "page", **extra: object) -> int:
    with Session(engine) as session, session.begin():
        site_id = Site.id_for(session, url)
        capture = Capture(
            site_id=site_id,
            url=url,
            final_url=extra.pop("final_url", url),
            status=extra.pop("status", 200),
            headers=extra.pop("headers", {"Content-Type": "text/html; charset=utf-8"}),
            fetched_at=utcnow(),
            sha256=hashlib.sha256(body).hexdigest(),
            body=zlib.compress(body),
            body_size=len(body),
            role=role,
            content_type=str(extra.pop("content_type", "text/html; charset=utf-8")),
            depth=1,
        )
        session.add(capture)
        session.flush()
        return capture.id


def test_process_captures_makes_documents_of_articles_only(migrated: Engine) -> None:
    article = _add(migrated, f"{BASE}/news/1.html", article_html(1, BASE))
    source = _add(migrated, f"{BASE}/news/2.html", article_html(2, BASE), role="source")
    listing = _add(migrated, f"{BASE}/tag/harbour/", LISTING)
    binary = _add(migrated, f"{BASE}/x.pdf", b"%PDF-1.4", content_type="application/pdf")
    imported = _add(migrated, f"{BASE}/imported.html", article_html(3, BASE), role=None)
    seen: list[tuple[int, str]] = []

    report = process_captures(
        migrated, indicators=lambda s, cid, html, url: seen.append((cid, url))
    )
    assert (report.documents_new, report.non_articles, report.not_html) == (2, 1, 1)
    assert not report.errors
    assert sorted(cid for cid, _ in seen) == sorted([article, source, listing])
    with Session(migrated) as session:
        docs = {d.capture_id: d for d in session.scalars(select(Document))}
        assert set(docs) == {article, source}
        assert docs[article].role == "page" and docs[source].role == "source"
        assert docs[article].title == "Article 1" and "Story 1 part 0" in docs[article].text
        outcomes = dict(session.execute(select(Capture.id, Capture.outcome)).all())
        assert outcomes[listing] == "non-article" and outcomes[binary] == "not-html"
        assert outcomes[imported] is None  # imports write their own documents

    again = process_captures(migrated)
    assert again.processed == 0

    # A new capture of the same URL whose text did not change adds no document.
    _add(migrated, f"{BASE}/news/1.html", article_html(1, BASE) + b"<!-- ad rotation -->")
    third = process_captures(migrated)
    assert (third.documents_new, third.documents_unchanged) == (0, 1)


def test_imported_html_captures_are_already_processed(migrated: Engine, tmp_path: Path) -> None:
    from spintrace.ingest.imports import import_file

    file = tmp_path / "pages.jsonl"
    file.write_text(json.dumps({"url": f"{BASE}/a", "html": article_html(5, BASE).decode()}))
    assert import_file(migrated, file, "page").new == 1
    assert process_captures(migrated).processed == 0
    with Session(migrated) as session:
        capture = session.scalars(select(Capture)).one()
        assert capture.processed_at is not None and capture.outcome == "document"


@pytest.mark.parametrize(
    ("url", "html", "article"),
    [
        (f"{BASE}/news/1.html", article_html(1, BASE), True),
        (f"{BASE}/tag/harbour/", LISTING, False),
        (f"{BASE}/", article_html(1, BASE).replace(b"'article'", b"'website'"), False),
        (f"{BASE}/category/news/x.html", article_html(1, BASE), True),  # og:type wins
        (
            f"{BASE}/contact",
            b"<html><body><p>Write to us at the harbour office.</p></body></html>",
            False,
        ),
        (f"{BASE}/list.html", LISTING, False),
    ],
)
def test_classify_page(url: str, html: bytes, article: bool) -> None:
    reason = classify_page(html, url, extract_html(html, url))
    assert (reason is None) is article, reason


def test_short_text_and_link_density_rules() -> None:
    # Length is no rule (issue 9.2): a ten-word page is an article unless its structure or URL
    # says otherwise; the matcher counts it as too short to link.
    short = ExtractedText(text="A short teaser of ten words about the harbour budget.")
    assert classify_page(b"<html></html>", f"{BASE}/x.html", short) is None
    assert classify_page(b"", f"{BASE}/x.html", None) == "no main text"
    assert link_density(LISTING) > 0.8
    assert link_density(article_html(1, BASE)) < 0.1


def test_warc_export_round_trips(migrated: Engine, tmp_path: Path, any_db_url: str) -> None:
    from warcio.archiveiterator import ArchiveIterator

    body = article_html(7, BASE)
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
    _add(migrated, f"{BASE}/old.html", body, final_url=f"{BASE}/new.html", headers=headers)
    _add(migrated, f"{BASE}/s.html", b"<html>source</html>", role="source", status=404)
    output = tmp_path / "captures.warc.gz"
    result = CliRunner().invoke(
        cli, ["--db", any_db_url, "captures", "export-warc", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 captures" in result.output
    with output.open("rb") as stream:
        records = [
            (r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read())
            for r in ArchiveIterator(stream)
        ]
    assert [r[0] for r in records] == ["warcinfo", "response", "response"]
    _, warc, http, payload = records[1]
    assert warc.get_header("WARC-Target-URI") == f"{BASE}/new.html"
    assert warc.get_header("WARC-Spintrace-Requested-URI") == f"{BASE}/old.html"
    assert warc.get_header("WARC-Spintrace-Role") == "page"
    assert http.get_statuscode() == "200"
    assert http.get_header("Content-Type") == "text/html; charset=utf-8"
    assert http.get_header("Content-Encoding") is None
    assert http.get_header("X-Spintrace-Original-Content-Encoding") == "gzip"
    assert payload == body
    assert records[2][2].get_statuscode() == "404"

    only = tmp_path / "sources.warc.gz"
    result = CliRunner().invoke(
        cli, ["--db", any_db_url, "captures", "export-warc", "-o", str(only), "--role", "source"]
    )
    assert "wrote 1 capture " in result.output


def test_sniff_and_discovery_parsers() -> None:
    index = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc> http://a.example/s1.xml </loc></sitemap></sitemapindex>"
    )
    urlset = b"<urlset><url><loc>http://a.example/1</loc></url><url><loc>http://a.example/2</loc></url></urlset>"
    rss = b"<?xml version='1.0'?><rss><channel><item><link>/p/1</link></item></channel></rss>"
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" href="/p/2"/>'
        b'<link rel="edit" href="/edit"/></entry></feed>'
    )
    assert sniff(index, "application/xml") == "sitemap-index"
    assert sniff(urlset, "text/xml") == "sitemap"
    assert sniff(rss, "application/rss+xml") == sniff(atom, "") == "feed"
    assert sniff(b"<html><body>x</body></html>", "text/html") == "html"
    assert sniff(bytes(range(256)) * 10, "text/html") == "binary"
    assert sniff(b"%PDF-1.4 text", "application/pdf") == "other"
    assert sitemap_links(index) == ["http://a.example/s1.xml"]
    assert sitemap_links(urlset) == ["http://a.example/1", "http://a.example/2"]
    assert sitemap_links(b"\x00\x01 not xml") == []
    assert feed_links(rss, "http://a.example/feed") == ["http://a.example/p/1"]
    assert feed_links(atom, "http://a.example/feed") == ["http://a.example/p/2"]
    assert robots_sitemaps("User-agent: *\nsitemap: /s.xml\nSitemap:\n", "http://a.example") == [
        "http://a.example/s.xml"
    ]
    assert not is_binary("Grüße, 東京".encode("utf-16"))
    assert not is_binary(b"<html>\t\r\n plain</html>")


def test_crawl_settings_and_start_urls(tmp_path: Path) -> None:
    assert parse_overrides(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(CrawlError, match="NAME=VALUE"):
        parse_overrides(["NOPE"])
    (tmp_path / "s.json").write_text('{"DOWNLOAD_DELAY": 3}')
    (tmp_path / "s.py").write_text("DOWNLOAD_DELAY = 4\nlower = 1\n")
    (tmp_path / "s.toml").write_text("DOWNLOAD_DELAY = 5\n")
    (tmp_path / "bad.toml").write_text("DOWNLOAD_DELAY = \n")
    assert load_settings_file(tmp_path / "s.json") == {"DOWNLOAD_DELAY": 3}
    assert load_settings_file(tmp_path / "s.py") == {"DOWNLOAD_DELAY": 4}
    assert load_settings_file(tmp_path / "s.toml") == {"DOWNLOAD_DELAY": 5}
    with pytest.raises(CrawlError, match=r"bad\.toml"):
        load_settings_file(tmp_path / "bad.toml")
    options = CrawlOptions(urls=("http://a.example/",), db_url="sqlite://", depth=2)
    values = build_settings(options, None)
    assert values["ROBOTSTXT_OBEY"] is True and values["DEPTH_LIMIT"] == 2
    assert values["USER_AGENT"].startswith("spintrace/")
    assert "DOWNLOADER_MIDDLEWARES" not in values  # replay only when resuming
    custom = CrawlOptions(urls=(), db_url="sqlite://", settings={"DEPTH_LIMIT": 9})
    assert build_settings(custom, utcnow())["DEPTH_LIMIT"] == 9
    assert check_start_url("https://a.example:8080/x") == "https://a.example:8080/x"
    assert check_start_url("https://bücher.example/a") == "https://bücher.example/a"
    bad_urls = ("a.example", "mailto:x@a.example", "http://", "http://a.example:99999/")
    for bad in (*bad_urls, "http://exa mple.com/", "https://a%20b.example/"):
        with pytest.raises(CrawlError):
            check_start_url(bad)


def _brief(number: int, og: bool) -> bytes:
    """A 40-60 word wire brief, with or without og:type (farms often strip it)."""
    text = (
        f"Brief {number}: the harbour board approved a new ferry timetable on Tuesday. Services "
        "to the north pier will run every forty minutes from March, and the board said the "
        "winter repairs cost less than planned. A full report follows next week."
    )
    meta = "<meta property='og:type' content='article'>" if og else ""
    return (
        f"<html><head><title>Brief {number}</title>{meta}</head><body class='post-template "
        f"single single-post'><nav><a href='/'>Home</a></nav><article><h1>Brief {number}</h1>"
        f"<p>{text}</p></article></body></html>"
    ).encode()


def _teaser_listing(body_class: str = "", ld_type: str = "") -> bytes:
    """A listing page of long teasers (low link density) that says what it is only by its
    body class or its JSON-LD type."""
    cards = "".join(
        f"<article><h2><a href='/2026/03/story-{i}.html'>Harbour story {i}</a></h2><p>The "
        "harbour board met again on Tuesday to discuss the new ferry timetable and the cost "
        f"of the winter repairs at the north pier, story {i} reports in full.</p></article>"
        for i in range(10)
    )
    ld = (
        f'<script type=\'application/ld+json\'>{{"@context": "https://schema.org", '
        f'"@graph": [{{"@type": "{ld_type}"}}]}}</script>'
        if ld_type
        else ""
    )
    return (
        f"<html><head><title>Latest</title>{ld}</head><body class='{body_class}'>{cards}"
        "</body></html>"
    ).encode()


def test_short_articles_are_kept_and_listings_known_by_structure(migrated: Engine) -> None:
    """Regression (issue 9.2): articles under 80 words were dropped as non-articles, so their
    copies could never be linked. Listings are still recognised, by structure and URL."""
    briefs = [
        _add(migrated, f"{BASE}/2026/03/brief-{i}.html", _brief(i, og=i % 2 == 0)) for i in range(4)
    ]
    listings = [
        _add(migrated, f"{BASE}/latest.html", _teaser_listing(body_class="home blog")),
        _add(
            migrated, f"{BASE}/section/harbour.html", _teaser_listing(body_class="archive category")
        ),
        _add(migrated, f"{BASE}/collection.html", _teaser_listing(ld_type="CollectionPage")),
        _add(migrated, f"{BASE}/tag/harbour/", _teaser_listing()),
        _add(migrated, f"{BASE}/news/page/2/", _teaser_listing()),
        _add(migrated, f"{BASE}/", _teaser_listing()),
    ]
    report = process_captures(migrated)
    assert (report.documents_new, report.non_articles) == (4, 6), report
    with Session(migrated) as session:
        outcomes = dict(session.execute(select(Capture.id, Capture.outcome)).all())
        words = [len(t.split()) for t in session.scalars(select(Document.text))]
    assert all(outcomes[c] == "document" for c in briefs)
    assert all(outcomes[c] == "non-article" for c in listings)
    assert all(40 <= n < 80 for n in words), words


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/contact-us/", True),
        ("/about-us", True),
        ("/privacy-policy/", True),
        ("/terms-of-service", True),
        ("/cookie-policy", True),
        ("/2026/03/about-the-harbour-plan.html", False),
        ("/news/contacts-between-ports.html", False),
    ],
)
def test_service_pages_are_known_by_their_path(path: str, service: bool) -> None:
    page = ExtractedText(text="We are a small team. Write to us at the harbour office any day.")
    reason = classify_page(b"<html><body><p>x</p></body></html>", BASE + path, page)
    assert (reason is not None) is service, reason


def test_every_capture_is_processed_past_the_first_batch(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (found in review): with the ``ids`` parameter added for queued jobs, the
    loop's own batch overwrote it, so a plain run processed only its first batch (200)."""
    import spintrace.ingest.captures as captures_module

    monkeypatch.setattr(captures_module, "BATCH", 2)
    for i in range(5):
        _add(migrated, f"{BASE}/news/{i}.html", article_html(i, BASE))
    assert process_captures(migrated).documents_new == 5
    with Session(migrated) as session:
        assert session.scalars(select(Capture).where(Capture.processed_at.is_(None))).all() == []
    batch = [_add(migrated, f"{BASE}/news/{i}.html", article_html(i, BASE)) for i in (7, 8, 9)]
    assert process_captures(migrated, ids=batch[:2]).documents_new == 2  # only those asked for
