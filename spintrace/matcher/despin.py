"""De-spinning: undo known substitutions and reduce words to lemmas before comparing.

Thesauri are used pairwise, never to map words to a "synonym class representative" (chained
synonyms merge tens of thousands of words into one class). What *is* safe to canonicalise is a
substitution known to have been made by a spinner: ``Substitutions`` maps spun phrases back to
their originals by longest match, and lemmatisation removes inflection a spinner may change.
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
    A spun phrase with several originals keeps the first one given (callers pass the most
    frequent first).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._map: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._words: set[tuple[str, str]] = set()
        self.first_words: set[str] = set()
        self.longest = 0
        for spun, original in pairs:
            key, value = tuple(spun.split()), tuple(original.split())
            if not key or not value or key == value or len(key) > MAX_PHRASE:
                continue
            self._map.setdefault(key, value)
            self.first_words.add(key[0])
            self.longest = max(self.longest, len(key))
            if len(key) == 1 and len(value) == 1:
                self._words.add((key[0], value[0]))
                self._words.add((value[0], key[0]))

    def __len__(self) -> int:
        return len(self._map)

    def apply(self, words: Sequence[str]) -> list[str]:
        """``words`` with every known spun phrase replaced by its original, longest first."""
        if not self._map:
            return list(words)
        out: list[str] = []
        i, n = 0, len(words)
        while i < n:
            for size in range(min(self.longest, n - i), 0, -1):
                original = self._map.get(tuple(words[i : i + size]))
                if original is not None:
                    out.extend(original)
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
        return out

    def lookup(self, words: Sequence[str]) -> tuple[str, ...] | None:
        """The original of the spun phrase ``words``, or ``None`` if it is not a known one."""
        return self._map.get(tuple(words))

    def links(self, a: str, b: str) -> bool:
        """Whether the single words ``a`` and ``b`` are a known substitution (either way)."""
        return (a, b) in self._words


class Despinner:
    """Turns token words into comparable words, and tells whether two words are substitutes."""

    def __init__(self, thesaurus: Thesaurus | None, substitutions: Substitutions | None = None):
        self.thesaurus = thesaurus
        self.substitutions = substitutions or Substitutions()
        self._lemma: Callable[[str], str] = lru_cache(maxsize=200_000)(self._lemma_of)
        self.linked: Callable[[str, str], bool] = lru_cache(maxsize=500_000)(self._linked)

    def _lemma_of(self, word: str) -> str:
        if self.thesaurus is None or word.isdigit():
            return word
        lemmas = self.thesaurus.lemmas(word)
        # The shortest (then alphabetically first) lemma: the same word always gets the same
        # one, on the page side and the source side.
        single = [w for w in lemmas if " " not in w]
        return min(single, key=lambda w: (len(w), w)) if single else word

    def _linked(self, a: str, b: str) -> bool:
        if self.substitutions.links(a, b):
            return True
        return self.thesaurus is not None and self.thesaurus.related(a, b) is not None

    def words(self, words: Sequence[str], *, undo_spin: bool) -> list[str]:
        """Lemmatised words; with ``undo_spin``, known spun phrases are replaced first."""
        if undo_spin:
            words = self.substitutions.apply(words)
        return [self._lemma(w) for w in words]

    def tokens(self, tokens: Sequence[Token], *, undo_spin: bool) -> list[Token]:
        """Tokens whose ``norm`` is de-spun and lemmatised; offsets still index the text.

        A replaced phrase becomes its original's tokens, each spanning the whole spun phrase
        (so evidence quoting them quotes what the page really says).
        """
        out: list[Token] = []
        subs = self.substitutions
        lemma = self._lemma
        norms = [t.norm for t in tokens]
        i, n = 0, len(tokens)
        while i < n:
            if undo_spin and norms[i] in subs.first_words:
                original = None
                for size in range(min(subs.longest, n - i), 0, -1):
                    original = subs.lookup(norms[i : i + size])
                    if original is not None:
                        first, last = tokens[i], tokens[i + size - 1]
                        out.extend(
                            Token(lemma(w), first.start, last.end, first.capitalised)
                            for w in original
                        )
                        i += size
                        break
                if original is not None:
                    continue
            token = tokens[i]
            norm = lemma(token.norm)
            out.append(token if norm == token.norm else token._replace(norm=norm))
            i += 1
        return out
