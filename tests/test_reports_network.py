"""The network report: graph edges checked against the stored indicators, matches and learned
substitutions; the files it writes; hostile site data rendered inert."""

from __future__ import annotations

import csv
import hashlib
import statistics
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import lxml.etree
import lxml.html
import networkx as nx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from spintrace.db.models import (
    Capture,
    Document,
    LearnedSubstitution,
    Match,
    Site,
    SiteIndicator,
    SubstitutionSite,
)
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.frames import Database
from spintrace.reports.network.graph import build_network, write_network_report
from spintrace.reports.network.model import INDICATOR_WEIGHTS
from spintrace.reports.rendering import CSP

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
BASE = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
SHARED_PUB = "ca-pub-1111222233334444"
STRONG = {kind for kind, (_, rule) in INDICATOR_WEIGHTS.items() if rule == "id"}


def _site(session: Session, domain: str) -> int:
    site = Site(domain=domain)
    session.add(site)
    session.flush()
    return site.id


def _page(session: Session, site_id: int, url: str, seen: datetime, captured: bool) -> int:
    capture_id = None
    if captured:
        body = f"<html>{url}</html>".encode()
        capture = Capture(
            site_id=site_id,
            url=url,
            sha256=hashlib.sha256(body).hexdigest(),
            body=zlib.compress(body),
            body_size=len(body),
            fetched_at=seen,
        )
        session.add(capture)
        session.flush()
        capture_id = capture.id
    text = f"copied text of {url}"
    document = Document(
        role="page",
        url=url,
        site_id=site_id,
        capture_id=capture_id,
        text=text,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        # a capture's time must win over the import time
        added_at=seen + timedelta(days=30) if captured else seen,
    )
    session.add(document)
    session.flush()
    return document.id


def _match(session: Session, page_id: int, source_id: int) -> None:
    session.add(
        Match(
            page_id=page_id,
            source_id=source_id,
            score=0.9,
            containment=0.9,
            coverage=0.9,
            spin_rate=0.2,
            evidence={},
            matcher="test",
        )
    )


def _indicator(session: Session, site_id: int, kind: str, value: str, evidence: str = "") -> None:
    session.add(
        SiteIndicator(
            site_id=site_id,
            kind=kind,
            value=value,
            captures=1,
            evidence=evidence or f"script: {value}",
        )
    )


def _substitution(session: Session, spun: str, original: str, site_ids: list[int]) -> None:
    sub = LearnedSubstitution(spun=spun, original=original, pairs=len(site_ids), occurrences=2)
    session.add(sub)
    session.flush()
    for site_id in site_ids:
        session.add(SubstitutionSite(substitution_id=sub.id, site_id=site_id, pairs=1))


def _demo(engine: Engine) -> None:
    import_file(engine, DEMO / "sources.jsonl", "source")
    import_file(engine, DEMO / "pages.jsonl", "page")
    match_pages(engine)


@pytest.fixture
def network_db(migrated: Engine) -> Engine:
    """The demo, plus alpha and beta (one AdSense ID, one theme, sources copied hours apart,
    one spinner pair) and gamma, which shares nothing that makes a link."""
    _demo(migrated)
    with Session(migrated) as session:
        sources = session.scalars(
            select(Document.id).where(Document.role == "source").order_by(Document.id)
        ).all()
        alpha, beta, gamma = (_site(session, f"{n}.example") for n in ("alpha", "beta", "gamma"))
        _indicator(session, alpha, "adsense", SHARED_PUB)
        _indicator(session, beta, "adsense", SHARED_PUB)
        _indicator(session, alpha, "wordpress-theme", "farmtheme")
        _indicator(session, beta, "wordpress-theme", "farmtheme")
        _indicator(session, gamma, "adsense", "ca-pub-9999888877776666")
        _indicator(session, gamma, "generator", "WordPress 6.4")  # 0.05: under min strength
        _indicator(session, alpha, "generator", "WordPress 6.4")
        # Source 0 copied 10 h apart (a link), source 1 100 h apart (no link).
        _match(session, _page(session, alpha, "https://alpha.example/a", BASE, False), sources[0])
        _match(
            session,
            _page(session, beta, "https://beta.example/a", BASE + timedelta(hours=10), True),
            sources[0],
        )
        _match(session, _page(session, alpha, "https://alpha.example/b", BASE, True), sources[1])
        _match(
            session,
            _page(session, beta, "https://beta.example/b", BASE + timedelta(hours=100), False),
            sources[1],
        )
        _page(session, gamma, "https://gamma.example/x", BASE, False)
        _substitution(session, "zorbly", "quick", [alpha, beta])
        session.commit()
    return migrated


def _first_seen(engine: Engine) -> list[tuple[str, str, datetime, datetime | None]]:
    """(page site, source url, page first seen, source published) per stored match."""
    page, source = aliased(Document), aliased(Document)
    with Session(engine) as session:
        rows = session.execute(
            select(Site.domain, source.url, Capture.fetched_at, page.added_at, source.published)
            .select_from(Match)
            .join(page, page.id == Match.page_id)
            .join(source, source.id == Match.source_id)
            .join(Site, Site.id == page.site_id)
            .outerjoin(Capture, Capture.id == page.capture_id)
        ).all()
    return [
        (site, url, fetched or added, published) for site, url, fetched, added, published in rows
    ]


def _pairs_of(edge: tuple[str, str]) -> frozenset[str]:
    return frozenset(edge)


def test_edges_follow_the_stored_indicators(network_db: Engine) -> None:
    graph = build_network(network_db, min_strength=0)
    frame = Database(network_db).indicators()
    suspects = set(graph.nodes)
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in frame.itertuples():
        if row.site in suspects:
            holders[row.kind, row.value].add(str(row.site))
    expected = defaultdict(set)
    for (kind, value), sites in holders.items():
        if kind in STRONG:
            for a, b in combinations(sorted(sites), 2):
                expected[frozenset((a, b))].add((kind, value))
    assert expected[frozenset(("alpha.example", "beta.example"))] == {("adsense", SHARED_PUB)}
    for pair, shared in expected.items():
        assert graph.has_edge(*pair), f"{sorted(pair)} share {shared} but are not linked"
        got = {(i.kind, i.value) for i in graph.edges[tuple(pair)]["evidence"].indicators}
        assert shared <= got
    # Every indicator on an edge is stored on both of its sites.
    for a, b, data in graph.edges(data=True):
        for item in data["evidence"].indicators:
            assert {a, b} <= holders[item.kind, item.value]
    assert graph.edges["alpha.example", "beta.example"]["indicator_strength"] == pytest.approx(
        1 - (1 - 0.9) * (1 - 0.2)
    )


def test_no_edge_without_evidence_and_gamma_stays_alone(network_db: Engine) -> None:
    graph = build_network(network_db)
    assert "gamma.example" in graph and graph.degree("gamma.example") == 0
    assert "harbourgazette.example" not in graph  # a source site, no pages
    for _, _, data in graph.edges(data=True):
        evidence = data["evidence"]
        assert evidence.indicator_count + evidence.timing_count + evidence.substitution_count
        assert 0 < data["strength"] <= 1
        assert data["strength"] >= graph.graph["min_strength"]
    # With no minimum, the weak generator link to gamma appears, carrying only that.
    weak = build_network(network_db, min_strength=0).edges["alpha.example", "gamma.example"]
    assert [(i.kind, i.value) for i in weak["evidence"].indicators] == [
        ("generator", "WordPress 6.4")
    ]
    assert weak["strength"] == pytest.approx(0.05)
    communities = {node: data["community"] for node, data in graph.nodes(data=True)}
    assert communities["alpha.example"] == communities["beta.example"]
    assert communities["gamma.example"] != communities["alpha.example"]


def test_timing_edges_follow_the_stored_matches(network_db: Engine) -> None:
    window = 48.0
    graph = build_network(network_db, window_hours=window, min_strength=0)
    first: dict[tuple[str, str], datetime] = {}
    for site, url, seen, _ in _first_seen(network_db):
        first[site, url] = min(seen, first.get((site, url), seen))
    by_source: dict[str, dict[str, datetime]] = defaultdict(dict)
    for (site, url), seen in first.items():
        by_source[url][site] = seen
    expected = set()
    for url, seen in by_source.items():
        for a, b in combinations(sorted(seen), 2):
            if abs(seen[a] - seen[b]) <= timedelta(hours=window):
                expected.add((frozenset((a, b)), url))
    got = {
        (frozenset((a, b)), item.source_url)
        for a, b, data in graph.edges(data=True)
        for item in data["evidence"].timing
    }
    assert got == expected
    assert len(expected) == 1  # alpha and beta, 10 h apart; the 100 h pair is out
    (item,) = graph.edges["alpha.example", "beta.example"]["evidence"].timing
    assert item.hours_apart == pytest.approx(10)
    wider = build_network(network_db, window_hours=200, min_strength=0)
    assert len(wider.edges["alpha.example", "beta.example"]["evidence"].timing) == 2


def test_substitution_edges_follow_substitution_sites(network_db: Engine) -> None:
    graph = build_network(network_db, min_strength=0)
    frame = Database(network_db).substitutions()
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in frame.itertuples():
        users[row.spun, row.original].add(str(row.site))
    expected = {
        (frozenset(pair), spun, original)
        for (spun, original), sites in users.items()
        for pair in combinations(sorted(sites), 2)
    }
    got = {
        (frozenset((a, b)), item.spun, item.original)
        for a, b, data in graph.edges(data=True)
        for item in data["evidence"].substitutions
    }
    assert got == expected
    assert (frozenset(("alpha.example", "beta.example")), "zorbly", "quick") in got
    # The two demo farms share a spinner: several pairs, each used by just those two sites.
    farms = graph.edges["dailytrendwire.example", "newsbuzzhub.example"]
    assert farms["evidence"].substitution_count >= 5
    assert farms["substitution_strength"] > 0


def test_report_files(network_db: Engine, tmp_path: Path) -> None:
    summary = write_network_report(network_db, tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in summary.files} == {
        "network.gexf",
        "network.png",
        "network.html",
        "sites.csv",
    }
    assert (out / "network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    graph = build_network(network_db)
    gexf = nx.read_gexf(out / "network.gexf")
    assert set(gexf.nodes) == set(graph.nodes)
    assert {frozenset(e) for e in gexf.edges} == {frozenset(e) for e in graph.edges}
    edge = gexf.edges["alpha.example", "beta.example"]
    assert (
        SHARED_PUB in edge["shared_indicators"]
        and "zorbly -> quick" in edge["shared_substitutions"]
    )
    assert edge["strength"] == pytest.approx(
        graph.edges["alpha.example", "beta.example"]["strength"]
    )

    stored = Database(network_db).sites()
    with (out / "sites.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["site"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(stored.index[stored["pages"] > 0])
    lags: dict[str, list[float]] = defaultdict(list)
    for site, _, seen, published in _first_seen(network_db):
        if published is not None:
            lags[site].append((seen - published).total_seconds() / 3600)
    for site, row in rows.items():
        for column in ("pages", "copied_pages", "sources_copied"):
            assert int(row[column]) == stored.loc[site, column], (site, column)
        expected = round(statistics.median(lags[site]), 1) if lags[site] else ""
        assert row["median_lag_hours"] == str(expected)
        assert int(row["community"]) == graph.nodes[site]["community"]

    page = lxml.html.parse(str(out / "network.html")).getroot()
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
    assert len(page.xpath("//*[local-name()='svg']//*[local-name()='circle']")) == len(graph)
    assert not page.xpath("//script | //link | //iframe | //img")
    text = page.text_content()
    assert SHARED_PUB in text and "gamma.example" in text


def test_hostile_values_are_inert(migrated: Engine, tmp_path: Path) -> None:
    script = "<script>alert(1)</script>"
    img = '"><img src=x onerror=alert(2)>'
    template = "{{ 7*7 }}"
    names = [f"{script}.example", f"{img}.example", "=HYPERLINK(1)\x01.example"]
    with Session(migrated) as session:
        source_site = _site(session, "javascript:alert(3)")
        text = "a source"
        source = Document(
            role="source",
            url="javascript:alert(3)",
            site_id=source_site,
            text=text,
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        )
        session.add(source)
        session.flush()
        ids = [_site(session, name) for name in names]
        for number, site_id in enumerate(ids):
            _indicator(session, site_id, "adsense", img, evidence=f"{script} {template}")
            _indicator(session, site_id, "google-analytics", template)
            page = _page(session, site_id, f"https://x{number}.example/{img}", BASE, True)
            _match(session, page, source.id)
        _substitution(session, template, script, ids)
        session.commit()

    write_network_report(migrated, tmp_path)
    html = (tmp_path / "network.html").read_text(encoding="utf-8")
    page = lxml.html.fromstring(html)
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
    assert not page.xpath("//script | //*[local-name()='script'] | //img | //iframe")
    for element in page.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            if name.lower() in ("href", "src", "xlink:href"):
                assert value.strip().lower().startswith(("http://", "https://")), value
    text = page.text_content()
    assert script in text and img in text and template in text  # shown as text, not evaluated
    assert "javascript:alert(3)" in text
    assert not page.xpath("//a[contains(@href, 'javascript')]")

    gexf = nx.read_gexf(tmp_path / "network.gexf")  # parses: the XML escaping held
    assert {f"{script}.example", f"{img}.example", "=HYPERLINK(1).example"} == set(gexf.nodes)
    tree = lxml.etree.parse(str(tmp_path / "network.gexf"))
    assert not tree.xpath("//*[local-name()='script']")
    assert any(img in data["shared_indicators"] for _, _, data in gexf.edges(data=True))

    with (tmp_path / "sites.csv").open(encoding="utf-8", newline="") as handle:
        sites = [row["site"] for row in csv.DictReader(handle)]
    assert "'=HYPERLINK(1)\x01.example" in sites


def test_cli_report_network(sqlite_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spintrace.cli import cli
    from spintrace.db import open_engine, upgrade

    engine = open_engine(sqlite_url, create=True)
    upgrade(engine)
    _demo(engine)
    engine.dispose()
    out = tmp_path / "net"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            sqlite_url,
            "report",
            "network",
            "-o",
            str(out),
            "--window",
            "12",
            "--min-strength",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 sites, 1 links, 1 communities" in result.output
    assert {p.name for p in out.iterdir()} == {
        "network.gexf",
        "network.png",
        "network.html",
        "sites.csv",
    }
    bad = CliRunner().invoke(
        cli, ["--db", sqlite_url, "report", "network", "-o", str(out), "--min-strength", "2"]
    )
    assert bad.exit_code == 2 and "min-strength" in bad.output
