"""The network report: graph edges checked against the stored indicators, matches and learned
substitutions; the time of a page behind copy timing; evidence weights and tiers; the files it
writes; hostile site data rendered inert."""

from __future__ import annotations

import csv
import hashlib
import html as html_lib
import json
import re
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import lxml.etree
import lxml.html
import networkx as nx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

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
from spintrace.reports.network.model import (
    EVIDENCE_KINDS,
    INDICATOR_WEIGHTS,
    RARE_SPIN_WEIGHT,
    THESAURUS_SPIN_WEIGHT,
    THESAURUS_SPINS_MAX,
    noisy_or,
    rarity,
)
from spintrace.reports.network.rows import EDGES_COLUMNS
from spintrace.reports.network.times import (
    PageTime,
    copy_span,
    crawl_time,
    hours_apart,
    time_of_page,
)
from spintrace.reports.rendering import CSP

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
SOURCES = [json.loads(line) for line in (DEMO / "sources.jsonl").open(encoding="utf-8")]
BASE = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
IMPORTED = BASE + timedelta(days=60)
# Import runs now: dates of imported records are set before it (a date after its import is no
# date), whatever the clock says.
NOW = datetime.now(UTC).replace(microsecond=0)
SHARED_PUB = "ca-pub-1111222233334444"
STRONG = {kind for kind, (_, rule) in INDICATOR_WEIGHTS.items() if rule == "id"}
# Synonyms every thesaurus spinner makes (WordNet or Moby explains each).
COMMON_SYNONYMS = {
    "said": "stated",
    "people": "folks",
    "money": "cash",
    "new": "recent",
    "because": "as a result of",
    "start": "begin",
}


def _site(session: Session, domain: str) -> int:
    site = Site(domain=domain)
    session.add(site)
    session.flush()
    return site.id


def _page(
    session: Session,
    site_id: int,
    url: str,
    *,
    published: datetime | None = None,
    captured: datetime | None = None,
    imported: datetime = IMPORTED,
) -> int:
    """A page document; ``captured`` gives it a crawled capture fetched then."""
    capture_id = None
    if captured is not None:
        body = f"<html>{url}</html>".encode()
        capture = Capture(
            site_id=site_id,
            url=url,
            sha256=hashlib.sha256(body).hexdigest(),
            body=zlib.compress(body),
            body_size=len(body),
            fetched_at=captured,
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
        published=published,
        added_at=imported,
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


def _substitution(
    session: Session, spun: str, original: str, site_ids: list[int], relation: str | None = None
) -> None:
    sub = LearnedSubstitution(
        spun=spun, original=original, pairs=len(site_ids), occurrences=2, relation=relation
    )
    session.add(sub)
    session.flush()
    for site_id in site_ids:
        session.add(SubstitutionSite(substitution_id=sub.id, site_id=site_id, pairs=1))


def _demo(engine: Engine) -> None:
    import_file(engine, DEMO / "sources.jsonl", "source")
    import_file(engine, DEMO / "pages.jsonl", "page")
    match_pages(engine)


def _sources(engine: Engine) -> list[tuple[int, datetime]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Document.id, Document.published)
            .where(Document.role == "source")
            .order_by(Document.id)
        ).all()
    return [(row.id, row.published) for row in rows]


# The demo sources alpha and beta copy (the demo's own copies of them have no time).
TEN_HOURS, CAPTURED, HUNDRED_HOURS, IMPORTED_ONLY = 7, 2, 5, 6


@pytest.fixture
def network_db(migrated: Engine) -> Engine:
    """The demo, plus alpha and beta (one AdSense ID, one theme, sources copied hours apart,
    one rare spinner pair) and gamma, which shares nothing that makes a link.

    Copy times, after each source's publication: one source published by both 10 h apart (a
    link; beta's later capture does not override its own date); one captured by both (no
    dates) 6 and 20 h after (a link: at most 20 h apart); one published 100 h apart (no link
    at 48 h); one imported by both at the same moment with no dates (never a link: import time
    is no time)."""
    _demo(migrated)
    sources = _sources(migrated)
    with Session(migrated) as session:
        alpha, beta, gamma = (_site(session, f"{n}.example") for n in ("alpha", "beta", "gamma"))
        _indicator(session, alpha, "adsense", SHARED_PUB)
        _indicator(session, beta, "adsense", SHARED_PUB)
        _indicator(session, alpha, "wordpress-theme", "farmtheme")
        _indicator(session, beta, "wordpress-theme", "farmtheme")
        _indicator(session, gamma, "adsense", "ca-pub-9999888877776666")
        _indicator(session, gamma, "generator", "WordPress 6.4")  # 0.05: under min strength
        _indicator(session, alpha, "generator", "WordPress 6.4")
        hours = timedelta(hours=1)
        copies: list[tuple[int, int, str, timedelta | None]] = [
            (alpha, TEN_HOURS, "published", 20 * hours),
            (beta, TEN_HOURS, "published", 30 * hours),
            (alpha, CAPTURED, "captured", 6 * hours),
            (beta, CAPTURED, "captured", 20 * hours),
            (alpha, HUNDRED_HOURS, "published", 24 * hours),
            (beta, HUNDRED_HOURS, "published", 124 * hours),
            (alpha, IMPORTED_ONLY, "imported", None),
            (beta, IMPORTED_ONLY, "imported", None),
        ]
        for site_id, number, kind, after in copies:
            source_id, published = sources[number]
            times = {} if after is None else {kind: published + after}
            if kind == "published":
                times["captured"] = IMPORTED  # a later crawl: the page's own date wins
            name = "alpha" if site_id == alpha else "beta"
            page = _page(session, site_id, f"https://{name}.example/{number}", **times)
            _match(session, page, source_id)
        _page(session, gamma, "https://gamma.example/x")
        _substitution(session, "zorbly", "quick", [alpha, beta])
        session.commit()
    return migrated


# --- the time of a page --------------------------------------------------------------------------


def test_time_of_a_page_follows_the_design_rule() -> None:
    day = datetime(2026, 3, 14, tzinfo=UTC)
    crawl = day + timedelta(days=2)
    imported = day + timedelta(days=150)
    # Its own date, when not later than its first capture and not the source's.
    assert time_of_page(day + timedelta(days=1), crawl, imported, day) == PageTime(
        day + timedelta(days=1), "published"
    )
    # A date after the first capture, or the source's own date copied: the capture time.
    assert time_of_page(crawl + timedelta(hours=1), crawl, imported, day) == PageTime(
        crawl, "captured"
    )
    assert time_of_page(day, crawl, imported, day) == PageTime(crawl, "captured")
    # Imported as text: a believable date is its time; import time alone never is.
    assert time_of_page(day + timedelta(days=1), None, imported, day) == PageTime(
        day + timedelta(days=1), "published"
    )
    assert time_of_page(None, None, imported, day) is None
    assert time_of_page(day, None, imported, day) is None
    assert time_of_page(imported + timedelta(days=1), None, imported, day) is None
    # An import's stored HTML is no crawl capture.
    assert crawl_time(crawl, {"x-spintrace-source": "import"}) is None
    assert crawl_time(crawl, {"content-type": "text/html"}) == crawl


def test_a_capture_only_bounds_when_a_copy_appeared() -> None:
    source = PageTime(datetime(2026, 3, 14, tzinfo=UTC), "published")
    published = PageTime(source.at + timedelta(hours=30), "published")
    early = PageTime(source.at + timedelta(hours=6), "captured")
    months = PageTime(source.at + timedelta(days=150), "captured")
    span = copy_span(early, source)
    assert span is not None and (span.earliest, span.latest) == (source.at, early.at)
    # Published 30 h after the source, captured by 6 h: at most 30 h apart.
    other = copy_span(published, source)
    assert other is not None and hours_apart(span, other) == pytest.approx(30)
    # Captured months later: somewhere in five months; no source date: unknown.
    late = copy_span(months, source)
    assert late is not None and hours_apart(span, late) == pytest.approx(150 * 24)
    assert copy_span(early, None) is None
    assert copy_span(early, PageTime(source.at, "captured")) is None
    assert copy_span(None, source) is None


def _spun(text: str) -> str:
    """``text`` through a spinner that uses only common thesaurus synonyms."""
    pattern = re.compile(r"\b(" + "|".join(COMMON_SYNONYMS) + r")\b")
    return pattern.sub(lambda m: COMMON_SYNONYMS[m.group(1)], text)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _timing_pairs(graph: nx.Graph[str]) -> set[frozenset[str]]:
    return {frozenset((a, b)) for a, b, data in graph.edges(data=True) if data["evidence"].timing}


def test_pages_published_months_apart_but_imported_together_get_no_timing_link(
    migrated: Engine, tmp_path: Path
) -> None:
    published = NOW - timedelta(days=300)
    source = SOURCES[0] | {"published": _iso(published)}
    spun = _spun(source["text"])
    march = published + timedelta(days=2)
    pages = {
        "march": march,
        "august": march + timedelta(days=153),  # five months later, imported in the same file
        "close": march + timedelta(hours=10),
        "undated": None,  # import time is all there is: no time
        "copied-date": published,  # the original's own date: not the page's
    }
    records = [
        {"url": f"https://{name}.example/ferry", "text": spun}
        | ({"published": _iso(when)} if when else {})
        for name, when in pages.items()
    ]
    import_file(migrated, _write_jsonl(tmp_path / "s.jsonl", [source]), "source")
    import_file(migrated, _write_jsonl(tmp_path / "p.jsonl", records), "page")
    assert match_pages(migrated).linked == len(pages)

    graph = build_network(migrated, window_hours=48, min_strength=0)
    assert _timing_pairs(graph) == {frozenset(("march.example", "close.example"))}
    (item,) = graph.edges["close.example", "march.example"]["evidence"].timing
    assert item.hours_apart == pytest.approx(10) and item.exact
    assert (item.time_a.basis, item.time_b.basis) == ("published", "published")
    assert item.time_a.at == march + timedelta(hours=10)  # close.example
    # Five months apart is no copy timing at any sensible window, and never "0.0 h apart".
    wide = build_network(migrated, window_hours=24 * 30, min_strength=0)
    assert frozenset(("march.example", "august.example")) not in _timing_pairs(wide)


def test_crawled_together_months_later_is_no_timing_link(migrated: Engine) -> None:
    sources = _sources(_with_demo_sources(migrated))
    (source_id, published), crawl = sources[0], sources[0][1] + timedelta(days=150)
    with Session(migrated) as session:
        for name, captured in (
            ("late-a", crawl),
            ("late-b", crawl + timedelta(minutes=5)),
            ("quick-a", published + timedelta(hours=2)),
            ("quick-b", published + timedelta(hours=9)),
        ):
            page = _page(session, _site(session, f"{name}.example"), f"https://{name}.example/x",
                         captured=captured, imported=crawl)  # fmt: skip
            _match(session, page, source_id)
        session.commit()
    graph = build_network(migrated, min_strength=0)
    assert _timing_pairs(graph) == {frozenset(("quick-a.example", "quick-b.example"))}
    (item,) = graph.edges["quick-a.example", "quick-b.example"]["evidence"].timing
    assert not item.exact and item.hours_apart == pytest.approx(9)  # at most 9 h apart
    assert (item.time_a.basis, item.time_b.basis) == ("captured", "captured")


def _with_demo_sources(engine: Engine) -> Engine:
    import_file(engine, DEMO / "sources.jsonl", "source")
    return engine


# --- the fixture's edges against the stored rows -------------------------------------------------


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
        edge = graph.edges[tuple(pair)]
        assert shared <= {(i.kind, i.value) for i in edge["evidence"].indicators}
        assert edge["tier"] == "strong"
    # Every indicator on an edge is stored on both of its sites.
    for a, b, data in graph.edges(data=True):
        for item in data["evidence"].indicators:
            assert {a, b} <= holders[item.kind, item.value]
    edge = graph.edges["alpha.example", "beta.example"]
    assert edge["ids_strength"] == pytest.approx(0.9)
    assert edge["template_strength"] == pytest.approx(0.2)
    assert edge["indicator_strength"] == pytest.approx(1 - (1 - 0.9) * (1 - 0.2))
    # A node attribute per indicator kind.
    assert graph.nodes["alpha.example"]["indicators"] == {
        "adsense": [SHARED_PUB],
        "generator": ["WordPress 6.4"],
        "wordpress-theme": ["farmtheme"],
    }


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
    assert weak["strength"] == pytest.approx(0.05) and weak["tier"] == "weak"
    communities = {node: data["community"] for node, data in graph.nodes(data=True)}
    assert communities["alpha.example"] == communities["beta.example"]
    assert communities["gamma.example"] != communities["alpha.example"]


def test_timing_edges_use_the_time_of_each_page(network_db: Engine) -> None:
    graph = build_network(network_db, window_hours=48, min_strength=0)
    assert _timing_pairs(graph) == {frozenset(("alpha.example", "beta.example"))}
    timing = graph.edges["alpha.example", "beta.example"]["evidence"].timing
    sources = {url: number for number, url in enumerate(s["url"] for s in SOURCES)}
    got = {
        sources[t.source_url]: (t.time_a.basis, t.time_b.basis, round(t.hours_apart, 1))
        for t in timing
    }
    assert got == {
        TEN_HOURS: ("published", "published", 10.0),
        CAPTURED: ("captured", "captured", 20.0),  # at most 20 h: both only captured
    }
    wider = build_network(network_db, window_hours=200, min_strength=0)
    timing = wider.edges["alpha.example", "beta.example"]["evidence"].timing
    assert {sources[t.source_url] for t in timing} == {TEN_HOURS, CAPTURED, HUNDRED_HOURS}
    # Weight: 0.35 x (1 - 0.5 x gap / window) / sqrt(sites copying the source - 1).
    timing = graph.edges["alpha.example", "beta.example"]["evidence"].timing
    assert {t.sites for t in timing} == {2, 3}  # the demo's newsbuzzhub copied one of them
    edge = graph.edges["alpha.example", "beta.example"]
    assert edge["timing_strength"] == pytest.approx(
        noisy_or(0.35 * (1 - 0.5 * t.hours_apart / 48) / (t.sites - 1) ** 0.5 for t in timing),
        abs=1e-4,
    )


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
    # The two demo farms belong to different operators: they share common synonyms only.
    farms = graph.edges["dailytrendwire.example", "newsbuzzhub.example"]
    assert farms["evidence"].substitution_count >= 5
    assert all(s.relation is not None for s in farms["evidence"].substitutions)
    assert farms["rare_spins_strength"] == 0
    assert 0 < farms["thesaurus_spins_strength"] <= THESAURUS_SPINS_MAX
    assert farms["tier"] == "weak"


# --- weights and tiers ---------------------------------------------------------------------------


def test_rarity_is_one_for_two_sites_and_near_zero_for_every_site() -> None:
    assert rarity(2, 2) == pytest.approx(1) and rarity(2, 40) == pytest.approx(1)
    assert rarity(40, 40) < 0.01 and rarity(30, 40) < 0.11
    assert rarity(3, 6) > rarity(6, 6)
    with pytest.raises(ValueError, match="users"):
        rarity(1, 5)


def test_spins_are_weighed_by_rarity_and_thesaurus(migrated: Engine) -> None:
    with Session(migrated) as session:
        ids = [_site(session, f"s{n}.example") for n in range(6)]
        for number, site_id in enumerate(ids):
            _page(session, site_id, f"https://s{number}.example/x")
        _substitution(session, "automotive", "car", ids[:2])  # rare, no thesaurus
        _substitution(session, "gained't", "won't", ids[:3])
        _substitution(session, "stated", "said", ids, relation="wordnet-synonym")
        for number in range(10):  # many thesaurus pairs of just s0 and s1
            _substitution(session, f"syn{number}", f"word{number}", ids[:2], relation="moby")
        session.commit()
    graph = build_network(migrated, min_strength=0)
    pair = graph.edges["s0.example", "s1.example"]
    weights = {(s.spun, s.relation): s.weight for s in pair["evidence"].substitutions}
    assert weights["automotive", None] == pytest.approx(RARE_SPIN_WEIGHT)
    assert weights["gained't", None] == pytest.approx(RARE_SPIN_WEIGHT * rarity(3, 6))
    assert weights["stated", "wordnet-synonym"] == pytest.approx(
        THESAURUS_SPIN_WEIGHT * rarity(6, 6)
    )
    assert weights["stated", "wordnet-synonym"] < 0.003  # used by every site: near zero
    assert weights["syn0", "moby"] == pytest.approx(THESAURUS_SPIN_WEIGHT)
    assert pair["rare_spins_strength"] == pytest.approx(
        noisy_or((RARE_SPIN_WEIGHT, RARE_SPIN_WEIGHT * rarity(3, 6))), abs=1e-4
    )
    # Ten rare thesaurus pairs (0.18 as independent clues) are one tool's choices: capped.
    assert pair["thesaurus_spins_strength"] == pytest.approx(THESAURUS_SPINS_MAX)
    # Only the common synonym: under the default minimum strength, no link.
    assert graph.edges["s4.example", "s5.example"]["strength"] < 0.01
    assert not build_network(migrated).has_edge("s4.example", "s5.example")


def test_every_edge_gets_its_tier(migrated: Engine) -> None:
    sources = _sources(_with_demo_sources(migrated))
    with Session(migrated) as session:
        site = {name: _site(session, f"{name}.example") for name in "abcdefghijkl"}
        for name, site_id in site.items():
            for number in range(2):
                page = _page(
                    session,
                    site_id,
                    f"https://{name}.example/{number}",
                    published=sources[number][1]
                    + timedelta(days=1, hours="abcdefghijkl".index(name)),
                )
                if name in "ab":  # a and b: two sources copied an hour apart
                    _match(session, page, sources[number][0])
        _indicator(session, site["c"], "google-analytics", "G-SHARED01")  # c, d: one account
        _indicator(session, site["d"], "google-analytics", "G-SHARED01")
        for number in range(8):  # e, f: eight spins no thesaurus explains
            _substitution(session, f"quirk{number}", f"word{number}", [site["e"], site["f"]])
        _indicator(session, site["g"], "wordpress-theme", "newsup")  # g, h: a theme
        _indicator(session, site["h"], "wordpress-theme", "newsup")
        # i, j: four unexplained spins alone: common synonyms the thesauri lack look the same.
        for number in range(4):
            _substitution(session, f"odd{number}", f"plain{number}", [site["i"], site["j"]])
        # k, l: three unexplained spins backed by a shared template.
        for number in range(3):
            _substitution(session, f"rare{number}", f"usual{number}", [site["k"], site["l"]])
        _indicator(session, site["k"], "wordpress-plugin", "obscure-plugin")
        _indicator(session, site["l"], "wordpress-plugin", "obscure-plugin")
        session.commit()
    graph = build_network(migrated, min_strength=0)
    tiers = {frozenset((a, b)): data["tier"] for a, b, data in graph.edges(data=True)}
    assert tiers[frozenset(("a.example", "b.example"))] == "medium"
    assert tiers[frozenset(("c.example", "d.example"))] == "strong"
    assert tiers[frozenset(("e.example", "f.example"))] == "medium"
    assert tiers[frozenset(("g.example", "h.example"))] == "weak"
    assert tiers[frozenset(("i.example", "j.example"))] == "weak"
    assert tiers[frozenset(("k.example", "l.example"))] == "medium"
    for _, _, data in graph.edges(data=True):
        assert set(EVIDENCE_KINDS) <= {key.removesuffix("_strength") for key in data}


def _farm_html(host: str, title: str, text: str, taboola: str) -> str:
    """A page of an unrelated farm: the popular theme everyone buys, the same Taboola and
    Outbrain scripts (each farm its own Taboola publisher name) and WordPress."""
    paragraphs = "".join(f"<p>{html_lib.escape(p)}</p>" for p in text.split("\n\n"))
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="generator" content="WordPress 6.4.2">'
        f'<link rel="stylesheet" href="https://{host}/wp-content/themes/newsup/style.css">'
        f'<script async src="//cdn.taboola.com/libtrc/{taboola}/loader.js"></script>'
        '<script async src="https://widgets.outbrain.com/outbrain.js"></script></head>'
        f"<body><article><h1>{html_lib.escape(title)}</h1>{paragraphs}</article>"
        '<div class="OUTBRAIN" data-widget-id="AR_1"></div></body></html>'
    )


def test_unrelated_farms_sharing_a_theme_ad_scripts_and_synonyms_get_no_medium_or_strong_link(
    migrated: Engine, tmp_path: Path
) -> None:
    farms = ("nilebuzz.example", "quicktrend.example", "dailyviral.example")
    copied = {farms[0]: (0, 1), farms[1]: (1, 2), farms[2]: (0, 2)}
    months = {farms[0]: 9, farms[1]: 6, farms[2]: 3}  # months before now
    records = []
    for farm, numbers in copied.items():
        for number in numbers:
            source = SOURCES[number]
            published = NOW - timedelta(days=30 * months[farm] + number)
            records.append(
                {
                    "url": f"https://{farm}/story-{number}",
                    "html": _farm_html(farm, source["title"], _spun(source["text"]), farm[:6]),
                    "published": _iso(published),
                }
            )
    import_file(migrated, _write_jsonl(tmp_path / "s.jsonl", SOURCES[:3]), "source")
    import_file(migrated, _write_jsonl(tmp_path / "p.jsonl", records), "page")
    assert match_pages(migrated).linked == len(records)
    # What ingest stored: one theme on all three; Taboola per farm; Outbrain has no account.
    stored = Database(migrated).indicators()
    kinds = stored.groupby("kind", observed=True)["value"].nunique().to_dict()
    assert kinds["wordpress-theme"] == 1 and kinds["taboola"] == 3
    assert "outbrain" not in kinds
    learned = Database(migrated).substitutions()
    assert len(learned) and learned["relation"].notna().all()  # common synonyms only

    graph = build_network(migrated, min_strength=0)
    assert graph.number_of_edges() == 3
    for a, b, data in graph.edges(data=True):
        assert data["tier"] == "weak", (a, b, data)
        assert data["ids_strength"] == data["timing_strength"] == data["rare_spins_strength"] == 0
        assert data["evidence"].substitution_count and data["template_strength"] > 0
        assert data["strength"] < 0.2
    assert len({data["community"] for _, data in graph.nodes(data=True)}) <= 3


# --- the files -----------------------------------------------------------------------------------


def test_report_files(network_db: Engine, tmp_path: Path) -> None:
    summary = write_network_report(network_db, tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in summary.files} == {
        "network.gexf",
        "network.png",
        "network.html",
        "sites.csv",
        "edges.csv",
    }
    assert (out / "network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    graph = build_network(network_db)
    gexf = nx.read_gexf(out / "network.gexf")
    assert set(gexf.nodes) == set(graph.nodes)
    assert {frozenset(e) for e in gexf.edges} == {frozenset(e) for e in graph.edges}
    edge = gexf.edges["alpha.example", "beta.example"]
    assert edge["shared_ids"] == f"adsense={SHARED_PUB}"
    assert edge["shared_template"] == "wordpress-theme=farmtheme"
    assert edge["rare_spins"] == "zorbly -> quick (2 sites)"
    assert "published" in edge["shared_sources"] and "captured" in edge["shared_sources"]
    assert edge["tier"] == "strong"
    for key in ("strength", *(f"{kind}_strength" for kind in EVIDENCE_KINDS)):
        assert edge[key] == pytest.approx(graph.edges["alpha.example", "beta.example"][key])
    # One node attribute per indicator kind, as Gephi filters on them.
    node = gexf.nodes["alpha.example"]
    assert node["adsense"] == SHARED_PUB and node["wordpress-theme"] == "farmtheme"
    assert node["generator"] == "WordPress 6.4" and "ids" not in node
    assert node["strongest_tier"] == "strong"

    stored = Database(network_db).sites()
    with (out / "sites.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["site"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(stored.index[stored["pages"] > 0])
    for site, row in rows.items():
        for column in ("pages", "copied_pages", "sources_copied"):
            assert int(row[column]) == stored.loc[site, column], (site, column)
        assert int(row["community"]) == graph.nodes[site]["community"]
        assert row["strongest_tier"] == graph.nodes[site].get("strongest_tier", "")
    # Lags from the sources' publication to the copies' own dates, when they have one.
    assert rows["alpha.example"]["median_lag_hours"] != ""

    with (out / "edges.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == EDGES_COLUMNS
        edges = {(row["site_a"], row["site_b"]): row for row in reader}
    assert set(edges) == {tuple(sorted((a, b))) for a, b in graph.edges}
    row = edges["alpha.example", "beta.example"]
    assert row["tier"] == "strong" and row["shared_ids"] == f"adsense={SHARED_PUB}"
    assert "at most 20.0 h apart" in row["shared_sources"]

    page = lxml.html.parse(str(out / "network.html")).getroot()
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
    assert len(page.xpath("//*[local-name()='svg']//*[local-name()='circle']")) == len(graph)
    assert not page.xpath("//script | //link | //iframe | //img")
    text = page.text_content()
    assert SHARED_PUB in text and "gamma.example" in text
    assert "alpha.example: published" in text and "at most 20.0 h apart" in text
    tiers = page.xpath("//span[contains(@class, 'tier-')]/text()")
    assert "strong" in tiers


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
            published=BASE - timedelta(hours=1),
        )
        session.add(source)
        session.flush()
        ids = [_site(session, name) for name in names]
        for number, site_id in enumerate(ids):
            _indicator(session, site_id, "adsense", img, evidence=f"{script} {template}")
            _indicator(session, site_id, "google-analytics", template)
            page = _page(session, site_id, f"https://x{number}.example/{img}", captured=BASE)
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
                # Scraped URLs only as http(s); else only the sites' own dossiers (made names).
                dossier = re.fullmatch(r"dossiers/[a-z0-9.-]+(_[0-9a-f]{16})?\.html", value)
                assert dossier or value.strip().lower().startswith(("http://", "https://")), value
    text = page.text_content()
    assert script in text and img in text and template in text  # shown as text, not evaluated
    assert "javascript:alert(3)" in text
    assert not page.xpath("//a[contains(@href, 'javascript')]")

    gexf = nx.read_gexf(tmp_path / "network.gexf")  # parses: the XML escaping held
    assert {f"{script}.example", f"{img}.example", "=HYPERLINK(1).example"} == set(gexf.nodes)
    tree = lxml.etree.parse(str(tmp_path / "network.gexf"))
    assert not tree.xpath("//*[local-name()='script']")
    assert any(img in data["shared_ids"] for _, _, data in gexf.edges(data=True))
    assert all(data["adsense"] == img for _, data in gexf.nodes(data=True))

    with (tmp_path / "sites.csv").open(encoding="utf-8", newline="") as handle:
        sites = [row["site"] for row in csv.DictReader(handle)]
    assert "'=HYPERLINK(1)\x01.example" in sites
    with (tmp_path / "edges.csv").open(encoding="utf-8", newline="") as handle:
        edges = list(csv.DictReader(handle))
    assert any(row["site_b"] == "'=HYPERLINK(1)\x01.example" for row in edges)
    assert all(row["shared_sources"].startswith("javascript:alert(3) (") for row in edges)


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
            "0.01",
        ],
    )
    assert result.exit_code == 0, result.output
    # The two bundled farms run by different operators share only common synonyms: a weak link.
    assert "2 sites, 1 link, 1 community" in result.output
    with (out / "edges.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["tier"] == "weak" and row["rare_spins"] == "" and row["shared_ids"] == ""
    assert {p.name for p in out.iterdir()} == {
        "network.gexf",
        "network.png",
        "network.html",
        "sites.csv",
        "edges.csv",
        "dossiers",
    }
    assert {p.name for p in (out / "dossiers").iterdir()} == {
        "dailytrendwire.example.html",
        "newsbuzzhub.example.html",
    }
    bad = CliRunner().invoke(
        cli, ["--db", sqlite_url, "report", "network", "-o", str(out), "--min-strength", "2"]
    )
    assert bad.exit_code == 2 and "min-strength" in bad.output


def test_copy_timing_per_link_and_per_farm(migrated: Engine) -> None:
    """Issue 13, item 4: each link's delay from the source's publication to the page's first
    capture and to its own published date; per farm, how many copies came within 2 and 24
    hours, in the network report, the matches export and the notebook frame."""
    from spintrace.reports.export import iter_rows

    (source_id, published), *_ = _sources(_with_demo_sources(migrated))
    with Session(migrated) as session:
        fast = _site(session, "fast.example")
        slow = _site(session, "slow.example")
        for i, hours in enumerate((0.5, 1.5, 30)):
            page = _page(session, fast, f"https://fast.example/{i}",
                         captured=published + timedelta(hours=hours))  # fmt: skip
            _match(session, page, source_id)
        page = _page(session, slow, "https://slow.example/0",
                     published=published + timedelta(hours=50),
                     captured=published + timedelta(hours=72))  # fmt: skip
        _match(session, page, source_id)
        _match(session, _page(session, slow, "https://slow.example/untimed"), source_id)
        session.commit()
    graph = build_network(migrated, min_strength=0)
    fast_stats, slow_stats = (graph.nodes[d]["stats"] for d in ("fast.example", "slow.example"))
    assert (fast_stats.timed_copies, fast_stats.within_2h, fast_stats.within_24h) == (3, 2, 2)
    assert fast_stats.median_lag_hours == pytest.approx(1.5)
    assert (slow_stats.timed_copies, slow_stats.within_2h, slow_stats.within_24h) == (1, 0, 0)
    assert slow_stats.median_lag_hours == pytest.approx(50)  # its own date, not the capture
    rows = {r["page_url"]: r for r in iter_rows(migrated, "matches")}
    assert rows["https://fast.example/0"]["copy_delay_hours"] == pytest.approx(0.5)
    assert rows["https://fast.example/0"]["published_delay_hours"] is None
    assert rows["https://slow.example/0"]["copy_delay_hours"] == pytest.approx(72)
    assert rows["https://slow.example/0"]["published_delay_hours"] == pytest.approx(50)
    assert rows["https://slow.example/untimed"]["copy_delay_hours"] is None
    timing = Database(migrated).copy_timing()
    assert timing.loc["fast.example", "within_2h"] == 2
    assert timing.loc["fast.example", "timed"] == 3 and timing.loc["slow.example", "links"] == 2
    assert timing.loc["fast.example", "median_hours"] == pytest.approx(1.5)
    assert timing.loc["slow.example", "median_published_hours"] == pytest.approx(50)
    assert timing.index[0] == "fast.example"
