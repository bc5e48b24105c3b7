"""The money trail (issue 13, item 5): ads.txt records and sellers.json entries stored
idempotently; seller accounts as network evidence, weighed by relationship, seller type and how
many sites list them; the ads.txt-to-AdSense match; the per-site dossiers, hostile values
inert."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import networkx as nx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from spintrace.db.models import Document, Site, SiteIndicator
from spintrace.db.watch import Seller
from spintrace.ingest.adstxt import parse_ads_txt, parse_sellers_json
from spintrace.ingest.money import seller_of, store_ads_txt, store_sellers
from spintrace.reports.dossier import dossier_name, write_dossiers
from spintrace.reports.network.graph import build_network, write_network_report
from spintrace.reports.network.model import (
    MONEY_INTERMEDIARY_WEIGHT,
    MONEY_RESELLER_WEIGHT,
    MONEY_UNKNOWN_WEIGHT,
    noisy_or,
    rarity,
)
from spintrace.reports.rendering import CSP, http_url

PUB = "pub-1111222233334444"
SCRIPT = "<script>alert(1)</script>"

ADS_TXT = f"""\
# ads.txt of alpha.example
google.com, {PUB}, DIRECT, f08c47fec0942fa0   # our own account
appnexus.com, 7745, RESELLER
OWNERDOMAIN=Alpha-Media.example
MANAGERDOMAIN=adsmanager.example,US
contact=ads@alpha.example
"""


def _site(session: Session, domain: str, pages: int = 1) -> int:
    """A site; with ``pages``, a suspect (a site with pages)."""
    site = Site(domain=domain)
    session.add(site)
    session.flush()
    for number in range(pages):
        text = f"copied text {number} of {domain}"
        session.add(
            Document(
                role="page",
                url=f"https://{domain}/{number}",
                site_id=site.id,
                text=text,
                text_sha256=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    session.flush()
    return site.id


def _sellers(session: Session, system: str, entries: Iterable[tuple[str, str, str]]) -> int:
    """Store a sellers.json of ``system`` with (seller_id, name, seller_type) entries."""
    document = {
        "version": "1.0",
        "sellers": [
            {"seller_id": seller_id, "name": name, "domain": f"{seller_id}.example",
             "seller_type": seller_type}
            for seller_id, name, seller_type in entries
        ],
    }  # fmt: skip
    parsed = parse_sellers_json(json.dumps(document), f"{system}/sellers.json")
    return store_sellers(session, system, parsed, f"https://{system}/sellers.json")


def _indicators(session: Session, site_id: int) -> dict[tuple[str, str], SiteIndicator]:
    rows = session.scalars(select(SiteIndicator).where(SiteIndicator.site_id == site_id))
    return {(row.kind, row.value): row for row in rows}


# --- storing -------------------------------------------------------------------------------------


def test_store_ads_txt_is_idempotent(migrated: Engine) -> None:
    with Session(migrated) as session:
        site_id = _site(session, "alpha.example")
        stored = store_ads_txt(session, site_id, "ads.txt", parse_ads_txt(ADS_TXT))
        app = parse_ads_txt(f"google.com, {PUB}, DIRECT\nopenx.com, 5\x005, DIRECT\n")
        assert store_ads_txt(session, site_id, "app-ads.txt", app) == 2
        session.commit()
        assert stored == 2  # records; the owner and manager domains are not counted
        first = {key: (row.id, row.last_seen) for key, row in _indicators(session, site_id).items()}
        assert set(first) == {
            ("ads-txt", f"google.com, {PUB}, DIRECT"),
            ("ads-txt", "appnexus.com, 7745, RESELLER"),
            ("ads-txt-owner", "alpha-media.example"),
            ("ads-txt-manager", "adsmanager.example"),  # the country after the comma dropped
            ("app-ads-txt", f"google.com, {PUB}, DIRECT"),
            ("app-ads-txt", "openx.com, 55, DIRECT"),  # NUL: no PostgreSQL text holds it
        }
        row = _indicators(session, site_id)["ads-txt", f"google.com, {PUB}, DIRECT"]
        assert row.evidence == (
            f"ads.txt line 2: google.com, {PUB}, DIRECT, f08c47fec0942fa0   # our own account"
        )
        assert row.captures == 1
        owner = _indicators(session, site_id)["ads-txt-owner", "alpha-media.example"]
        assert owner.evidence == "ads.txt: OWNERDOMAIN=Alpha-Media.example"

        # The same file fetched again: a sighting each, no new row.
        assert store_ads_txt(session, site_id, "ads.txt", parse_ads_txt(ADS_TXT)) == 2
        session.commit()
        again = _indicators(session, site_id)
        assert {key: row.id for key, row in again.items()} == {k: v[0] for k, v in first.items()}
        assert again["ads-txt", f"google.com, {PUB}, DIRECT"].captures == 2
        assert again["app-ads-txt", f"google.com, {PUB}, DIRECT"].captures == 1
        assert again["ads-txt-owner", "alpha-media.example"].captures == 2
        assert (
            again["ads-txt", "appnexus.com, 7745, RESELLER"].last_seen
            >= first["ads-txt", "appnexus.com, 7745, RESELLER"][1]
        )

        # A changed file: the dropped record keeps its row (last seen before), a new one is added.
        changed = parse_ads_txt(f"google.com, {PUB}, DIRECT\nrubiconproject.com, 11078, DIRECT\n")
        assert store_ads_txt(session, site_id, "ads.txt", changed) == 2
        session.commit()
        rows = _indicators(session, site_id)
        assert ("ads-txt", "rubiconproject.com, 11078, DIRECT") in rows
        assert rows["ads-txt", "appnexus.com, 7745, RESELLER"].captures == 2
        assert rows["ads-txt", f"google.com, {PUB}, DIRECT"].captures == 3
        with pytest.raises(ValueError, match=r"ads\.txt"):
            store_ads_txt(session, site_id, "sellers.json", changed)  # type: ignore[arg-type]


def test_store_sellers_replaces_the_ad_systems_entries(migrated: Engine) -> None:
    with Session(migrated) as session:
        first = [
            (PUB, "Alpha Media", "PUBLISHER"),
            ("pub-2", "Gone Ltd", "PUBLISHER"),
            ("pub-3", "Old name", "INTERMEDIARY"),
        ]
        assert _sellers(session, "google.com", first) == 3
        _sellers(session, "appnexus.com", [("7745", "Exchange", "INTERMEDIARY")])
        session.commit()
        # The next load: pub-2 gone, pub-3 renamed and retyped, pub-4 new, a NUL in a name.
        second = [
            (PUB, "Alpha Media", "PUBLISHER"),
            ("pub-3", "New\x00 name", "BOTH"),
            ("pub-4", "New Co", "PUBLISHER"),
        ]
        assert _sellers(session, "Google.com", second) == 3
        session.commit()
        rows = session.execute(
            select(Seller.ad_system, Seller.seller_id, Seller.name, Seller.seller_type).order_by(
                Seller.ad_system, Seller.seller_id
            )
        ).all()
        assert [tuple(row) for row in rows] == [
            ("appnexus.com", "7745", "Exchange", "INTERMEDIARY"),  # another system: untouched
            ("google.com", PUB, "Alpha Media", "PUBLISHER"),
            ("google.com", "pub-3", "New name", "BOTH"),
            ("google.com", "pub-4", "New Co", "PUBLISHER"),
        ]
        seller = seller_of(session, "google.com", PUB)
        assert seller is not None and seller.name == "Alpha Media"
        assert seller.domain == f"{PUB}.example" and seller.source.endswith("sellers.json")
        # An AdSense client ID from a page is the same google.com account.
        assert seller_of(session, "GOOGLE.COM", f"ca-{PUB}") == seller
        assert seller_of(session, "google.com", "pub-2") is None
        assert seller_of(session, "openx.com", PUB) is None
        # An empty file empties the system.
        empty = parse_sellers_json('{"sellers": []}')
        assert store_sellers(session, "appnexus.com", empty, "x") == 0
        session.commit()
        count = select(func.count()).select_from(Seller).where(Seller.ad_system == "appnexus.com")
        assert session.scalar(count) == 0


# --- network evidence ----------------------------------------------------------------------------


def _farms(engine: Engine, files: dict[str, str], adsense: dict[str, str] | None = None) -> None:
    """Suspect sites with these ads.txt files, and AdSense IDs found in their pages."""
    with Session(engine) as session:
        for domain, text in files.items():
            site_id = _site(session, domain)
            if text:
                store_ads_txt(session, site_id, "ads.txt", parse_ads_txt(text))
        for domain, client in (adsense or {}).items():
            site_id = session.scalar(select(Site.id).where(Site.domain == domain)) or _site(
                session, domain
            )
            SiteIndicator.record(session, site_id, "adsense", client, f"data-ad-client={client}")
        _sellers(session, "google.com", [(PUB, "Alpha Media", "PUBLISHER")])
        _sellers(session, "exchange.example", [("42", "Big Exchange", "INTERMEDIARY"),
                                               ("77", "Both Ways", "BOTH")])  # fmt: skip
        session.commit()


def _edge(graph: nx.Graph[str], a: str, b: str) -> dict[str, object]:
    data: dict[str, object] = graph.edges[a, b]
    return data


def test_a_shared_direct_publisher_account_is_strong_an_intermediary_weak(
    migrated: Engine,
) -> None:
    _farms(
        migrated,
        {
            "pub-a.example": f"google.com, {PUB}, DIRECT\n",
            "pub-b.example": f"google.com, {PUB}, DIRECT\n",
            "mid-a.example": "exchange.example, 42, DIRECT\n",
            "mid-b.example": "exchange.example, 42, DIRECT\n",
            "both-a.example": "exchange.example, 77, DIRECT\n",
            "both-b.example": "exchange.example, 77, DIRECT\n",
            "res-a.example": "google.com, pub-9, RESELLER\nexchange.example, 99, DIRECT\n",
            "res-b.example": "google.com, pub-9, DIRECT\nexchange.example, 99, DIRECT\n",
            "lone.example": "exchange.example, 1234, DIRECT\n",
            "owner-a.example": "OWNERDOMAIN=operator.example\n",
            "owner-b.example": "ownerdomain=OPERATOR.example\n",
        },
    )
    graph = build_network(migrated, min_strength=0)
    strong = _edge(graph, "pub-a.example", "pub-b.example")
    assert strong["tier"] == "strong"
    assert strong["money_strength"] == pytest.approx(0.9)  # 2 sites: rarity 1
    (item,) = strong["evidence"].money  # type: ignore[attr-defined]
    assert (item.ad_system, item.account_id, item.relationship) == ("google.com", PUB, "DIRECT")
    assert item.basis == "publisher" and item.sites == 2
    assert item.seller.summary == f"Alpha Media, {PUB}.example, PUBLISHER"
    assert (item.found_a, item.found_b) == ("ads.txt DIRECT", "ads.txt DIRECT")

    # An exchange's account listed DIRECT: at most weak.
    weak = _edge(graph, "mid-a.example", "mid-b.example")
    assert weak["tier"] == "weak"
    assert weak["strength"] == pytest.approx(MONEY_INTERMEDIARY_WEIGHT)
    assert weak["evidence"].money[0].seller.seller_type == "INTERMEDIARY"  # type: ignore[attr-defined]
    # BOTH counts as a publisher.
    assert _edge(graph, "both-a.example", "both-b.example")["tier"] == "strong"
    # A RESELLER on either side; an account no sellers.json names: capped together.
    resold = _edge(graph, "res-a.example", "res-b.example")
    weights = {i.account_id: (i.basis, i.weight) for i in resold["evidence"].money}  # type: ignore[attr-defined]
    assert weights == {
        "pub-9": ("reseller", pytest.approx(MONEY_RESELLER_WEIGHT)),
        "99": ("unknown seller", pytest.approx(MONEY_UNKNOWN_WEIGHT)),
    }
    assert resold["money_strength"] == pytest.approx(
        noisy_or((MONEY_UNKNOWN_WEIGHT, MONEY_RESELLER_WEIGHT))
    )
    assert resold["tier"] == "weak"
    # The same owner domain (case aside): medium.
    owner = _edge(graph, "owner-a.example", "owner-b.example")
    assert owner["tier"] == "medium" and owner["money_strength"] == pytest.approx(0.5)
    assert graph.degree("lone.example") == 0
    # Under the default minimum strength an exchange's account alone makes no link at all.
    default = build_network(migrated)
    assert default.has_edge("pub-a.example", "pub-b.example")
    assert not default.has_edge("mid-a.example", "mid-b.example")


def test_an_account_many_sites_list_weighs_little(migrated: Engine) -> None:
    many = f"google.com, {PUB}, DIRECT\n"
    files = {f"farm{n}.example": many for n in range(8)}
    files |= {
        "farm8.example": "google.com, pub-5, DIRECT\n",
        "farm9.example": "google.com, pub-5, DIRECT\n",
    }
    _farms(migrated, files)
    graph = build_network(migrated, min_strength=0)
    common = _edge(graph, "farm0.example", "farm1.example")
    (item,) = common["evidence"].money  # type: ignore[attr-defined]
    assert item.sites == 8 and item.seller.seller_type == "PUBLISHER"
    assert item.weight == pytest.approx(0.9 * rarity(8, 10)) and item.weight < 0.2
    assert common["tier"] == "weak"
    # The account only farm8 and farm9 list (no sellers.json entry): 0.35, undiscounted.
    rare = _edge(graph, "farm8.example", "farm9.example")
    assert rare["money_strength"] == pytest.approx(MONEY_UNKNOWN_WEIGHT)
    # Unknown accounts together are capped: a copied block of lines is one clue.
    assert rare["tier"] == "weak"


def test_ads_txt_matches_an_adsense_id_in_the_other_sites_pages(migrated: Engine) -> None:
    _farms(
        migrated,
        {
            "lister.example": f"google.com, {PUB}, DIRECT\n",
            "carrier.example": "",
            "carrier-too.example": "",
            "reseller.example": "google.com, pub-6666, RESELLER\n",
        },
        adsense={
            "carrier.example": f"ca-{PUB}",
            "carrier-too.example": f"ca-{PUB}",
            "page-only.example": "ca-pub-6666",
        },
    )
    graph = build_network(migrated, min_strength=0)
    edge = _edge(graph, "carrier.example", "lister.example")
    assert edge["tier"] == "strong"
    (item,) = edge["evidence"].money  # type: ignore[attr-defined]
    assert (item.site_a, item.found_a) == ("carrier.example", "AdSense ID in its pages")
    assert (item.site_b, item.found_b) == ("lister.example", "ads.txt DIRECT")
    assert item.seller.name == "Alpha Media" and item.sites == 3
    assert item.weight == pytest.approx(0.9 * rarity(3, 10))  # at least 10 counted
    # Both carry the ID in their pages: the ids evidence, not counted twice.
    both = _edge(graph, "carrier-too.example", "carrier.example")
    assert not both["evidence"].money and both["ids_strength"] == pytest.approx(0.9)  # type: ignore[attr-defined]
    # A page's AdSense ID is DIRECT; a RESELLER line is not.
    resold = _edge(graph, "page-only.example", "reseller.example")
    assert resold["evidence"].money[0].relationship == "RESELLER"  # type: ignore[attr-defined]
    assert resold["tier"] == "weak"


def test_money_evidence_in_the_report_files(migrated: Engine, tmp_path: Path) -> None:
    _farms(
        migrated,
        {"pub-a.example": f"google.com, {PUB}, DIRECT\n", "pub-b.example": ADS_TXT},
    )
    summary = write_network_report(migrated, tmp_path)
    with (tmp_path / "edges.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert row["tier"] == "strong" and float(row["money_strength"]) == pytest.approx(0.9)
    assert row["money_trail"] == (
        f"google.com {PUB} DIRECT (pub-a.example: ads.txt DIRECT; pub-b.example: ads.txt DIRECT; "
        f"seller Alpha Media, {PUB}.example, PUBLISHER; 2 sites, publisher, weight 0.90)"
    )
    gexf = nx.read_gexf(tmp_path / "network.gexf")
    edge = gexf.edges["pub-a.example", "pub-b.example"]
    assert edge["money_trail"] == row["money_trail"] and edge["money"] == 1
    assert gexf.nodes["pub-b.example"]["ads-txt-owner"] == "alpha-media.example"
    page = lxml.html.parse(str(tmp_path / "network.html")).getroot()
    text = page.text_content()
    assert "seller account: google.com" in text and "Alpha Media" in text
    links = dict(zip(page.xpath("//td/a/text()"), page.xpath("//td/a/@href"), strict=True))
    assert links == {
        "pub-a.example": "dossiers/pub-a.example.html",
        "pub-b.example": "dossiers/pub-b.example.html",
    }
    assert {p.name for p in summary.dossiers} == {"pub-a.example.html", "pub-b.example.html"}


# --- dossiers ------------------------------------------------------------------------------------


def test_dossier_contents_and_links(migrated: Engine, tmp_path: Path) -> None:
    _farms(
        migrated,
        {"alpha.example": ADS_TXT, "beta.example": ADS_TXT.replace("Alpha-Media", "beta")},
        adsense={"gamma.example": f"ca-{PUB}"},
    )
    with Session(migrated) as session:
        gamma = session.scalar(select(Site.id).where(Site.domain == "gamma.example"))
        assert gamma is not None
        SiteIndicator.record(session, gamma, "google-analytics", "G-SHARED", "gtag G-SHARED")
        source = _site(session, "source.example", pages=0)  # not a suspect: no dossier
        SiteIndicator.record(session, source, "google-analytics", "G-SHARED", "gtag G-SHARED")
        session.commit()
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "notes.html").write_text("<title>mine</title>", encoding="utf-8")
    (folder / "gone.example.html").write_text("<title>x: spintrace dossier</title>", "utf-8")
    (tmp_path / "target.html").write_text("outside", encoding="utf-8")
    (folder / "alpha.example.html").symlink_to(tmp_path / "target.html")
    written = write_dossiers(migrated, folder, back="../network.html")
    # An earlier dossier goes, anything else stays; a planted link is not written through.
    assert (folder / "notes.html").is_file() and not (folder / "gone.example.html").exists()
    assert (tmp_path / "target.html").read_text(encoding="utf-8") == "outside"
    assert not (folder / "alpha.example.html").is_symlink()
    assert [p.name for p in written] == [
        "alpha.example.html", "beta.example.html", "gamma.example.html",
    ]  # fmt: skip
    page = lxml.html.parse(str(tmp_path / "d" / "alpha.example.html")).getroot()
    assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
    rows = {
        tuple(" ".join(td.text_content().split()) for td in tr.xpath("td"))
        for tr in page.xpath("//tr")
    }
    google = next(row for row in rows if row and row[0] == PUB)
    assert google[1:5] == ("DIRECT", "ads.txt", "Alpha Media", f"{PUB}.example")
    assert google[5].startswith("PUBLISHER sellers.json: https://google.com/sellers.json, loaded")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert google[6].startswith(today) and google[7].startswith(today)  # first, last seen
    # The other sites with the account: beta's ads.txt, gamma's pages (linked to dossiers).
    assert google[8] == "beta.example (ads.txt DIRECT), gamma.example (AdSense ID in its pages)"
    appnexus = next(row for row in rows if row and row[0] == "7745")
    assert appnexus[1:4] == ("RESELLER", "ads.txt", "no sellers.json entry stored")
    owner = next(row for row in rows if row and row[0] == "OWNERDOMAIN")
    assert owner[1] == "alpha-media.example" and owner[4] == "-"  # beta's owner differs
    manager = next(row for row in rows if row and row[0] == "MANAGERDOMAIN")
    assert manager[1] == "adsmanager.example" and manager[4].startswith("beta.example")
    hrefs = page.xpath("//a/@href")
    assert "../network.html" in hrefs and "beta.example.html" in hrefs
    assert "gamma.example.html" in hrefs

    # gamma: its AdSense ID with the seller and the ads.txt listers; its Analytics ID is on a
    # source site too (named, not linked: a source has no dossier).
    gamma_page = lxml.html.parse(str(tmp_path / "d" / "gamma.example.html")).getroot()
    rows = {
        tuple(" ".join(td.text_content().split()) for td in tr.xpath("td"))
        for tr in gamma_page.xpath("//tr")
    }
    adsense = next(row for row in rows if row and row[0] == "adsense")
    assert adsense[1] == f"ca-{PUB} seller: Alpha Media, {PUB}.example, PUBLISHER"
    assert adsense[5] == "alpha.example (ads.txt DIRECT), beta.example (ads.txt DIRECT)"
    analytics = next(row for row in rows if row and row[0] == "google-analytics")
    assert analytics[5] == "source.example"
    assert "source.example.html" not in gamma_page.xpath("//a/@href")
    assert "No ads.txt or app-ads.txt records stored." in gamma_page.text_content()


def test_dossiers_are_inert_with_hostile_values(migrated: Engine, tmp_path: Path) -> None:
    hostile_site = f"{SCRIPT}.example"
    account = '"><img src=x onerror=alert(2)>'
    with Session(migrated) as session:
        site_id = _site(session, hostile_site)
        text = f"exchange.example, {account}, DIRECT\ngoogle.com, {PUB}, DIRECT\n"
        text += f"exchange.example, {SCRIPT}, DIRECT\nMANAGERDOMAIN={SCRIPT}\n"
        assert store_ads_txt(session, site_id, "ads.txt", parse_ads_txt(text)) == 3
        other = _site(session, "plain.example")
        store_ads_txt(session, other, "ads.txt", parse_ads_txt(text))
        _sellers(session, "google.com", [(PUB, SCRIPT, "PUBLISHER")])
        _sellers(session, "exchange.example", [(SCRIPT, "{{ 7*7 }}", "PUBLISHER")])
        session.commit()
    write_network_report(migrated, tmp_path)
    name = dossier_name(hostile_site)
    assert name.endswith(".html") and "<" not in name and "_" in name
    assert (tmp_path / "dossiers" / name).is_file()
    for path in [tmp_path / "network.html", *(tmp_path / "dossiers").iterdir()]:
        page = lxml.html.parse(str(path)).getroot()
        assert page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content") == [CSP]
        assert not page.xpath("//script | //img | //iframe"), path.name
        for element in page.iter():
            if isinstance(element.tag, str):
                assert not any(a.lower().startswith("on") for a in element.attrib), path.name
        for href in page.xpath("//a/@href"):  # every local link goes to a file that exists
            assert http_url(href) or (path.parent / href).resolve().is_file(), (path.name, href)
    text = lxml.html.parse(str(tmp_path / "dossiers" / name)).getroot().text_content()
    assert SCRIPT in text and account in text and "{{ 7*7 }}" in text  # shown, not run
    assert hostile_site in text
    network = lxml.html.parse(str(tmp_path / "network.html")).getroot()
    assert network.xpath("//a[@href=$h]/text()", h=f"dossiers/{name}") == [hostile_site]
    with (tmp_path / "edges.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert SCRIPT in row["money_trail"] and row["tier"] == "strong"


def test_dossier_names_are_safe_and_distinct() -> None:
    assert dossier_name("alpha.example") == "alpha.example.html"
    hostile = ["../../etc/passwd", "a/b", "A.example", "localhost:8080", ".", "x" * 300, ""]
    names = [dossier_name(domain) for domain in hostile]
    assert len(set(names)) == len(names)
    for name in names:
        assert "/" not in name and not name.startswith(".") and len(name) < 120
        assert name.endswith(".html") and "_" in name
