"""ads.txt / app-ads.txt and sellers.json parsing: a real-format file, every kind of bad line,
soft 404s, hostile sizes, and the ads.txt URL of a site."""

from __future__ import annotations

import json
import logging

import pytest

from spintrace.ingest import adstxt
from spintrace.ingest.adstxt import (
    MAX_LINE_CHARS,
    AdsRecord,
    Seller,
    Skipped,
    ads_txt_url,
    parse_ads_txt,
    parse_sellers_json,
)

REAL_ADS_TXT = """\
# ads.txt for dailynews.example - updated 2026-03-01
contact=ads@dailynews.example
subdomain=sport.dailynews.example
OWNERDOMAIN = dailynews.example

# Google
google.com, pub-7439281311086140, DIRECT, f08c47fec0942fa0 # banner, video
google.com, pub-1234567890123456, reseller, f08c47fec0942fa0

# Prebid partners
appnexus.com, 7745, Direct   # banner
AppNexus.com , 12447 ,RESELLER, f5ab79cb980f11d1
rubiconproject.com, 11078, DIRECT, 0bfd66d529a55807
openx.com, 537153334, DIRECT
openx.com, 540191398, RESELLER, 6a698e2ec38604c6 ; extension data, more
"""


def _crlf_bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()


def test_real_ads_txt_with_bom_crlf_comments_and_variables() -> None:
    parsed = parse_ads_txt(_crlf_bom(REAL_ADS_TXT), "https://dailynews.example/ads.txt")

    assert parsed.records == (
        AdsRecord("google.com", "pub-7439281311086140", "DIRECT", "f08c47fec0942fa0", 7),
        AdsRecord("google.com", "pub-1234567890123456", "RESELLER", "f08c47fec0942fa0", 8),
        AdsRecord("appnexus.com", "7745", "DIRECT", None, 11),
        AdsRecord("appnexus.com", "12447", "RESELLER", "f5ab79cb980f11d1", 12),
        AdsRecord("rubiconproject.com", "11078", "DIRECT", "0bfd66d529a55807", 13),
        AdsRecord("openx.com", "537153334", "DIRECT", None, 14),
        AdsRecord("openx.com", "540191398", "RESELLER", "6a698e2ec38604c6", 15),
    )
    assert parsed.variables == (
        ("contact", "ads@dailynews.example"),
        ("subdomain", "sport.dailynews.example"),
        ("ownerdomain", "dailynews.example"),
    )
    assert parsed.skipped == ()


def test_str_input_cr_only_line_ends_and_undecodable_bytes_give_the_same_records() -> None:
    from_str = parse_ads_txt(REAL_ADS_TXT)
    from_cr = parse_ads_txt(REAL_ADS_TXT.replace("\n", "\r").encode())
    assert from_str.records == from_cr.records
    assert len(from_str.records) == 7

    broken = parse_ads_txt(b"# caf\xe9 \xff\xfe\nopenx.com, 5\xff5, DIRECT\n")
    assert broken.records == (AdsRecord("openx.com", "5\ufffd5", "DIRECT", None, 2),)


@pytest.mark.parametrize(
    "data", [b"\xef\xbb\xbfopenx.com, 1, DIRECT", "\ufeffopenx.com, 1, DIRECT"]
)
def test_bom_before_a_first_record_is_dropped(data: bytes | str) -> None:
    assert parse_ads_txt(data).records == (AdsRecord("openx.com", "1", "DIRECT", None, 1),)


def test_utf16_file_from_notepad() -> None:
    parsed = parse_ads_txt(b"\xff\xfe" + "openx.com, 42, DIRECT\r\n".encode("utf-16-le"))
    assert parsed.records == (AdsRecord("openx.com", "42", "DIRECT", None, 1),)


MALFORMED = f"""\
google.com, pub-1, DIRECT
google.com, pub-2
openx.com, 123, DIRCT
appnexus.com, , DIRECT
not a domain!, 99, DIRECT
{"x" * 3000}
rubiconproject.com, 7, RESELLER
http://openx.com, 8, DIRECT
localhost, 9, DIRECT
"""


def test_malformed_lines_are_skipped_with_reason_and_line_number() -> None:
    parsed = parse_ads_txt(MALFORMED)

    assert [(r.ad_system, r.line) for r in parsed.records] == [
        ("google.com", 1),
        ("rubiconproject.com", 7),
    ]
    assert [(s.position, s.reason) for s in parsed.skipped] == [
        (2, "expected at least 3 comma-separated fields, found 2"),
        (3, "relationship must be DIRECT or RESELLER, not 'DIRCT'"),
        (4, "empty account id"),
        (5, "ad system is not a domain: 'not a domain!'"),
        (6, f"line longer than {MAX_LINE_CHARS} characters"),
        (8, "ad system is not a domain: 'http://openx.com'"),
        (9, "ad system is not a domain: 'localhost'"),
    ]
    assert parsed.skipped[0].raw == "google.com, pub-2"
    assert parsed.skipped[4].raw == "x" * 200


def test_skipped_lines_are_logged_with_source_line_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="spintrace.ingest.adstxt"):
        parse_ads_txt(MALFORMED, "https://farm.example/ads.txt")

    messages = [r.getMessage() for r in caplog.records if r.name == "spintrace.ingest.adstxt"]
    assert len(messages) == 7
    assert messages[1] == (
        "https://farm.example/ads.txt line 3 skipped: "
        "relationship must be DIRECT or RESELLER, not 'DIRCT'"
    )


@pytest.mark.parametrize(
    "page",
    [
        "\n  <!DOCTYPE html><title>Not found</title>",
        "Sorry!\n<HTML><body>This page does not exist</body></HTML>",
        "google.com, pub-1, DIRECT\n<html><body>oops</body></html>",
    ],
)
def test_html_soft_404_gives_no_records(page: str) -> None:
    parsed = parse_ads_txt(page.encode())
    assert parsed.records == ()
    assert parsed.variables == ()
    assert [s.reason for s in parsed.skipped] == ["not an ads.txt file (HTML)"]


def test_duplicates_keep_the_first_and_extra_fields_are_ignored() -> None:
    parsed = parse_ads_txt(
        "openx.com, 1, DIRECT, aaa\n"
        "OPENX.COM, 1, direct, bbb, extra, fields\n"  # same system, account, relationship
        "openx.com, 1, RESELLER\n"  # another relationship: kept
        "openx.com, A1, DIRECT\n"  # account IDs keep their case: kept
        "openx.com, a1, DIRECT, , x\n"
    )
    assert [(r.account_id, r.relationship, r.certification_id, r.line) for r in parsed.records] == [
        ("1", "DIRECT", "aaa", 1),
        ("1", "RESELLER", None, 3),
        ("A1", "DIRECT", None, 4),
        ("a1", "DIRECT", None, 5),
    ]
    assert parsed.skipped == ()


def test_ten_megabyte_file_with_sprinkled_bad_lines() -> None:
    lines: list[str] = []
    good = bad = duplicates = 0
    for i in range(250_000):
        if i % 1000 == 999:
            lines.append(f"ssp{i % 97}.com, {i:09d}, DIRCT, f08c47fec0942fa0")
            bad += 1
        elif i % 500 == 250:
            lines.append(f"# section {i}")
        elif i % 10_000 == 5:
            lines.append(lines[0])
            duplicates += 1
        else:
            relationship = "DIRECT" if i % 3 else "reseller"
            lines.append(f"ssp{i % 97}.com, {i:09d}, {relationship}, f08c47fec0942fa0")
            good += 1
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert 10_000_000 <= len(data) < 15_000_000

    parsed = parse_ads_txt(data)

    assert len(parsed.records) == good
    assert len(parsed.skipped) == bad == 250
    assert duplicates == 25
    assert parsed.skipped[-1].position == 250_000
    assert parsed.records[-1].account_id == f"{249_998:09d}"


def test_file_over_the_size_limit_is_cut_with_one_skipped_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adstxt, "MAX_ADS_TXT_BYTES", 60)
    data = (
        b"openx.com, 1, DIRECT\nopenx.com, 2, DIRECT\nopenx.com, 3, DIRECT\nopenx.com, 4, DIRECT\n"
    )

    parsed = parse_ads_txt(data)

    assert [r.account_id for r in parsed.records] == ["1", "2"]
    assert len(parsed.skipped) == 1
    assert parsed.skipped[0].position == 3
    assert parsed.skipped[0].reason.startswith("file over 60 bytes: cut here")

    # The limit right after a line end: the entry names the next line.
    monkeypatch.setattr(adstxt, "MAX_ADS_TXT_BYTES", 63)
    parsed = parse_ads_txt(data)
    assert [r.account_id for r in parsed.records] == ["1", "2", "3"]
    assert [(s.position, s.raw) for s in parsed.skipped] == [(4, "")]


def test_record_and_skipped_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adstxt, "MAX_RECORDS", 3)
    monkeypatch.setattr(adstxt, "MAX_SKIPPED", 2)
    text = "".join(f"openx.com, {i}, DIRECT\nbad line {i}\n" for i in range(10))

    parsed = parse_ads_txt(text)

    assert [r.account_id for r in parsed.records] == ["0", "1", "2"]
    assert [(s.position, s.reason) for s in parsed.skipped] == [
        (2, "expected at least 3 comma-separated fields, found 1"),
        (4, "expected at least 3 comma-separated fields, found 1"),
        (6, "1 more bad lines from here on, not listed"),
        (7, "more than 3 records: the rest is not read"),
    ]


SELLERS = {
    "contact_email": "adops@exchange.example",
    "contact_address": "1 Market St, San Francisco",
    "version": "1.0",
    "identifiers": [{"name": "TAG-ID", "value": "28cb65e5bbc0bd5f"}, {"name": "bad"}],
    "sellers": [
        {
            "seller_id": "pub-1001",
            "name": "Daily News Ltd",
            "domain": "DailyNews.example",
            "seller_type": "PUBLISHER",
        },
        {
            "seller_id": 2002,
            "name": "Ad Resale GmbH",
            "domain": "resale.example",
            "seller_type": "intermediary",
            "is_passthrough": 1,
        },
        {"seller_id": "3003", "seller_type": "both", "is_confidential": 1, "name": "Hidden"},
        {"seller_id": "4004", "name": "No Type Inc"},
        {"seller_id": "pub-1001", "name": "Impostor", "seller_type": "PUBLISHER"},
        "not an object",
        {"name": "No Id", "seller_type": "PUBLISHER"},
        {"seller_id": "5005", "seller_type": "Network", "is_confidential": 0},
    ],
}


def test_sellers_json() -> None:
    parsed = parse_sellers_json(json.dumps(SELLERS).encode(), "https://exchange.example/s.json")

    assert parsed.sellers == {
        "pub-1001": Seller(
            "pub-1001", "Daily News Ltd", "dailynews.example", "PUBLISHER", False, False
        ),
        "2002": Seller("2002", "Ad Resale GmbH", "resale.example", "INTERMEDIARY", False, True),
        "3003": Seller("3003", None, None, "BOTH", True, False),
        "5005": Seller("5005", None, None, "NETWORK", False, False),
    }
    assert parsed.contact_email == "adops@exchange.example"
    assert parsed.contact_address == "1 Market St, San Francisco"
    assert parsed.version == "1.0"
    assert parsed.identifiers == (("TAG-ID", "28cb65e5bbc0bd5f"),)
    assert [(s.position, s.reason) for s in parsed.skipped] == [
        (3, "no seller_type"),
        (4, "duplicate seller_id 'pub-1001' (first at entry 0)"),
        (5, "entry is not an object but str"),
        (6, "no seller_id"),
    ]
    assert json.loads(parsed.skipped[0].raw) == {"seller_id": "4004", "name": "No Type Inc"}


def test_sellers_json_skips_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="spintrace.ingest.adstxt"):
        parse_sellers_json(json.dumps(SELLERS), "s.json")
    assert "s.json entry 3 skipped: no seller_type" in caplog.messages


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<!doctype html><p>404</p>", "x.json: not a sellers.json file (not JSON: an HTML page)"),
        (b'{"sellers": [', "x.json: not a sellers.json file (not JSON: Expecting value"),
        (b"[" * 100_000 + b"]" * 100_000, "x.json: not a sellers.json file (not JSON"),
        (b'{"identifiers": []}', 'x.json: not a sellers.json file (no "sellers" list)'),
        (b'{"sellers": {"1": {}}}', 'x.json: not a sellers.json file (no "sellers" list)'),
        (b"[]", 'x.json: not a sellers.json file (no "sellers" list)'),
    ],
)
def test_not_a_sellers_json_raises_one_line_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_sellers_json(data, "x.json")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_sellers_json_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adstxt, "MAX_SELLERS_JSON_BYTES", 10)
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        parse_sellers_json(b'{"sellers": []}')


def test_sellers_json_with_bom() -> None:
    parsed = parse_sellers_json(
        b'\xef\xbb\xbf{"sellers": [{"seller_id": 7, "seller_type": "BOTH"}]}'
    )
    assert list(parsed.sellers) == ["7"]
    assert parsed.contact_email is None
    assert parsed.skipped == ()


@pytest.mark.parametrize(
    ("url", "app", "expected"),
    [
        (
            "https://www.Example.com/2026/03/story.html?x=1#top",
            False,
            "https://www.example.com/ads.txt",
        ),
        ("http://user:pw@example.com:8080/a", False, "http://example.com:8080/ads.txt"),
        ("https://example.com:443/", True, "https://example.com/app-ads.txt"),
        ("example.com/page", False, "https://example.com/ads.txt"),
        ("//cdn.example.com/x", False, "https://cdn.example.com/ads.txt"),
        ("http://[2001:db8::1]/", False, "http://[2001:db8::1]/ads.txt"),
    ],
)
def test_ads_txt_url(url: str, app: bool, expected: str) -> None:
    assert ads_txt_url(url, app=app) == expected


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "https:///path", "http://example.com:99999/"]
)
def test_ads_txt_url_rejects_non_site_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not a site URL"):
        ads_txt_url(url)


def test_skipped_is_a_frozen_value() -> None:
    skip = Skipped(1, "why", "raw")
    with pytest.raises(AttributeError):
        skip.reason = "other"  # type: ignore[misc]
