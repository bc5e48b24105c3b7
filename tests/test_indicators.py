"""Site indicators: demo farms, one snippet per kind, look-alikes that are not IDs, hostile input
and the 181 real pages of the scrapinghub benchmark."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spintrace.ingest.indicators import (
    KINDS,
    MAX_BYTES,
    MAX_OUTBOUND_LINKS,
    Indicator,
    find_indicators,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "spintrace" / "demo" / "data" / "pages.jsonl"
SCRAPINGHUB = ROOT.parent / "shared" / "data" / "html" / "scrapinghub"
URL = "https://farm.example/2026/03/16/some-story/"
ID_KINDS = set(KINDS) - {
    "generator",
    "wordpress-theme",
    "wordpress-plugin",
    "favicon-url",
    "outbound-link",
}


def _page(head: str = "", body: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


def _pairs(html: str | bytes, url: str = URL) -> set[tuple[str, str]]:
    return {(i.kind, i.value) for i in find_indicators(html, url)}


def _ids(html: str | bytes, url: str = URL) -> set[tuple[str, str]]:
    return {pair for pair in _pairs(html, url) if pair[0] in ID_KINDS}


# --- the demo farms -----------------------------------------------------------------------------


def _demo_html() -> list[dict[str, str]]:
    rows = [json.loads(line) for line in DEMO.open(encoding="utf-8")]
    return [row for row in rows if "html" in row]


@pytest.mark.parametrize("page", _demo_html(), ids=lambda p: p["url"][8:40])
def test_demo_farms_carry_exactly_their_own_ids(page: dict[str, str]) -> None:
    expected = {
        "dailytrendwire.example": {
            ("google-analytics", "G-DEMO12345"),
            ("adsense", "ca-pub-1234567890123456"),
        },
        "newsbuzzhub.example": {
            ("google-analytics", "G-DEMO67890"),
            ("adsense", "ca-pub-6543210987654321"),
        },
    }
    host = page["url"].split("/")[2]
    assert _ids(page["html"], page["url"]) == expected[host]


def test_demo_farm_theme_is_found() -> None:
    page = next(p for p in _demo_html() if "dailytrendwire" in p["url"])
    assert ("wordpress-theme", "trendy-mag") in _pairs(page["html"], page["url"])


# --- one snippet per kind -----------------------------------------------------------------------

GTAG = (
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-AB12CD34EF"></script>'
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js', new Date()); gtag('config', 'G-AB12CD34EF'); gtag('config', 'AW-123456789');"
    "</script>"
)
GTM = (
    "<script>(function(w,d,s,l,i){w[l]=w[l]||[];})(window,document,'script','dataLayer',"
    "'GTM-K7X2PQ');</script>"
)
GTM_NOSCRIPT = (
    '<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABCD12"'
    ' height="0" width="0"></iframe></noscript>'
)
SNIPPETS: list[tuple[str, str, set[tuple[str, str]]]] = [
    ("gtag", GTAG, {("google-analytics", "G-AB12CD34EF"), ("google-ads", "AW-123456789")}),
    (
        "analytics.js",
        "<script>ga('create', 'UA-1234567-2', 'auto'); ga('send', 'pageview');</script>",
        {("google-analytics", "UA-1234567-2")},
    ),
    (
        "ga.js",
        "<script>var _gaq=_gaq||[];_gaq.push(['_setAccount', 'UA-998877-1']);</script>",
        {("google-analytics", "UA-998877-1")},
    ),
    (
        "monsterinsights",
        "<script>__gtagTracker('config', 'G-ZZ99YY88XX', {});</script>",
        {("google-analytics", "G-ZZ99YY88XX")},
    ),
    ("gtm", GTM, {("google-tag-manager", "GTM-K7X2PQ")}),
    ("gtm noscript", GTM_NOSCRIPT, {("google-tag-manager", "GTM-ABCD12")}),
    (
        "adsense ins",
        '<ins class="adsbygoogle" data-ad-client="ca-pub-1111222233334444" data-ad-slot="1"></ins>',
        {("adsense", "ca-pub-1111222233334444")},
    ),
    (
        "adsense legacy",
        '<script>google_ad_client = "pub-5555666677778888"; google_ad_width = 728;</script>',
        {("adsense", "ca-pub-5555666677778888")},
    ),
    (
        "adsense meta",
        '<meta name="google-adsense-account" content="ca-pub-9999000011112222">',
        {("adsense", "ca-pub-9999000011112222")},
    ),
    (
        "facebook pixel",
        "<script>!function(f,b,e,v,n,t,s){}(window, document,'script');"
        "fbq('init', '123456789012345'); fbq('track', 'PageView');</script>"
        '<noscript><img height="1" width="1" '
        'src="https://www.facebook.com/tr?id=543210987654321&amp;ev=PageView&amp;noscript=1">'
        "</noscript>",
        {("facebook-pixel", "123456789012345"), ("facebook-pixel", "543210987654321")},
    ),
    (
        "yandex metrica",
        '<script>ym(87654321, "init", {clickmap:true});</script>'
        '<noscript><img src="https://mc.yandex.ru/watch/87654321" alt=""></noscript>',
        {("yandex-metrica", "87654321")},
    ),
    (
        "hotjar",
        "<script>(function(h,o,t,j,a,r){h._hjSettings={hjid:1234567,hjsv:6};})"
        "(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');</script>",
        {("hotjar", "1234567")},
    ),
    (
        "clarity",
        '<script>(function(c,l,a,r,i,t,y){})(window, document, "clarity", "script", '
        '"abcd1234ef");</script>',
        {("microsoft-clarity", "abcd1234ef")},
    ),
    (
        "statcounter",
        '<script>var sc_project=11223344; var sc_security="ab12cd34";</script>',
        {("statcounter", "11223344")},
    ),
    (
        "quantcast",
        '<script>_qevents.push({qacct:"p-AbCdEf123456"});</script>',
        {("quantcast", "p-AbCdEf123456")},
    ),
    (
        "taboola",
        "<script>!function(e,f,u,i){}(document.createElement('script'),"
        "document.getElementsByTagName('script')[0],"
        "'//cdn.taboola.com/libtrc/spunnews-network/loader.js','tb_loader_script');</script>",
        {("taboola", "spunnews-network")},
    ),
    (
        "amazon",
        '<a href="https://www.amazon.com/dp/B00X4WHP5E?tag=farmdeals-20&amp;linkCode=ll1">Buy</a>',
        {("amazon-affiliate", "farmdeals-20")},
    ),
]


@pytest.mark.parametrize(("name", "body", "expected"), SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_each_kind_of_id_is_found(name: str, body: str, expected: set[tuple[str, str]]) -> None:
    assert _ids(_page(body=body)) == expected


def test_generator_theme_and_plugins() -> None:
    html = _page(
        head='<meta name="generator" content="WordPress 6.4.2">'
        '<meta name="Generator" content="Elementor 3.18.0; features: e_dom_optimization">'
        '<link rel="stylesheet" href="/wp-content/themes/newsup-child/style.css?ver=1">'
        '<script src="https://farm.example/wp-content/plugins/wp-automatic/js/main.js"></script>'
        '<script>var x = {"url":"https:\\/\\/farm.example\\/wp-content\\/plugins\\/'
        'spinrewriter\\/a.js"};</script>',
    )
    pairs = _pairs(html)
    assert ("generator", "WordPress 6.4.2") in pairs
    assert ("generator", "Elementor 3.18.0; features: e_dom_optimization") in pairs
    assert ("wordpress-theme", "newsup-child") in pairs
    assert {v for k, v in pairs if k == "wordpress-plugin"} == {"wp-automatic", "spinrewriter"}


def test_favicon_is_resolved_against_the_page_and_base() -> None:
    html = _page(head='<link rel="shortcut icon" href="/img/fav.ico">')
    assert ("favicon-url", "https://farm.example/img/fav.ico") in _pairs(html)
    based = _page(
        head='<base href="https://cdn.farm.example/assets/"><link rel="icon" href="f.png">'
    )
    assert ("favicon-url", "https://cdn.farm.example/assets/f.png") in _pairs(based)
    data_uri = _page(head='<link rel="icon" href="data:image/png;base64,iVBORw0KGgo=">')
    assert not [i for i in find_indicators(data_uri, URL) if i.kind == "favicon-url"]


def test_outbound_links_are_article_links_to_other_sites() -> None:
    body = (
        '<p>Originally published by <a href="https://www.realnews.example/2026/03/15/ferry-'
        'sailings-to-double">The <b>Real</b> News</a>.</p>'
        '<a href="https://realnews.example/politics/council-backs-growth-plan-for-ferries#c">x</a>'
        '<a href="/2026/03/10/our-own-article-about-sleep/">own site</a>'
        '<a href="https://sub.farm.example/2026/03/10/same-site-other-host/">same site</a>'
        '<a href="https://www.facebook.com/sharer/sharer.php?u=https://farm.example/x">share</a>'
        '<a href="https://twitter.com/intent/tweet?url=x">tweet</a>'
        '<a href="https://cdn.jsdelivr.net/npm/some-library-name-here/dist/x.js">cdn</a>'
        '<a href="https://www.othersite.example/">a home page</a>'
        '<a href="https://www.othersite.example/wp-content/uploads/2026/03/photo.jpg">img</a>'
        '<a href="javascript:void(0)">js</a><a href="mailto:a@b.example">mail</a>'
    )
    links = [i for i in find_indicators(_page(body=body), URL) if i.kind == "outbound-link"]
    assert [i.value for i in links] == [
        "https://www.realnews.example/2026/03/15/ferry-sailings-to-double",
        "https://realnews.example/politics/council-backs-growth-plan-for-ferries",
    ]
    assert links[0].evidence == "link: The Real News"  # the link's text, not its markup


def test_outbound_links_are_capped() -> None:
    body = "".join(
        f'<a href="https://src{n}.example/2026/01/01/story-number-{n}">s</a>' for n in range(200)
    )
    links = [i for i in find_indicators(_page(body=body), URL) if i.kind == "outbound-link"]
    assert len(links) == MAX_OUTBOUND_LINKS
    assert links[0].value == "https://src0.example/2026/01/01/story-number-0"


def test_order_is_deterministic_and_deduplicated() -> None:
    html = _page(head=GTM + GTAG, body=GTAG + GTM + '<meta name="generator" content="X 1">')
    first = find_indicators(html, URL)
    assert first == find_indicators(html.encode(), URL)
    assert len({(i.kind, i.value) for i in first}) == len(first)
    assert [i.kind for i in first] == sorted((i.kind for i in first), key=KINDS.index)
    assert first[0] == Indicator(
        "google-analytics",
        "G-AB12CD34EF",
        "script src: https://www.googletagmanager.com/gtag/js?id=G-AB12CD34EF",
    )


# --- look-alikes that are not IDs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "<p>Card number 1234567890123456 was stolen; pub-1234567890123456 is a string.</p>",
        "<p>The G-Force ride and the G-ABCDEFGH12 car, UA-1234-1 flight, GTM-ABCD12 model.</p>",
        "<pre>gtag('config', 'G-TUTORIAL12'); fbq('init', '123456789012345');</pre>",
        '<a href="https://example.org/?id=G-ABCDEF1234">link with id= not on Google</a>',
        "<script>var order = '1234567890123456'; var g = 'G-FORCE1234';</script>",
        '<script>var card = "pub-1234567890123456";</script>',
        "<script>ym(1234, 'init');</script>",  # too short for a Metrica counter
        '<a href="https://www.notamazon.example/dp/B0?tag=abc-20">not an Amazon store</a>',
    ],
)
def test_look_alikes_are_not_ids(body: str) -> None:
    assert _ids(_page(body=body)) == set()


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "",
        b"",
        "   ",
        "<<<>>><p unclosed <div><span>",
        b"\x00\x01\x02binary\xff\xfe garbage",
        b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",  # UTF-16 without saying so
        '<?xml version="1.0" encoding="utf-8"?><html><body>x</body></html>',
        b'<meta charset="utf-16"><p>declared UTF-16, is ASCII</p>',
        b'<meta charset="no-such-codec"><p>x</p>',
        "\ud800 lone surrogate <p>x</p>",
        "<html>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000,
        '<a href="http://[::1">bad IPv6</a><a href="http://x.example:99999999/a-b-c-d">port</a>',
    ],
    ids=lambda h: repr(h[:30]),
)
def test_hostile_input_never_raises(html: str | bytes) -> None:
    result = find_indicators(html, "https://x.example/")
    assert isinstance(result, list)
    assert all(isinstance(item, Indicator) for item in result)


def test_huge_attribute_and_huge_page_are_bounded() -> None:
    huge_attribute = _page(body=f'<div data-x="{"A" * 2_500_000}"></div>' + GTM)
    assert ("google-tag-manager", "GTM-K7X2PQ") in _ids(huge_attribute)
    # 10 MB: the ID at the top is found, the one past MAX_BYTES is not looked at.
    padding = "<p>" + "lorem ipsum dolor " * 600_000 + "</p>"
    assert len(padding) > MAX_BYTES
    ten_mb = _page(head=GTAG, body=padding + GTM)
    ids = _ids(ten_mb.encode())
    assert ("google-analytics", "G-AB12CD34EF") in ids
    assert ("google-tag-manager", "GTM-K7X2PQ") not in ids


def test_evidence_is_short_plain_text() -> None:
    html = _page(
        body='<ins data-ad-client="ca-pub-1111222233334444" data-x="\x01"></ins>'
        "<script>" + "x" * 5000 + "\x07 fbq('init', '123456789012345'); " + "y" * 5000 + "</script>"
        '<a href="https://src.example/2026/01/01/a-b-c-d"><img src="a.png"><i>It</i>\x0b'
        "  happened\n\n here</a>"
    )
    found = find_indicators(html, URL)
    assert {i.kind for i in found} >= {"adsense", "facebook-pixel", "outbound-link"}
    for item in found:
        assert len(item.evidence) <= 160
        assert not re.search(r"[\x00-\x1f]", item.evidence)
    link = next(i for i in found if i.kind == "outbound-link")
    assert link.evidence == "link: It happened here"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=3000), st.binary(max_size=3000)))
def test_arbitrary_input_never_raises(data: str | bytes) -> None:
    assert isinstance(find_indicators(data, "https://x.example/a"), list)


_HTMLISH = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "</",
            "<script>",
            "</script>",
            "<a href='",
            '"',
            "'",
            "=",
            "/wp-content/themes/",
            "gtag('config', '",
            "G-ABCDEF12",
            "ca-pub-",
            "1234567890123456",
            "<meta name=generator content=",
            "<link rel=icon href=",
            "https://",
            "\x00",
            "&amp;",
            " ",
            "\ud800",
            "<!--",
            "<![CDATA[",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(_HTMLISH, st.sampled_from(["https://x.example/a", "", "not a url", "http://[::1"]))
def test_html_like_fragments_never_raise(html: str, url: str) -> None:
    result = find_indicators(html, url)
    assert len({(i.kind, i.value) for i in result}) == len(result)


# --- real pages ---------------------------------------------------------------------------------

SHAPES = {
    "google-analytics": r"(G-[A-Z0-9]{6,12}|UA-\d{4,10}-\d{1,4})",
    "google-tag-manager": r"GTM-[A-Z0-9]{4,10}",
    "adsense": r"ca-pub-\d{16}",
    "facebook-pixel": r"\d{10,20}",
}


def test_real_pages() -> None:
    """All 181 scrapinghub pages: no error, plausible IDs, and the common ones found."""
    truth_file = SCRAPINGHUB / "ground-truth.json"
    if not truth_file.is_file():
        pytest.skip(f"scrapinghub pages not found under {SCRAPINGHUB}")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    pages_with: Counter[str] = Counter()
    for key in sorted(truth):
        html = gzip.decompress((SCRAPINGHUB / "html" / f"{key}.html.gz").read_bytes())
        found = find_indicators(html, truth[key]["url"])
        raw = html.decode("utf-8", errors="replace")
        for item in found:
            assert item.kind in KINDS
            if item.kind in SHAPES:
                assert re.fullmatch(SHAPES[item.kind], item.value), item
            if item.kind in ID_KINDS:
                assert item.value.removeprefix("ca-") in raw, item
        kinds = {item.kind for item in found}
        pages_with.update(kinds)
        if kinds & {"google-analytics", "google-tag-manager"}:
            pages_with["ga-or-gtm"] += 1
    print(f"\npages with each kind (of {len(truth)}): {dict(pages_with.most_common())}")
    # Measured: GA or GTM on 112 pages, AdSense on 27, a Facebook pixel on 28, WordPress on 54.
    assert len(truth) == 181
    assert pages_with["ga-or-gtm"] >= 100
    assert pages_with["adsense"] >= 20
    assert pages_with["facebook-pixel"] >= 20
    assert pages_with["wordpress-theme"] >= 40
    assert pages_with["favicon-url"] >= 150
    assert pages_with["outbound-link"] >= 80
