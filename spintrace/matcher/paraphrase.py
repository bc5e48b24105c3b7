"""The second channel: copies that keep the facts but not the words (language-model paraphrase).

A paraphrase keeps names, numbers, quotes and the rare words of a story and rewrites the rest,
so too few word runs survive for alignment. An article on the same topic written independently
shares the topic's words but invents its own details. Measured in the project's design notes:
the IDF-weighted share of the source's words found in the page is 0.50-0.95 for rewrites and
0.12-0.35 for independent articles, and the share of the source's numbers found has median 1.0
against 0.0.

A pair is a paraphrase link when all of these hold (:class:`ParaphraseRules`):

- the shared distinct content words weigh at least ``min_shared`` in units of ``log N`` (a word
  only one source holds weighs 1): enough rare words in common, not a short coincidence;
- the geometric mean of their IDF-weighted share of the source's words and of the page's is at
  least ``min_share``: a rewrite keeps most of the source's rare words *and* adds few of its
  own, while an article written from the headline shares the topic's words and invents the
  rest (the page share alone separates dev-llm; the mean keeps a margin on both sides);
- at least ``number_share`` of the source's distinct numbers appear in the page (spinners and
  rewriters keep figures; an independent article has its own).

The score is that geometric mean. The TF-IDF cosine is shown, not used: measured on dev-llm it
overlaps (rewrites 0.39-0.93, headline-only articles 0.05-0.71).

The evidence lists what is shared, in page order: rare words, numbers, names and quotes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from spintrace.matcher.features import STOPWORDS
from spintrace.matcher.rarity import DocumentFrequencies
from spintrace.matcher.tokens import normalise_phrase
from spintrace.matcher.verdict import Side

__all__ = ["Paraphrase", "ParaphraseRules", "Profile", "best", "compare", "numbers", "profile"]

# Quoted speech of four words or more, in straight or typographic quotes.
_QUOTE = re.compile(r"[\"“”«»„]([^\"“”«»„]{12,400}?)[\"“”«»„]")
_SHOWN = 40  # shared rare words listed in the evidence
_LONGEST_FIGURE = 24  # characters of a written number read as a value
# A number as written: 7-3/4, 3/4, 1,500.25, 12.5, 1987, or the digits inside G7 or 80-megawatt.
_NUMBER = re.compile(r"(?<![\d.,/])(\d+)(?:-(\d+)/(\d+)|/(\d+)|((?:,\d{3})+)?(\.\d+)?)(?![\d/])")


_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


def numbers(text: str) -> frozenset[str]:
    """The distinct numbers of a text, written one way: "7-3/4" and "7.75" are both "7.75",
    "1,500" is "1500", "seven" is "7"; so a rewrite that writes a figure differently still
    keeps it."""
    return frozenset(_numbers_in_order(text))


def _numbers_in_order(text: str) -> list[str]:
    found: dict[str, None] = {}
    for m in _NUMBER_WORD.finditer(text):
        found.setdefault(str(_WORDS[m.group().lower()]), None)
    for m in _NUMBER.finditer(text):
        if len(m.group()) > _LONGEST_FIGURE:  # no figure is this long: keep it as written
            found[m.group()] = None  # (and never do arithmetic on hostile digit strings)
            continue
        whole, num, den, over, thousands, decimals = m.groups()
        if num is not None and int(den):
            value = int(whole) + int(num) / int(den)
        elif over is not None and int(over):
            value = int(whole) / int(over)
        else:
            digits = whole + (thousands or "").replace(",", "") + (decimals or "")
            value = float(digits)
        found[f"{value:.4f}".rstrip("0").rstrip(".")] = None
    return list(found)


@dataclass(frozen=True)
class ParaphraseRules:
    """Thresholds of the paraphrase channel (docs/matching.md)."""

    min_shared: float = 18.0
    min_share: float = 0.51
    number_share: float = 0.7


@dataclass(frozen=True)
class Paraphrase:
    """The paraphrase measures of a pair, and what it shares."""

    linked: bool
    score: float
    shared_weight: float
    source_share: float
    page_share: float
    cosine: float
    number_share: float
    words: tuple[str, ...]
    numbers: tuple[str, ...]
    names: tuple[str, ...]
    quotes: tuple[str, ...]


class Profile:
    """What the channel compares of one text, computed once per text: its content words with
    their counts and IDF, and (on first use) its distinct numbers."""

    def __init__(self, side: Side, text: str, counts: Counter[str], idf: dict[str, float]):
        self.side, self.text, self.counts, self.idf = side, text, counts, idf
        self.total_idf = sum(idf.values()) or 1.0

    @cached_property
    def numbers(self) -> frozenset[str]:
        return numbers(self.text)


def profile(side: Side, text: str, df: DocumentFrequencies) -> Profile:
    """The paraphrase profile of a text (its lemmatised words, as aligned)."""
    counts = Counter(w for w in side.norms if w not in STOPWORDS and (len(w) > 1 or w.isdigit()))
    words = list(counts)
    idf = dict(zip(words, df.idf(words).tolist(), strict=True))
    return Profile(side, text, counts, idf)


def _quotes(source_text: str, page_text: str) -> tuple[str, ...]:
    page = f" {normalise_phrase(page_text)} "
    found = []
    for m in _QUOTE.finditer(source_text):
        quote = normalise_phrase(m.group(1))
        if len(quote.split()) >= 4 and f" {quote} " in page:
            found.append(m.group(1).strip())
    return tuple(dict.fromkeys(found))


def compare(
    page: Profile,
    source: Profile,
    documents: int,
    rules: ParaphraseRules | None = None,
    *,
    explain: bool = True,
) -> Paraphrase:
    """The paraphrase measures of a page against a source; with ``explain``, also what they
    share (rare words, numbers, names, quotes), which costs more."""
    rules = rules or ParaphraseRules()
    shared = page.counts.keys() & source.counts.keys()
    idf = source.idf  # a source word's IDF is the same whichever text it is read from
    shared_idf = sum(idf[w] for w in shared)
    log_n = math.log(max(documents, 2))
    source_share = shared_idf / source.total_idf
    page_share = shared_idf / page.total_idf
    score = math.sqrt(source_share * page_share)
    linked = shared_idf / log_n >= rules.min_shared and score >= rules.min_share
    numbers_found: frozenset[str] = frozenset()
    number_share = 0.0
    if linked or explain:  # the numbers only when the words pass: they cost more
        numbers_found = source.numbers & page.numbers
        number_share = len(numbers_found) / len(source.numbers) if source.numbers else 1.0
        linked = linked and number_share >= rules.number_share
    words: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()
    cosine = 0.0
    if explain:
        dot = sum(page.counts[w] * source.counts[w] * idf[w] ** 2 for w in shared)
        norm_p = math.sqrt(sum((c * page.idf[w]) ** 2 for w, c in page.counts.items())) or 1.0
        norm_s = math.sqrt(sum((c * idf[w]) ** 2 for w, c in source.counts.items())) or 1.0
        cosine = dot / (norm_p * norm_s)
        in_order = list(dict.fromkeys(w for w in page.side.norms if w in shared))
        rare = sorted((w for w in in_order if not w.isdigit()), key=lambda w: -idf[w])[:_SHOWN]
        keep = set(rare)
        words = tuple(w for w in in_order if w in keep)
        shown = tuple(n for n in _numbers_in_order(page.text) if n in numbers_found)
        source_names = {
            w for w, s in zip(source.side.norms, source.side.skeleton, strict=True) if s
        }
        names = tuple(
            dict.fromkeys(
                w
                for w, s in zip(page.side.norms, page.side.skeleton, strict=True)
                if s and w in source_names and not w.isdigit()
            )
        )
        quotes = _quotes(source.text, page.text)
    return Paraphrase(
        linked=linked,
        score=round(score, 4),
        shared_weight=round(shared_idf / log_n, 2),
        source_share=round(source_share, 4),
        page_share=round(page_share, 4),
        cosine=round(cosine, 4),
        number_share=round(number_share, 4),
        words=words,
        numbers=shown,
        names=names,
        quotes=quotes,
    )


def best(
    page: Profile,
    sources: Sequence[tuple[int, Profile]],
    documents: int,
    rules: ParaphraseRules | None = None,
) -> tuple[int, Paraphrase] | None:
    """The candidate with the highest score among those that pass, explained; or None."""
    passing = [
        (key, found)
        for key, source in sources
        if (found := compare(page, source, documents, rules, explain=False)).linked
    ]
    if not passing:
        return None
    key, _ = max(passing, key=lambda p: (p[1].score, -p[0]))
    source = dict(sources)[key]
    return key, compare(page, source, documents, rules)
