"""Main-text extraction with real trafilatura on real HTML."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from spintrace.ingest.extract import extract_html

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
