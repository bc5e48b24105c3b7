"""Migration 0005 on databases made by the old schema: URLs canonicalised in place, duplicate
captures, documents and sites merged with their links and evidence (SQLite and PostgreSQL).

Each test migrates a fresh database to 0004, writes what the old code wrote for one page met
under several URLs (raw SQL, so the models of today play no part), migrates to head and checks
the merge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, Connection, Engine, bindparam, func, select, text
from sqlalchemy.orm import Session

from spintrace.db import (
    Capture,
    Document,
    DocumentTokens,
    IndexSegment,
    Match,
    MatchCheck,
    Signature,
    Site,
    SiteIndicator,
    SubstitutionSite,
    current_revision,
    downgrade,
    head_revision,
    open_engine,
    upgrade,
)
from spintrace.db.migrate import alembic_config
from spintrace.db.models import UTCDateTime
from spintrace.ingest.imports import import_file
from spintrace.linking.index import SIGNATURE_KINDS, TOKENS_KIND
from spintrace.linking.match import match_pages

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def old(any_db_url: str) -> Iterator[Engine]:
    """A database at schema 0004, the last one before canonical URLs."""
    engine = open_engine(any_db_url, create=True)
    upgrade(engine, "0004")
    assert current_revision(engine) == "0004"
    try:
        yield engine
    finally:
        engine.dispose()


def _add(connection: Connection, table: str, **row: Any) -> int:
    """INSERT one row with plain SQL; its id (or 0 for tables keyed otherwise)."""
    typed = [
        bindparam(name, type_=UTCDateTime() if isinstance(value, datetime) else JSON())
        for name, value in row.items()
        if isinstance(value, datetime | dict)
    ]
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    keyed = table not in ("match_checks", "document_tokens", "substitution_sites")
    returning = " RETURNING id" if keyed else ""
    statement = text(f"INSERT INTO {table} ({columns}) VALUES ({values}){returning}")
    result = connection.execute(statement.bindparams(*typed), row)
    return int(result.scalar_one()) if keyed else 0


def _site(connection: Connection, domain: str, first_seen: datetime = T1) -> int:
    return _add(connection, "sites", domain=domain, first_seen=first_seen)


def _capture(connection: Connection, site: int, url: str, body: bytes) -> int:
    import hashlib
    import zlib

    return _add(
        connection,
        "captures",
        site_id=site,
        url=url,
        fetched_at=T1,
        sha256=hashlib.sha256(body).hexdigest(),
        body=zlib.compress(body),
        body_size=len(body),
        processed_at=T1,
        outcome="document",
        content_type="text/html",
    )


def _document(
    connection: Connection, role: str, site: int, url: str, text_hash: str, **extra: Any
) -> int:
    return _add(
        connection,
        "documents",
        role=role,
        url=url,
        site_id=site,
        text=f"text {text_hash}",
        text_sha256=text_hash,
        added_at=T1,
        **extra,
    )


def _match(connection: Connection, page: int, source: int, score: float) -> int:
    evidence = {"score": score, "passages": [], "substitutions": []}
    return _add(
        connection,
        "matches",
        page_id=page,
        source_id=source,
        score=score,
        containment=score,
        coverage=score,
        spin_rate=0.1,
        evidence=evidence,
        matcher="m1",
        matched_at=T1,
    )


def _check(connection: Connection, page: int, outcome: str) -> None:
    _add(
        connection,
        "match_checks",
        page_id=page,
        sources_seen=2,
        matcher="m1",
        outcome=outcome,
        checked_at=T1,
    )


def _indicator(
    connection: Connection,
    site: int,
    kind: str,
    value: str,
    seen: int,
    first: datetime,
    **extra: Any,
) -> int:
    return _add(
        connection,
        "indicators",
        site_id=site,
        kind=kind,
        value=value,
        evidence=f"seen on site {site}",
        captures=seen,
        first_seen=first,
        last_seen=first,
        **extra,
    )


def test_duplicates_of_the_old_schema_are_merged(old: Engine) -> None:
    with old.begin() as c:
        farm, www_farm = (
            _site(c, "dailytrendwire.example"),
            _site(c, "www.dailytrendwire.example", T0),
        )
        publisher = _site(c, "harbourgazette.example")
        news, bare = _site(c, "news.farmwire.co.uk"), _site(c, "farmwire.co.uk")
        loopback = _site(c, "127.0.0.1")
        body = b"<html><body><p>the ferry story</p></body></html>"
        capture = _capture(c, farm, "https://dailytrendwire.example/a", body)
        www_capture = _capture(
            c, www_farm, "https://WWW.DailyTrendWire.example/a?utm_source=t", body
        )
        other_body = _capture(c, farm, "http://dailytrendwire.example/a#comments", b"<p>edited</p>")
        source = _document(c, "source", publisher, "https://harbourgazette.example/ferry", "S")
        other_source = _document(c, "source", publisher, "https://harbourgazette.example/o", "O")
        page = _document(
            c, "page", farm, "https://dailytrendwire.example/a", "P", capture_id=capture
        )
        www_page = _document(
            c,
            "page",
            www_farm,
            "https://WWW.DailyTrendWire.example/a?utm_source=t",
            "P",
            capture_id=www_capture,
            title="Ferry sailings to double",
        )
        comments = _document(c, "page", farm, "http://dailytrendwire.example/a#comments", "P")
        edited = _document(c, "page", farm, "https://dailytrendwire.example/a", "Q")
        sub_page = _document(c, "page", news, "https://news.farmwire.co.uk/x", "R")
        bare_page = _document(c, "page", bare, "https://farmwire.co.uk/y", "R2")
        port_a = _document(c, "page", loopback, "http://127.0.0.1:8001/a", "L1")
        port_b = _document(c, "page", loopback, "http://127.0.0.1:8002/b", "L2")
        port_c = _document(c, "page", loopback, "http://127.0.0.1:8001/c", "L3")
        kept = _match(c, page, source, 0.9)
        _match(c, www_page, source, 0.8)  # the survivor has its own link to this source
        moved = _match(c, www_page, other_source, 0.7)  # the survivor has none: it moves
        _match(c, comments, source, 0.85)
        _check(c, www_page, "linked")
        _check(c, comments, "unlinked")
        # Pages carry no signatures today; a duplicate's would move all the same.
        _add(
            c,
            "signatures",
            document_id=www_page,
            kind="content-x",
            num_perm=4,
            seed=1,
            scheme="s",
            set_size=1,
            hashvalues=b"\0" * 16,
        )
        source_signature = _add(
            c,
            "signatures",
            document_id=source,
            kind=SIGNATURE_KINDS[0],
            num_perm=4,
            seed=1,
            scheme="s",
            set_size=1,
            hashvalues=b"\0" * 16,
        )
        segment = _add(
            c,
            "index_segments",
            name="containment-x",
            first_document_id=source,
            last_document_id=other_source,
            items=2,
            data=b"x",
            created_at=T1,
        )
        _indicator(c, farm, "google-analytics", "G-1", 2, T1)
        _indicator(c, www_farm, "google-analytics", "G-1", 3, T0, first_capture_id=www_capture)
        _indicator(c, www_farm, "adsense", "pub-2", 1, T2)
        substitution = _add(
            c,
            "substitutions",
            spun="blissful",
            original="happy",
            pairs=5,
            occurrences=5,
            first_seen=T1,
            last_seen=T1,
        )
        spin = _add(
            c,
            "substitutions",
            spun="know-how",
            original="technology",
            pairs=1,
            occurrences=1,
            first_seen=T1,
            last_seen=T1,
        )
        _add(c, "substitution_sites", substitution_id=substitution, site_id=farm, pairs=2)
        _add(c, "substitution_sites", substitution_id=substitution, site_id=www_farm, pairs=3)
        _add(c, "substitution_sites", substitution_id=spin, site_id=www_farm, pairs=1)

    upgrade(old)
    assert current_revision(old) == head_revision()
    command.check(alembic_config(old))  # the merged schema is exactly the models'

    with Session(old) as session:
        domains = {s.id: s.domain for s in session.scalars(select(Site))}
        assert sorted(domains.values()) == [
            "127.0.0.1:8001",
            "127.0.0.1:8002",
            "dailytrendwire.example",
            "farmwire.co.uk",
            "harbourgazette.example",
        ]
        assert domains[farm] == "dailytrendwire.example" and www_farm not in domains
        assert session.get(Site, farm).first_seen == T0  # type: ignore[union-attr]

        captures = {c.id: c for c in session.scalars(select(Capture))}
        assert set(captures) == {capture, other_body}
        assert captures[other_body].url == "http://dailytrendwire.example/a"
        assert captures[other_body].seen_url == "http://dailytrendwire.example/a#comments"
        assert captures[capture].url_key == "dailytrendwire.example/a"

        documents = {d.id: d for d in session.scalars(select(Document))}
        assert www_page not in documents and comments not in documents
        survivor = documents[page]
        assert (survivor.url, survivor.seen_url) == ("https://dailytrendwire.example/a",) * 2
        assert survivor.title == "Ferry sailings to double"  # taken from the merged row
        assert survivor.capture_id == capture and survivor.site_id == farm
        assert documents[edited].url == survivor.url  # another text: history, kept
        assert session.get(Site, documents[sub_page].site_id).domain == "farmwire.co.uk"  # type: ignore[union-attr]
        assert documents[sub_page].site_id == documents[bare_page].site_id
        assert documents[port_a].site_id == documents[port_c].site_id == loopback
        assert domains[documents[port_b].site_id] == "127.0.0.1:8002"

        links = {(m.page_id, m.source_id): m.id for m in session.scalars(select(Match))}
        assert links == {(page, source): kept, (page, other_source): moved}
        check = session.get(MatchCheck, page)
        assert check is not None and check.outcome == "linked"
        assert session.scalar(select(func.count()).select_from(MatchCheck)) == 1
        signatures = {(s.document_id, s.kind) for s in session.scalars(select(Signature))}
        assert signatures == {(page, "content-x"), (source, SIGNATURE_KINDS[0])}
        assert session.get(Signature, source_signature) is not None  # no source was merged
        assert session.get(IndexSegment, segment) is not None

        indicators = {(i.kind, i.value): i for i in session.scalars(select(SiteIndicator))}
        analytics = indicators["google-analytics", "G-1"]
        assert (analytics.site_id, analytics.captures, analytics.first_seen) == (farm, 5, T0)
        assert analytics.evidence == f"seen on site {www_farm}"
        assert analytics.first_capture_id == capture  # its merged capture's survivor
        assert indicators["adsense", "pub-2"].site_id == farm
        spins = {
            (s.substitution_id, s.site_id): s.pairs
            for s in session.scalars(select(SubstitutionSite))
        }
        assert spins == {(substitution, farm): 5, (spin, farm): 1}

    # Met again under any of its forms, the page is known.
    with Session(old) as session, session.begin():
        assert Site.id_for(session, "https://WWW.dailytrendwire.example/b") == farm

    downgrade(old, "0004")
    with old.connect() as connection:
        urls = dict(connection.execute(text("SELECT id, url FROM captures")).all())
        assert urls[other_body] == "http://dailytrendwire.example/a#comments"
        assert connection.execute(text("SELECT count(*) FROM documents")).scalar() == 9
    upgrade(old)
    command.check(alembic_config(old))


def test_a_merged_source_is_indexed_again_and_matched(old: Engine, tmp_path: Path) -> None:
    record = json.loads((DEMO / "sources.jsonl").open(encoding="utf-8").readline())
    import hashlib

    digest = hashlib.sha256(record["text"].strip().encode()).hexdigest()
    with old.begin() as c:
        publisher = _site(c, "harbourgazette.example")
        farm = _site(c, "copy.example")
        ids = [
            _add(
                c,
                "documents",
                role="source",
                url=url,
                site_id=publisher,
                text=record["text"],
                text_sha256=digest,
                added_at=T1,
            )
            for url in (record["url"], record["url"] + "?utm_source=rss")
        ]
        for doc_id in ids:
            for kind in SIGNATURE_KINDS:
                _add(
                    c,
                    "signatures",
                    document_id=doc_id,
                    kind=kind,
                    num_perm=4,
                    seed=1,
                    scheme="s",
                    set_size=1,
                    hashvalues=b"\0" * 16,
                )
            _add(c, "document_tokens", document_id=doc_id, kind=TOKENS_KIND, data=b"\0")
        # A segment naming both sources: after the merge it would name one that is gone.
        _add(
            c,
            "index_segments",
            name="containment-x",
            first_document_id=ids[0],
            last_document_id=ids[1],
            items=2,
            data=b"x",
            created_at=T1,
        )
        page = _add(
            c,
            "documents",
            role="page",
            url="https://copy.example/a",
            site_id=farm,
            text=record["text"],
            text_sha256=digest,
            added_at=T1,
        )

    upgrade(old)
    with Session(old) as session:
        assert list(session.scalars(select(Document.id).where(Document.role == "source"))) == [
            ids[0]
        ]
        for model in (IndexSegment, Signature, DocumentTokens):
            assert session.scalar(select(func.count()).select_from(model)) == 0

    report = match_pages(old)
    assert (report.indexed, report.linked) == (1, 1)
    with Session(old) as session:
        link = session.scalars(select(Match)).one()
        assert (link.page_id, link.source_id) == (page, ids[0])

    # The source imported again under another form of its URL adds nothing.
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({**record, "url": record["url"] + "#top"}) + "\n", "utf-8")
    assert import_file(old, path, "source").unchanged == 1
