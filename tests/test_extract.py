"""Main-text extraction with real trafilatura on real HTML."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from spintrace.ingest.extract import decode_html, extract_html

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def _demo_html_pages() -> list[dict[str, str]]:
    rows = [json.loads(line) for line in (DEMO / "pages.jsonl").open(encoding="utf-8")]
    return [row for row in rows if "html" in row]


@pytest.mark.parametrize("page", _demo_html_pages(), ids=lambda p: p["url"][-40:])
def test_demo_farm_pages_yield_the_article_only(page: dict[str, str]) -> None:
    extracted = extract_html(page["html"], page["url"])
    assert extracted is not None
    assert extracted.title
    assert not extracted.text.startswith(extracted.title)
    for chrome in ("Leave a Reply", "Related articles", "Home</a>", "googletagmanager"):
        assert chrome not in extracted.text
    assert len(extracted.text.split()) > 100


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html><body></body></html>",
        "<<<>>><p unclosed <div><span>",
        "\x00\x01\x02binary\xff\xfe garbage",
    ],
)
def test_unusable_html_gives_none_not_an_exception(html: str) -> None:
    assert extract_html(html, "https://x.example/") is None


def test_headline_and_byline_are_not_part_of_the_text() -> None:
    html = (
        "<html><head><title>Bridge opens - Site</title></head><body><article>"
        "<h1>Bridge opens</h1><p class='byline'>By Admin</p>"
        "<p>The new bridge over the River Tarn opened on Monday after two years of work, "
        "the council said, and the first cars crossed at noon.</p></article></body></html>"
    )
    extracted = extract_html(html, "https://x.example/bridge")
    assert extracted is not None
    assert extracted.text.startswith("The new bridge")


def _tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def test_extraction_quality_on_real_pages() -> None:
    """Token F1 against the scrapinghub ground truth on a sample of its 181 real pages."""
    folder = SHARED_DATA / "html" / "scrapinghub"
    if not (folder / "ground-truth.json").is_file():
        pytest.skip(f"scrapinghub pages not found under {folder}")
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    scores = []
    for key in sorted(truth)[:40]:
        html = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes())
        extracted = extract_html(html, truth[key].get("url"))
        expected = _tokens(truth[key]["articleBody"])
        got = _tokens(extracted.text) if extracted else Counter()
        overlap = sum((expected & got).values())
        precision = overlap / max(1, sum(got.values()))
        recall = overlap / max(1, sum(expected.values()))
        scores.append(2 * precision * recall / max(1e-9, precision + recall))
    assert sum(scores) / len(scores) > 0.8


# A French brief as a Western legacy CMS writes it: curly quotes, an en dash, accents.
FRENCH = (
    "\u201cÀ la carte, c\u2019est fini,\u201d said the chef of the crème brûlée bar on the "
    "Rue de la Mañana \u2013 the café had served the same menu for thirty years. Ça va très "
    "bien, he said, and the town\u2019s élus agreed to keep the terrace open until October."
)


def _page(charset: str, text: str) -> str:
    body = "".join(f"<p>{text} Part {k} of the report on the harbour works.</p>" for k in range(4))
    return (
        f"<!DOCTYPE html><html><head><meta charset='{charset}'><title>Harbour</title></head>"
        f"<body><article><h1>Harbour</h1>{body}</article></body></html>"
    )


def test_a_windows_1252_page_labelled_utf8_is_decoded_right() -> None:
    """Regression (issue 9.15): trafilatura decoded these bytes as Windows-1250 (its detector's
    first guess), storing "crčme brűlée", "Ŕ la carte" and "Mańana"."""
    raw = _page("utf-8", FRENCH).encode("cp1252")
    assert b"\x93" in raw and b"\xe9" in raw  # real Windows-1252 bytes, invalid as UTF-8
    extracted = extract_html(raw, "https://x.example/brief")
    assert extracted is not None
    assert FRENCH in extracted.text
    assert not {"č", "ű", "Ŕ", "ń", "\ufffd"} & set(extracted.text)


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", FRENCH),
        ("cp1252", FRENCH),
        # A real Central European page stays Windows-1250 (Windows-1252 is only a tie-break).
        (
            "cp1250",
            "Zażółć gęślą jaźń: prezydent powiedział, że współpraca Śląska i Łodzi jest "
            "ważna dla całego regionu, a nowe mosty będą gotowe przed zimą.",
        ),
        (
            "cp1251",
            "Президент заявил, что сотрудничество важно для всех регионов страны, и "
            "пообещал построить новые мосты до зимы. " * 3,
        ),
    ],
)
def test_decode_html_keeps_each_language_readable(encoding: str, text: str) -> None:
    raw = _page("utf-8", text).encode(encoding)
    assert text in decode_html(raw)
    assert text in decode_html(gzip.compress(raw))  # decompressed first, as trafilatura does
