"""De-spinning: learned substitutions by longest match, lemmas, idempotence, offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spintrace.matcher.despin import Despinner, Substitutions
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import tokenize

LEARNED = [
    ("legal professionals", "lawyers"),
    ("automotive parks", "car parks"),
    ("gained", "won"),
    ("stated", "said"),
    ("said", "stated"),  # the reverse of an accepted pair: would cycle, so it is dropped
    ("lawyers", "attorneys"),  # would chain after the first pair: dropped
    ("the place", "where"),
    ("as a result of", "because"),
]


@pytest.fixture(scope="module")
def despinner() -> Despinner:
    return Despinner(Thesaurus.load(), Substitutions(LEARNED))


def test_chains_and_cycles_are_dropped() -> None:
    subs = Substitutions(LEARNED)
    assert ("said", "stated") not in subs.pairs
    assert ("lawyers", "attorneys") not in subs.pairs
    assert subs.apply("the legal professionals stated".split()) == "the lawyers said".split()
    assert subs.links("gained", "won") and subs.links("won", "gained")
    assert not subs.links("gained", "lost")


def test_longest_match_wins() -> None:
    subs = Substitutions([("as a", "like"), ("as a result of", "because")])
    assert subs.apply("fell as a result of rain".split()) == "fell because rain".split()
    assert subs.apply("as a rule".split()) == "like rule".split()


def test_despun_tokens_quote_the_spun_text(despinner: Despinner) -> None:
    text = "Legal professionals stated it closed as a result of the storm."
    tokens = despinner.tokens(tokenize(text), undo_spin=True)
    norms = [t.norm for t in tokens]
    assert norms[:3] == ["lawyer", "say", "it"]
    assert "because" in norms and "result" not in norms
    lawyer = tokens[0]
    assert text[lawyer.start : lawyer.end] == "Legal professionals"
    assert lawyer.capitalised


def test_without_undo_only_lemmas_change(despinner: Despinner) -> None:
    text = "Legal professionals stated houses"
    norms = [t.norm for t in despinner.tokens(tokenize(text), undo_spin=False)]
    assert norms == ["legal", "professional", "state", "house"]


WORDS = st.sampled_from(
    "the legal professionals lawyers stated said gained won place where as a result of "
    "because houses homes bought buying ate running better leaves automotive parks car".split()
)


@given(st.lists(WORDS, max_size=40))
@settings(max_examples=300, deadline=None)
def test_despinning_is_idempotent(words: list[str]) -> None:
    despinner = Despinner(Thesaurus.load(), Substitutions(LEARNED))
    once = despinner.words(words, undo_spin=True)
    assert despinner.words(once, undo_spin=True) == once


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_despinning_any_text_keeps_offsets_in_range(text: str) -> None:
    despinner = Despinner(Thesaurus.load(), Substitutions(LEARNED))
    tokens = despinner.tokens(tokenize(text), undo_spin=True)
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text)
    norms = [t.norm for t in tokens]
    again = despinner.tokens(tokens, undo_spin=True)
    assert [t.norm for t in again] == norms
