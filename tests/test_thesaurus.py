"""The shipped thesaurus: offline loading, known spinner pairs, lemmas, vocabulary, symmetry.

No timing assertions here: load time is measured by hand (see spintrace/matcher/data/README.md).
"""

from __future__ import annotations

import socket
from importlib import resources

import numpy as np
import pytest

from spintrace.matcher import thesaurus as module
from spintrace.matcher.thesaurus import RELATIONS, Thesaurus


@pytest.fixture(scope="module")
def th() -> Thesaurus:
    return Thesaurus.load()


def test_data_and_licences_ship_inside_the_package() -> None:
    data = resources.files("spintrace.matcher").joinpath("data")
    for name in ("thesaurus.npz", "LICENSE-WordNet.txt", "LICENSE-Moby.txt", "README.md"):
        assert data.joinpath(name).is_file(), name
    assert "Princeton University" in data.joinpath("LICENSE-WordNet.txt").read_text("utf-8")
    assert "Grady Ward" in data.joinpath("LICENSE-Moby.txt").read_text("utf-8")


def test_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the thesaurus must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    fresh = module._load_shipped.__wrapped__()  # bypass the cache: really read the data
    assert fresh.related("happy", "blissful") is not None


def test_load_is_cached() -> None:
    assert Thesaurus.load() is Thesaurus.load()


# Spinner substitutions (original, spun) that the shipped data links, with a source that links
# them. From DESIGN.md, tests/test_matcher.py's spun text and the dev set.
LINKED = [
    ("happy", "blissful", "wordnet-similar"),
    ("happy", "blissful", "moby"),
    ("said", "stated", "wordnet-synonym"),
    ("build", "construct", "wordnet-synonym"),
    ("approved", "authorised", "wordnet-similar"),
    ("old", "previous", "wordnet-synonym"),
    ("leader", "chief", "moby"),
    ("decision", "choice", "moby"),
    ("announced", "introduced", "moby"),
    ("cost", "price", "wordnet-synonym"),
    ("pounds", "kilos", "moby"),
    ("new", "brand new", "wordnet-similar"),
    ("houses", "homes", "wordnet-synonym"),
    ("lawyer", "attorney", "wordnet-synonym"),
    ("company", "firm", "moby"),
    ("because", "since", "moby"),
    ("technology", "engineering", "wordnet-synonym"),
    ("car", "automobile", "wordnet-synonym"),
    ("destroy", "destruction", "wordnet-derivation"),
    ("dog", "canine", "wordnet-hypernym"),
]

# Real spinner pairs the thesauri do NOT link: they need the learned substitution table.
# If a rebuild starts linking one, move it to LINKED.
NOT_LINKED = [
    ("technology", "know-how"),  # Moby only has "technical know-how"
    ("lawyers", "legal professionals"),
    ("because", "as a result of"),
    ("where", "the place"),
    ("Chinese", "Chinese language"),
    ("another", "one other"),
    ("across", "throughout"),
    ("were", "have been"),
    ("car parks", "automotive parks"),
]

UNRELATED = [
    ("technology", "banana"),
    ("happy", "tractor"),
    ("council", "blissful"),
    ("river", "election"),
    ("xyzzyplugh", "happy"),
]


@pytest.mark.parametrize(("original", "spun", "source"), LINKED)
def test_known_spinner_pairs_are_linked(
    th: Thesaurus, original: str, spun: str, source: str
) -> None:
    assert source in th.relations(original, spun)
    assert th.related(original, spun) is not None


@pytest.mark.parametrize(("original", "spun"), NOT_LINKED)
def test_documented_gaps_stay_unlinked(th: Thesaurus, original: str, spun: str) -> None:
    assert th.related(original, spun) is None


@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_unrelated_pairs_are_not_linked(th: Thesaurus, a: str, b: str) -> None:
    assert th.related(a, b) is None
    assert th.relations(a, b) == frozenset()


@pytest.mark.parametrize(("a", "b", "source"), LINKED)
def test_relations_are_symmetric(th: Thesaurus, a: str, b: str, source: str) -> None:
    assert th.relations(a, b) == th.relations(b, a)
    assert th.related(a, b) == th.related(b, a)


def test_related_returns_the_strongest_relation(th: Thesaurus) -> None:
    assert th.relations("happy", "blissful") >= {"moby", "wordnet-similar"}
    assert th.related("happy", "blissful") == "wordnet-similar"
    for a, b, _ in LINKED:
        names = th.relations(a, b)
        assert names <= set(RELATIONS)
        assert th.related(a, b) == next(name for name in RELATIONS if name in names)


def test_same_and_lemma(th: Thesaurus) -> None:
    assert th.related("Know-How", "know how") == "same"
    assert th.related("bought", "buying") == "lemma"
    assert th.related("", "") is None
    assert th.related("", "happy") is None


@pytest.mark.parametrize(
    ("word", "lemma"),
    [
        ("houses", "house"),
        ("bought", "buy"),
        ("happier", "happy"),
        ("geese", "goose"),
        ("running", "run"),
        ("better", "good"),
        ("studies", "study"),
        ("Houses", "house"),
        ("looked up", "look up"),
        ("know-how", "know how"),
    ],
)
def test_lemmas(th: Thesaurus, word: str, lemma: str) -> None:
    assert lemma in th.lemmas(word)


def test_lemmas_include_the_word_only_when_it_is_an_entry(th: Thesaurus) -> None:
    assert "happy" in th.lemmas("happy")
    assert "geese" not in th.lemmas("geese")  # only an exception-list form
    assert th.lemmas("xyzzyplugh") == set()
    assert th.lemmas("") == set()


def test_vocabulary(th: Thesaurus) -> None:
    for word in ("technology", "Know-How", "as a result", "houses", "bought", "blissful"):
        assert th.in_vocabulary(word), word
    for word in ("xyzzyplugh", "", "2004", "Zhangwei"):
        assert not th.in_vocabulary(word), word
    assert 4 <= th.max_phrase_tokens <= 12


def test_synonyms(th: Thesaurus) -> None:
    found = th.synonyms("happy")
    assert {"blissful", "glad", "felicitous"} <= found
    assert "happy" not in found
    assert "banana" not in found
    assert "blissful" in th.synonyms("happier")  # through the lemma
    assert th.synonyms("xyzzyplugh") == set()
    for word in sorted(found)[:50]:
        assert th.related("happy", word) is not None


@pytest.mark.parametrize("source", ["wn", "moby"])
def test_stored_relations_are_symmetric_and_sorted(th: Thesaurus, source: str) -> None:
    offsets = getattr(th, f"_{source}_offsets").astype(np.uint64)
    targets = getattr(th, f"_{source}_targets").astype(np.uint64)
    rows = np.repeat(np.arange(len(offsets) - 1, dtype=np.uint64), np.diff(offsets).astype(int))
    forward = (rows << np.uint64(32)) | targets
    backward = np.sort((targets << np.uint64(32)) | rows)
    assert np.all(np.diff(forward.astype(np.int64)) > 0)  # sorted, no duplicates
    assert np.array_equal(forward, backward)
    assert not np.any(rows == targets)  # no self-links
    assert int(targets.max()) < len(offsets) - 1
