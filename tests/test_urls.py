"""The URL rules (spintrace.db.urls): canonical form, identity key, site; offline."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spintrace.db import urls
from spintrace.db.urls import canonical_url, is_tracking_parameter, site_domain, url_key

PAGE = "https://dailytrendwire.example/2026/03/16/ferry/"
VARIANTS = [
    PAGE,
    PAGE + "?utm_source=twitter&utm_medium=social&utm_campaign=spring",
    PAGE + "?fbclid=IwAR0abc&gclid=Cj0K",
    PAGE + "#comments",
    "http://dailytrendwire.example/2026/03/16/ferry/",
    "https://WWW.DailyTrendWire.example/2026/03/16/ferry/",
    "HTTPS://www.dailytrendwire.example:443/2026/03/16/./ferry/?utm_source=x#top",
    "https://dailytrendwire.example./2026/03/16/ferry/",
    "https://user:secret@dailytrendwire.example/2026/03/16/ferry/",
]


@pytest.mark.parametrize("url", VARIANTS)
def test_the_variants_of_a_page_have_one_key_and_one_site(url: str) -> None:
    assert url_key(url) == "dailytrendwire.example/2026/03/16/ferry/"
    assert site_domain(url) == "dailytrendwire.example"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://WWW.Example.com:443/a/../b?utm_source=x&z=1&a=2#top",
            "https://www.example.com/b?a=2&z=1",
        ),
        ("http://Example.com", "http://example.com/"),
        ("http://example.com:8080/%7Efoo", "http://example.com:8080/~foo"),
        ("https://bücher.de/ä?q=ä", "https://xn--bcher-kva.de/%C3%A4?q=%C3%A4"),
        ("http://127.0.0.1:80/a.html", "http://127.0.0.1/a.html"),
        ("http://[::1]:8000/x#top", "http://[::1]:8000/x"),
        # A hashbang names a page of an AJAX-era site: kept.
        ("https://old.example/#!/story/12", "https://old.example/#!/story/12"),
        # Parameters that may choose the content are never dropped.
        (
            "https://a.example/p?id=3&page=2&ref=home&source=rss&session=1",
            "https://a.example/p?id=3&page=2&ref=home&session=1&source=rss",
        ),
        ("https://a.example/p?MC_CID=1&Utm_Term=x&_ga=2.1&q=a%26b", "https://a.example/p?q=a%26b"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical


def test_the_scheme_and_www_stay_in_the_url_but_not_in_its_key() -> None:
    # The stored URL still opens the page as it was met; the key is what two forms share.
    assert canonical_url("http://WWW.a.example/x") == "http://www.a.example/x"
    assert url_key("http://WWW.a.example/x") == url_key("https://a.example/x") == "a.example/x"
    assert url_key("https://a.example/x") != url_key("https://a.example/x/")
    assert url_key("https://a.example/x") != url_key("https://b.a.example/x")
    assert url_key("https://a.example:8443/x") == "a.example:8443/x"
    assert url_key("https://www.com/x") == "www.com/x"  # nothing left to strip to


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://news.bbc.co.uk/sport/1", "bbc.co.uk"),
        ("https://WWW.BBC.co.uk:8080/", "bbc.co.uk"),
        ("https://bbc.co.uk/", "bbc.co.uk"),
        # The private section of the list: a blog host's users are sites of their own.
        ("https://alice.blogspot.com/2026/03/a.html", "alice.blogspot.com"),
        ("https://www.alice.blogspot.com/", "alice.blogspot.com"),
        ("https://bob.github.io/", "bob.github.io"),
        # Shared blog hosts the Public Suffix List lacks: each blog is its own site (farms
        # live there side by side).
        ("https://alice.wordpress.com/2026/03/a/", "alice.wordpress.com"),
        ("https://bob.wordpress.com/", "bob.wordpress.com"),
        ("https://farm.tumblr.com/post/1", "farm.tumblr.com"),
        ("https://x.substack.com/p/y", "x.substack.com"),
        ("https://xn--bcher-kva.de/", "xn--bcher-kva.de"),
        ("https://shop.bücher.de/", "xn--bcher-kva.de"),
        # IP addresses and hosts without a known suffix keep host[:port], www. dropped.
        ("http://127.0.0.1:8001/a", "127.0.0.1:8001"),
        ("http://127.0.0.1:8002/a", "127.0.0.1:8002"),
        ("http://127.0.0.1/a", "127.0.0.1"),
        ("http://[::1]:8000/a", "[::1]:8000"),
        ("http://localhost:5000/a", "localhost:5000"),
        ("http://WWW.News.example/a", "news.example"),
        ("http://news.example:8080/a", "news.example:8080"),
        ("https://cdn.farm.example/a", "cdn.farm.example"),
        # A bare host name works too (reports get owners that way).
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("www.harbourgazette.example", "harbourgazette.example"),
        ("", ""),
        ("https:///no-host", ""),
    ],
)
def test_site_domain(url: str, site: str) -> None:
    assert site_domain(url) == site


def test_tracking_parameters() -> None:
    for name in ("utm_source", "UTM_Medium", "fbclid", "gclid", "msclkid", "mc_eid", "_ga"):
        assert is_tracking_parameter(name), name
    for name in ("id", "p", "page", "ref", "source", "q", "utm", "article_utm"):
        assert not is_tracking_parameter(name), name


def test_no_network_and_no_disk_for_the_suffix_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "tld"))
    # A fresh extractor loads its list now, and no cached answer stands in for it.
    for cached in (urls._suffixes, urls._registered, urls.site_domain):
        cached.cache_clear()
    try:
        assert site_domain("https://news.bbc.co.uk/") == "bbc.co.uk"
        assert site_domain("https://alice.blogspot.com/") == "alice.blogspot.com"
    finally:
        urls._suffixes.cache_clear()
    assert attempts == []
    assert list(tmp_path.iterdir()) == []


_label = st.text("abcXYZ019-", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
_host = st.builds(
    lambda www, labels, tld: www + ".".join(labels) + tld,
    st.sampled_from(["", "www.", "WWW."]),
    st.lists(_label, min_size=1, max_size=3),
    st.sampled_from([".example", ".co.uk", ".com", ".blogspot.com", ".de", ""]),
)
_part = st.text("aZ09-._~%!$&'()*+,;=:@/äé", max_size=12)
_param = st.tuples(
    st.sampled_from(["id", "q", "utm_source", "fbclid", "page", "Utm_Medium", "x"]), _part
)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "/".join(draw(st.lists(_part, max_size=3)))
    params = draw(st.lists(_param, max_size=4))
    query = "&".join(f"{k}={v}" for k, v in params)
    fragment = draw(st.sampled_from(["", "#comments", "#!/a/1", "#"]))
    return f"{scheme}://{draw(_host)}{port}{path}" + (f"?{query}" if query else "") + fragment


@given(_urls())
def test_canonical_forms_are_stable(url: str) -> None:
    canonical = canonical_url(url)
    # Idempotent: a stored URL stored again is itself (migration 0005 relies on it).
    assert canonical_url(canonical) == canonical
    assert url_key(canonical) == url_key(url)
    assert site_domain(canonical) == site_domain(url)
    assert "utm_" not in url_key(url).lower() and "fbclid" not in url_key(url)
    if "#!" not in url:
        assert url_key(url.split("#")[0]) == url_key(url)
    if urlsplit(url).port is None:  # (an explicit :80 or :443 is a default port of one only)
        assert url_key(url.replace("https://", "http://", 1)) == url_key(url)
