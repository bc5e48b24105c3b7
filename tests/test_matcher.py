"""The matcher: tokens, features, signatures (datasketch-compatible), candidates, alignment."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from baselines import CandidateIndex, Signature, sign
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from spintrace.matcher import align, content_features, skeleton_tokens, tokenize
from spintrace.matcher.tokens import Token

ORIGINAL = (
    "Plans to build a new bridge across the River Tarn were approved on Tuesday, after the "
    "council voted 7-2 in favour. The bridge will cost 4.2 million pounds and open in 2027, "
    "because the old crossing won't survive another winter, said council leader Anna Price. "
    "Residents were happy with the decision where it was announced at the town hall."
)
SPUN = (
    "Plans to construct a brand new bridge throughout the River Tarn have been authorised on "
    "Tuesday, after the council voted 7-2 in favour. The bridge will price 4.2 million kilos and "
    "open in 2027, as a result of the previous crossing gained't survive one other winter, stated "
    "council chief Anna Price. Residents have been blissful with the choice the place it was "
    "introduced at the town hall."
)
UNRELATED = (
    "The orchestra opened its autumn season with a programme of Baltic music, and the young "
    "conductor drew warm applause from a full house for an ambitious reading of the symphony. "
    "Critics praised the strings but found the brass uneven in the slower movements."
)


@given(st.text())
@settings(max_examples=300)
def test_tokens_point_into_the_original_text(text: str) -> None:
    for token in tokenize(text):
        assert 0 <= token.start < token.end <= len(text)
        original = unicodedata.normalize("NFKC", text[token.start : token.end]).casefold()
        assert token.norm in unicodedata.normalize("NFKC", original).casefold()


@given(st.text())
@settings(max_examples=300)
def test_normalisation_is_idempotent(text: str) -> None:
    words = [t.norm for t in tokenize(text)]
    joined = " ".join(words)
    again = [t.norm for t in tokenize(joined)]
    assert " ".join(again) == joined


@given(st.text(alphabet=st.characters(max_codepoint=127)))
@settings(max_examples=300)
def test_the_ascii_fast_path_gives_the_general_paths_tokens(text: str) -> None:
    # One non-ASCII word after the text sends it down the general path, word by word.
    general = tokenize(text + " \u00e9t\u00e9")
    assert tokenize(text) == general[:-1] and general[-1].norm == "\u00e9t\u00e9"
    assert all(type(token) is Token for token in general)


def test_tokenize_normalises_width_and_case() -> None:
    assert [t.norm for t in tokenize("\uff21\uff22\uff23 Straße state-run won't")] == [
        "abc",
        "strasse",
        "state",
        "run",
        "won",
        "t",
    ]


def test_skeleton_keeps_names_and_numbers_not_sentence_starts() -> None:
    text = "Residents met Anna Price in 2027. The Council said no."
    skeleton = skeleton_tokens(tokenize(text), text)
    assert skeleton == ["anna", "price", "2027", "council"]


def test_features_survive_spinning_better_than_chance() -> None:
    a = content_features(tokenize(ORIGINAL), ORIGINAL)
    b = content_features(tokenize(SPUN), SPUN)
    c = content_features(tokenize(UNRELATED), UNRELATED)
    assert len(a & b) / len(b) > 0.3
    assert len(c & b) / len(b) < 0.05


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42)])
def test_signature_equals_datasketch(num_perm: int, seed: int) -> None:
    features = content_features(tokenize(ORIGINAL), ORIGINAL)
    ours = sign(features, num_perm=num_perm, seed=seed)
    theirs = MinHash(num_perm=num_perm, seed=seed)
    theirs.update_batch([f.encode("utf-8") for f in features])
    assert np.array_equal(ours.hashvalues, theirs.hashvalues)
    assert ours.to_minhash().jaccard(theirs) == 1.0


def test_signature_bytes_are_little_endian_and_round_trip() -> None:
    sig = sign({"c:a b", "c:b c"}, num_perm=16, seed=3)
    data = sig.to_bytes()
    assert len(data) == 16 * 4
    assert int.from_bytes(data[:4], "little") == int(sig.hashvalues[0])
    back = Signature.from_bytes(data, size=sig.size, num_perm=16, seed=3)
    assert np.array_equal(back.hashvalues, sig.hashvalues)
    with pytest.raises(ValueError, match="cannot hold"):
        Signature.from_bytes(data[:-1], size=2, num_perm=16, seed=3)


def test_containment_estimate_tracks_the_truth() -> None:
    big = {f"f{i}" for i in range(3000)}
    part = {f"f{i}" for i in range(0, 3000, 3)} | {f"x{i}" for i in range(100)}
    estimate = sign(part, num_perm=256).containment_in(sign(big, num_perm=256))
    truth = 1000 / 1100
    assert abs(estimate - truth) < 0.15


def test_candidate_index_finds_a_partial_padded_copy() -> None:
    sources = [ORIGINAL, UNRELATED] + [
        f"Filler article number {i} about nothing." for i in range(20)
    ]
    sigs = [sign(content_features(tokenize(t), t)) for t in sources]
    index = CandidateIndex(enumerate(sigs), threshold=0.1)
    half = SPUN[: len(SPUN) // 2] + " Advertisement. Related: ten tips for your garden."
    found = index.query(sign(content_features(tokenize(half), half)))
    assert found and found[0][0] == 0
    assert all(0.0 <= c <= 1.0 for _, c in found)


def test_empty_index_and_empty_page() -> None:
    assert CandidateIndex([]).query(sign({"c:x"})) == []
    index = CandidateIndex([(1, sign({"c:x"}))])
    assert index.query(sign(set())) == []
    with pytest.raises(ValueError, match="threshold"):
        CandidateIndex([], threshold=0)


def test_alignment_of_a_spun_copy() -> None:
    ev = align(tokenize(SPUN), tokenize(ORIGINAL), SPUN, ORIGINAL)
    assert ev.score >= 0.8
    assert 0.1 <= ev.spin_rate <= 0.5
    pairs = {(s.spun.lower(), s.original.lower()) for s in ev.substitutions}
    assert ("have been blissful", "were happy") in pairs
    assert ("as a result of", "because") in pairs
    for p in ev.passages:
        assert SPUN[p.page_start : p.page_end].strip()
        assert ORIGINAL[p.source_start : p.source_end].strip()


def test_alignment_rejects_changed_numbers_and_unrelated_text() -> None:
    unrelated = align(tokenize(UNRELATED), tokenize(ORIGINAL), UNRELATED, ORIGINAL)
    assert unrelated.score < 0.2
    edited = ORIGINAL.replace("7-2", "5-4").replace("2027", "2029")
    ev = align(tokenize(edited), tokenize(ORIGINAL), edited, ORIGINAL)
    assert all(not any(c.isdigit() for c in s.spun) for s in ev.substitutions)
    assert ev.score < 1.0


def test_alignment_survives_reordered_paragraphs_and_hard_wrapping() -> None:
    paragraphs = [ORIGINAL, UNRELATED.replace("orchestra", "choir")]
    source = "\n\n".join(paragraphs)
    shuffled = "\n\n".join(reversed(paragraphs))
    wrapped = "\n".join(shuffled[i : i + 60] for i in range(0, len(shuffled), 60))
    ev = align(tokenize(wrapped), tokenize(source), wrapped, source)
    assert ev.containment > 0.9
    assert ev.coverage > 0.9


@given(st.text(max_size=300), st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_alignment_never_raises_and_offsets_are_in_range(page: str, source: str) -> None:
    ev = align(tokenize(page), tokenize(source), page, source)
    assert 0.0 <= ev.score <= 1.0
    assert 0.0 <= ev.coverage <= 1.0
    for p in ev.passages:
        assert 0 <= p.page_start < p.page_end <= len(page)
        assert 0 <= p.source_start < p.source_end <= len(source)
    for s in ev.substitutions:
        assert s.spun == "" or s.spun in page
        assert s.original == "" or s.original in source


def test_identical_texts_align_fully() -> None:
    ev = align(tokenize(ORIGINAL), tokenize(ORIGINAL), ORIGINAL, ORIGINAL)
    assert (ev.score, ev.coverage, ev.spin_rate) == (1.0, 1.0, 0.0)
    assert len(ev.passages) == 1 and ev.passages[0].substitutions == 0
