"""The containment index: retrieval of partial and short spun copies, bytes, segments, merging."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from spintrace.matcher import tokenize
from spintrace.matcher.index import (
    FORMAT_VERSION,
    ContainmentIndex,
    Features,
    IndexParams,
    Segment,
    Sketch,
    sketch,
    text_features,
)

LONG = [
    "The city council of Harwick approved a plan on Tuesday to rebuild the Mill Street bridge, "
    "which has been closed since the floods of 2019 cut the town in two.",
    "Council leader Maria Okafor said the work would cost 14.5 million pounds and take three "
    "years, with the first lorries crossing the new deck in the spring of 2027.",
    "Engineers from Castell Partners found that the old piers had been undermined by the river "
    "Lune, and that repairs would only delay a collapse by a decade at most.",
    "Shopkeepers on the north bank have complained for years that trade fell by a third after "
    "the closure, because shoppers from Ellerby now drive to the retail park at Dunmore instead.",
    "The plan also includes a cycle lane, wider pavements and a small square at the southern "
    "end, where the market that once filled Mill Street could return on Saturdays.",
    "Opposition councillor Tom Reyes welcomed the decision but warned that the budget left no "
    "room for the cost overruns that had doubled the price of the Wendle tunnel in 2015.",
    "A public meeting will be held at the Corn Exchange on 12 March, and residents can read the "
    "drawings at the library on Fore Street from next week.",
    "Work on the temporary footbridge, which will carry pedestrians while the main crossing is "
    "demolished, is due to begin in September, the council said.",
    "Local historian Agnes Pryce said the first bridge on the site was built by monks in 1346 "
    "and rebuilt in stone after a great flood in 1771 swept it away.",
    "The Environment Agency said it would raise the flood walls upstream at Carrow at the same "
    "time, a project that is expected to cost a further 6 million pounds.",
]
SOURCES = {
    1: "\n\n".join(LONG),
    2: "Shares in Veltro Motors fell 8% on Monday after the carmaker warned that a shortage of "
    "chips would cut output at its Turin plant by 40,000 cars this year. Chief executive Luca "
    "Bassi said supplies should recover by the autumn.",
    3: "The Royal Ballet opened its winter season with a new production of Giselle, and critics "
    "praised the young principal Hana Ito for a performance of rare delicacy in the second act.",
    4: "Scientists at the University of Tromso have tracked a pod of orcas for 1,200 kilometres "
    "along the Norwegian coast, using drones to record how the mothers teach calves to hunt.",
}
# A third of the long article (paragraphs 4-6), spun: about a quarter of the words replaced.
PARTIAL = (
    "Retailers on the north financial institution have grumbled for years that commerce dropped "
    "by a third after the shutting, as a result of consumers from Ellerby now drive to the retail "
    "park at Dunmore as an alternative.\n\nThe scheme also contains a bike lane, broader "
    "sidewalks and a little plaza at the southern finish, the place the market that when crammed "
    "Mill Street may return on Saturdays.\n\nOpposition councillor Tom Reyes welcomed the "
    "choice however cautioned that the finances left no space for the price overruns that had "
    "doubled the value of the Wendle tunnel in 2015."
)
# The first sentence, spun, 13 words.
SHORT = "The metropolis council of Harwick authorised a scheme on Tuesday to reconstruct bridges"
UNRELATED = (
    "The orchestra opened its autumn season with a programme of Baltic music, and the young "
    "conductor drew warm applause from a full house for an ambitious reading of the symphony."
)
_WORDS = (
    "market city plan council water school report police family season energy price public "
    "music winter north team health money street house court power trade local village coast "
    "river election minister policy result growth film garden island doctor union league"
)
VOCABULARY = _WORDS.split()
PARAMS = IndexParams()


def features(text: str, *, source: bool = False) -> Features:
    lead = PARAMS.lead_tokens if source else 0
    return text_features(tokenize(text), text, lead_tokens=lead)


def source_entries() -> list[tuple[int, Sketch]]:
    """The sources above plus 300 distractors of random words, names and numbers."""
    rng = random.Random(0)
    texts = dict(SOURCES)
    for key in range(100, 400):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(20, 250))]
        for i in range(0, len(words), 9):
            words[i] = rng.choice(
                ["Harwick", "Okafor", "Bassi", "Tuesday", str(rng.randint(1, 99))]
            )
        texts[key] = "They said " + " ".join(words) + "."
    return [(key, sketch(features(text, source=True), PARAMS)) for key, text in texts.items()]


@pytest.fixture(scope="module")
def entries() -> list[tuple[int, Sketch]]:
    return source_entries()


@pytest.fixture(scope="module")
def index(entries: list[tuple[int, Sketch]]) -> ContainmentIndex:
    return ContainmentIndex(params=PARAMS).add(entries)


def test_a_spun_third_of_a_long_article_finds_it_first(index: ContainmentIndex) -> None:
    found = index.query(features(PARTIAL))
    assert found[0][0] == 1
    assert found[0][1] > 2 * found[1][1]


def test_a_short_spun_copy_of_the_first_sentence_finds_it_first(index: ContainmentIndex) -> None:
    assert len(SHORT.split()) == 13
    found = index.query(features(SHORT))
    assert found[0][0] == 1
    assert found[0][1] > 2 * found[1][1]


def test_an_unspun_whole_copy_scores_high(index: ContainmentIndex) -> None:
    key, score = index.query(features(SOURCES[2]), limit=1)[0]
    assert key == 2
    assert score > 0.5


def test_unrelated_text_is_not_ranked_above_a_copy(index: ContainmentIndex) -> None:
    copy_score = index.query(features(PARTIAL), limit=1)[0][1]
    unrelated = index.query(features(UNRELATED))
    assert all(score < copy_score / 3 for _, score in unrelated)
    assert all(key != 3 or score < 0.2 for key, score in unrelated)  # same words, no copy


def test_results_are_ranked_and_limited(index: ContainmentIndex) -> None:
    page = features("They said market city plan council water school Harwick report police 12.")
    found = index.query(page, limit=None)
    assert len(found) > 5
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert index.query(page, limit=5) == found[:5]


def test_a_sketch_keeps_the_whole_lead_and_a_bounded_sample() -> None:
    f = features(SOURCES[1], source=True)
    s = sketch(f, PARAMS)
    assert np.isin(f.lead, s.hashes).all()
    assert len(s.hashes) <= len(f.lead) + PARAMS.body_k + 1
    assert s.tau < 0xFFFF_FFFF
    small = sketch(features(SOURCES[2], source=True), IndexParams(body_k=1000))
    assert small.tau == 0xFFFF_FFFF  # stored whole


def test_segment_round_trips_through_bytes(index: ContainmentIndex) -> None:
    segment = index.segments[0]
    data = segment.to_bytes()
    assert data[:4] == b"SPIX"
    assert struct.unpack_from("<H", data, 4)[0] == FORMAT_VERSION
    again = Segment.from_bytes(data)
    assert again.params == segment.params
    assert again.to_bytes() == data
    for name in ("keys", "tau16", "offsets", "low", "ids"):
        assert np.array_equal(getattr(again, name), getattr(segment, name))
    loaded = ContainmentIndex([again])
    for text in (PARTIAL, SHORT, UNRELATED):
        assert loaded.query(features(text)) == index.query(features(text))


def test_a_large_segment_uses_16_bit_buckets_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    entries = [
        (key, Sketch(np.unique(rng.integers(0, 1 << 32, 80, dtype=np.uint64).astype(np.uint32)), 7))
        for key in range(2000)
    ]
    segment = Segment.build(entries, PARAMS)
    assert segment.prefix_bits == 16
    assert segment.low.dtype == np.uint16
    assert Segment.from_bytes(segment.to_bytes()).to_bytes() == segment.to_bytes()
    page = Features(entries[5][1].hashes[:20], np.empty(0, np.uint32), np.empty(0, np.uint32))
    assert ContainmentIndex([segment]).query(page, limit=1)[0][0] == 5
    start, count = segment.lookup(entries[5][1].hashes)
    assert (count >= 1).all()
    assert 5 in segment.ids[start]


def test_a_segment_of_over_65536_sources_uses_32_bit_ordinals() -> None:
    hashes = np.arange(70_000, dtype=np.uint32) * np.uint32(61_001)
    segment = Segment.build((key, Sketch(hashes[key : key + 1], 9)) for key in range(70_000))
    assert segment.ids.dtype == np.uint32
    again = Segment.from_bytes(segment.to_bytes())
    page = Features(hashes[69_999:], np.empty(0, np.uint32), np.empty(0, np.uint32))
    assert ContainmentIndex([again]).query(page, limit=1)[0][0] == 69_999


def test_incremental_add_equals_a_full_build(entries: list[tuple[int, Sketch]]) -> None:
    full = ContainmentIndex(params=PARAMS).add(entries)
    grown = ContainmentIndex(params=PARAMS).add(entries[:150]).add(entries[150:250])
    grown = grown.add(entries[250:])
    assert len(grown.segments) == 3
    assert len(grown) == len(full) == len(entries)
    for text in (PARTIAL, SHORT, UNRELATED, SOURCES[4]):
        assert grown.query(features(text), limit=None) == full.query(features(text), limit=None)
    merged = grown.merged()
    assert len(merged.segments) == 1
    assert merged.segments[0].to_bytes() == full.segments[0].to_bytes()


def test_adding_a_key_again_replaces_it(entries: list[tuple[int, Sketch]]) -> None:
    index = ContainmentIndex(params=PARAMS).add(entries)
    replaced = index.add([(1, sketch(features(UNRELATED, source=True), PARAMS))])
    assert len(replaced) == len(index)
    assert index.query(features(PARTIAL), limit=1)[0][0] == 1  # the old index is unchanged
    assert 1 not in [k for k, _ in replaced.query(features(PARTIAL), limit=None)]
    assert replaced.query(features(UNRELATED), limit=1)[0][0] == 1
    merged = replaced.merged()
    assert len(merged.segments[0]) == len(index)
    assert merged.query(features(UNRELATED), limit=None) == replaced.query(
        features(UNRELATED), limit=None
    )


def test_a_segment_cannot_hold_a_key_twice(entries: list[tuple[int, Sketch]]) -> None:
    with pytest.raises(ValueError, match="same key twice"):
        Segment.build([entries[0], entries[0]], PARAMS)


def test_empty_index_and_empty_page(index: ContainmentIndex) -> None:
    empty = ContainmentIndex(params=PARAMS)
    assert len(empty) == 0
    assert empty.nbytes == 0
    assert empty.query(features(PARTIAL)) == []
    assert empty.merged().segments == ()
    assert empty.add([]) is empty
    assert index.query(features("")) == []
    segment = Segment.build([], PARAMS)
    assert len(segment) == 0
    again = Segment.from_bytes(segment.to_bytes())
    assert ContainmentIndex([again]).query(features(PARTIAL)) == []
    nothing = Sketch(np.empty(0, np.uint32), 0xFFFF_FFFF)
    assert ContainmentIndex(params=PARAMS).add([(9, nothing)]).query(features(PARTIAL)) == []


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [(4, struct.pack("<H", FORMAT_VERSION + 1), "format"), (6, b"\x09\x00", "feature version")],
)
def test_header_mismatch_raises_a_clear_error(
    index: ContainmentIndex, offset: int, value: bytes, message: str
) -> None:
    data = bytearray(index.segments[0].to_bytes())
    data[offset : offset + len(value)] = value
    with pytest.raises(ValueError, match=message):
        Segment.from_bytes(bytes(data))


def test_bad_bytes_raise_value_errors(index: ContainmentIndex) -> None:
    data = index.segments[0].to_bytes()
    with pytest.raises(ValueError, match="magic"):
        Segment.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="bytes"):
        Segment.from_bytes(data[:-2])
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    with pytest.raises(ValueError, match="CRC"):
        Segment.from_bytes(bytes(corrupt))


def test_segments_with_different_parameters_do_not_mix(entries: list[tuple[int, Sketch]]) -> None:
    a = Segment.build(entries[:10], PARAMS)
    b = Segment.build(entries[10:20], IndexParams(body_k=8))
    with pytest.raises(ValueError, match="same parameters"):
        ContainmentIndex([a, b])
    with pytest.raises(ValueError, match="different parameters"):
        Segment.merge([a, b])
    with pytest.raises(ValueError, match="body_k"):
        IndexParams(body_k=0)


@pytest.mark.parametrize("sources", [20_000, 70_000])
def test_a_merge_by_ranges_of_buckets_equals_a_merge_by_one_sort(
    monkeypatch: pytest.MonkeyPatch, sources: int
) -> None:
    """The large-merge path (a range of hash buckets at a time) builds the very segment one
    sort of every posting builds: small and bucketed inputs, replaced keys, 16- and 32-bit
    ordinals."""
    from spintrace.matcher import segment as segment_module

    rng = np.random.default_rng(5)

    def entries(keys: range) -> list[tuple[int, Sketch]]:
        return [
            (
                k,
                Sketch(
                    np.unique(rng.integers(0, 2**32, 12, dtype=np.uint64)).astype(np.uint32),
                    7 << 16,
                ),
            )
            for k in keys
        ]

    cut = sources // 3
    segments = [
        Segment.build(entries(range(0, cut)), PARAMS),
        Segment.build(entries(range(cut - 5, cut + 8)), PARAMS),  # small; replaces 5 keys
        Segment.build(entries(range(cut + 8, sources)), PARAMS),
    ]
    assert {s.prefix_bits for s in segments} == {0, 16}
    index = ContainmentIndex(segments, params=PARAMS)
    by_sort = index.merged().segments[0]
    monkeypatch.setattr(segment_module, "_MERGE_BY_SORT", 0)
    monkeypatch.setattr(segment_module, "_MERGE_SLICES", 8)
    by_ranges = index.merged().segments[0]
    assert len(by_ranges) == len(by_sort) == sources
    assert by_ranges.to_bytes() == by_sort.to_bytes()
