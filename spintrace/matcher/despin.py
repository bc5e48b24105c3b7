"""De-spinning: undo known substitutions and reduce words to lemmas before comparing.

Thesauri are used pairwise, never to map words to a "synonym class representative" (chained
synonyms merge tens of thousands of words into one class). What *is* safe to canonicalise is a
substitution known to have been made by a spinner: :class:`Substitutions` maps spun phrases
back to their originals by longest match, and lemmatisation removes inflection.

De-spinning is idempotent (a property test checks it): words are lemmatised first (to a fixed
point), substitutions are lemmatised too, and a substitution is only accepted when none of its
spun words occurs in an accepted original (nor the other way round), so what a replacement
writes can never be replaced again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import Token

__all__ = ["MAX_PHRASE", "Despinner", "Substitutions"]

# Learned substitutions have at most this many tokens a side (DESIGN.md: <= 4).
MAX_PHRASE = 4


class Substitutions:
    """Known spun -> original phrase substitutions, applied by longest match.

    Phrases are normalised token strings joined by single spaces ("legal professionals").
    Pairs are taken in the order given (callers pass the most frequent first); a pair is
    skipped when its spun phrase is already known, or when it shares a word with the other
    side of an accepted pair (that would make replacements chain or cycle).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._map: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._words: set[tuple[str, str]] = set()
        self.first_words: set[str] = set()
        self.longest = 0
        spun_words: set[str] = set()
        original_words: set[str] = set()
        for spun, original in pairs:
            key, value = tuple(spun.split()), tuple(original.split())
            if not key or not value or key == value or len(key) > MAX_PHRASE:
                continue
            if key in self._map or original_words & set(key) or spun_words & set(value):
                continue
            self.pairs.append((spun, original))
            self._map[key] = value
            spun_words.update(key)
            original_words.update(value)
            self.first_words.add(key[0])
            self.longest = max(self.longest, len(key))
            if len(key) == 1 and len(value) == 1:
                self._words.add((key[0], value[0]))
                self._words.add((value[0], key[0]))

    def __len__(self) -> int:
        return len(self._map)

    def apply(self, words: Sequence[str]) -> list[str]:
        """``words`` with every known spun phrase replaced by its original, longest first."""
        out: list[str] = []
        i, n = 0, len(words)
        while i < n:
            size, original = self.match(words, i)
            if original is None:
                out.append(words[i])
                i += 1
            else:
                out.extend(original)
                i += size
        return out

    def match(self, words: Sequence[str], i: int) -> tuple[int, tuple[str, ...] | None]:
        """The longest known spun phrase starting at ``words[i]``: its length and original."""
        if words[i] not in self.first_words:
            return 0, None
        for size in range(min(self.longest, len(words) - i), 0, -1):
            original = self._map.get(tuple(words[i : i + size]))
            if original is not None:
                return size, original
        return 0, None

    def lookup(self, words: Sequence[str]) -> tuple[str, ...] | None:
        """The original of the spun phrase ``words``, or ``None`` if it is not a known one."""
        return self._map.get(tuple(words))

    def links(self, a: str, b: str) -> bool:
        """Whether the single words ``a`` and ``b`` are a known substitution (either way)."""
        return (a, b) in self._words


class Despinner:
    """Turns tokens into comparable tokens, and tells whether two words are substitutes."""

    def __init__(self, thesaurus: Thesaurus | None, substitutions: Substitutions | None = None):
        self.thesaurus = thesaurus
        self._lemma: Callable[[str], str] = lru_cache(maxsize=200_000)(self._lemma_of)
        self.linked: Callable[[str, str], bool] = lru_cache(maxsize=500_000)(self._linked)
        raw = substitutions.pairs if substitutions is not None else []
        # Substitutions work on lemmatised words, like everything they are applied to.
        self.substitutions = Substitutions(
            (self.phrase(spun), self.phrase(original)) for spun, original in raw
        )

    def _lemma_of(self, word: str) -> str:
        if self.thesaurus is None or word.isdigit():
            return word
        for _ in range(4):  # to a fixed point: the lemma of a lemma is itself
            lemmas = [w for w in self.thesaurus.lemmas(word) if " " not in w]
            # The shortest, then alphabetically first: the same word always gets the same one.
            lemma = min(lemmas, key=lambda w: (len(w), w)) if lemmas else word
            if lemma == word:
                break
            word = lemma
        return word

    def phrase(self, phrase: str) -> str:
        """A normalised phrase with each word lemmatised."""
        return " ".join(self._lemma(w) for w in phrase.split())

    def _linked(self, a: str, b: str) -> bool:
        if self.substitutions.links(a, b):
            return True
        return self.thesaurus is not None and self.thesaurus.related(a, b) is not None

    def words(self, words: Sequence[str], *, undo_spin: bool) -> list[str]:
        """Lemmatised words; with ``undo_spin``, known spun phrases are then replaced."""
        lemmas = [self._lemma(w) for w in words]
        return self.substitutions.apply(lemmas) if undo_spin else lemmas

    def tokens(self, tokens: Sequence[Token], *, undo_spin: bool) -> list[Token]:
        """Tokens whose ``norm`` is lemmatised and, with ``undo_spin``, de-spun.

        Offsets still index the text: a replaced phrase becomes its original's tokens, each
        spanning the whole spun phrase (so evidence quoting them quotes what the page says).
        """
        lemma = self._lemma
        new = tuple.__new__  # Token without NamedTuple's slow _replace (as in tokenize)
        lemmatised = [
            t if (norm := lemma(t[0])) == t[0] else new(Token, (norm, t[1], t[2], t[3]))
            for t in tokens
        ]
        if not undo_spin or not self.substitutions.longest:
            return lemmatised
        norms = [t.norm for t in lemmatised]
        out: list[Token] = []
        i, n = 0, len(lemmatised)
        while i < n:
            size, original = self.substitutions.match(norms, i)
            if original is None:
                out.append(lemmatised[i])
                i += 1
                continue
            first, last = lemmatised[i], lemmatised[i + size - 1]
            out.extend(Token(w, first.start, last.end, first.capitalised) for w in original)
            i += size
        return out
