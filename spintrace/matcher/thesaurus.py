"""Thesaurus knowledge shipped with the package: WordNet 3.0 and Moby Thesaurus II, pairwise.

DESIGN.md: never collapse words into synonym classes (chained synonyms merge everything); ask
whether two given words are linked. :class:`Thesaurus` answers that from compact tables built by
``tools/build_thesaurus.py`` and shipped as ``spintrace/matcher/data/thesaurus.npz`` (see the
README there for the format, sources and licences). It loads offline, in a fraction of a second.

Every word or phrase is normalised as :func:`spintrace.matcher.tokens.tokenize` does (NFKC, case
folding, hyphens and apostrophes split words) and written as its tokens joined by single spaces,
so ``"Know-How"`` and ``"know how"`` are the same entry. Inflected forms are reduced with
WordNet's *morphy* (exception lists, then the standard suffix rules checked against the
vocabulary): ``"houses" -> "house"``, ``"bought" -> "buy"``, ``"happier" -> "happy"``.
"""

from __future__ import annotations

import functools
import io
from bisect import bisect_left
from collections.abc import Mapping
from importlib import resources

import numpy as np
import numpy.typing as npt

from spintrace.matcher.tokens import normalise_phrase

__all__ = ["RELATIONS", "Thesaurus"]

# Part-of-speech bits of the ``flags`` table (and of ``exc_pos``); MOBY marks a Moby entry.
_NOUN, _VERB, _ADJ, _ADV, _MOBY = 1, 2, 4, 8, 16
# WordNet relation kinds as stored in ``wn_kind`` (0 = strongest).
_WN_KINDS = ("wordnet-synonym", "wordnet-similar", "wordnet-derivation", "wordnet-hypernym")
#: Every name :meth:`Thesaurus.related` can return, strongest first.
RELATIONS = (
    "same",
    "lemma",
    "wordnet-synonym",
    "wordnet-similar",
    "moby",
    "wordnet-derivation",
    "wordnet-hypernym",
)
# WordNet's morphy detachment rules: (suffix, replacement) per part of speech.
_RULES: dict[int, tuple[tuple[str, str], ...]] = {
    _NOUN: (
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    _VERB: (
        ("s", ""),
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
    ),
    _ADJ: (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    _ADV: (),
}

_U32 = npt.NDArray[np.uint32]


def _normalise(phrase: str) -> str:
    return normalise_phrase(phrase)


def _unplane(planes: npt.NDArray[np.generic]) -> _U32:
    """Undo the build's byte-plane layout of a little-endian uint32 array."""
    rows = planes.reshape(4, -1)
    interleaved = np.empty((rows.shape[1], 4), dtype=np.uint8)
    for k in range(4):  # four strided copies beat one transposed copy several times over
        interleaved[:, k] = rows[k]
    return interleaved.view("<u4").reshape(-1).astype(np.uint32, copy=False)


def _csr(lengths: npt.NDArray[np.generic], deltas: npt.NDArray[np.generic]) -> tuple[_U32, _U32]:
    """Row offsets and neighbour ids of a relation stored as row lengths + per-row deltas.

    Each row's deltas start from zero, so a row is the running sum of all deltas minus the
    running sum before the row. The sums may wrap around uint32; the differences stay exact.
    """
    sizes = _unplane(lengths)
    offsets = np.zeros(len(sizes) + 1, dtype=np.uint32)
    np.cumsum(sizes, out=offsets[1:])
    running = np.zeros(int(offsets[-1]) + 1, dtype=np.uint32)
    np.cumsum(_unplane(deltas), out=running[1:])
    targets = running[1:]
    targets -= np.repeat(running[offsets[:-1]], sizes)
    return offsets, targets


class Thesaurus:
    """WordNet and Moby relations between words and phrases, with a morphy lemmatiser.

    Use :meth:`load` (cached) rather than the constructor. Instances are read-only and can be
    shared between threads.

    Attributes:
        max_phrase_tokens: the most tokens any vocabulary entry has, for longest-match lookups.
    """

    max_phrase_tokens: int

    def __init__(self, arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Wrap the arrays of ``thesaurus.npz`` (format: ``spintrace/matcher/data/README.md``)."""
        vocab = arrays["vocab"].tobytes().decode("utf-8").split("\n")
        self._vocab = vocab  # sorted: ids are found by bisection (no dict to build on load)
        self._flags: list[int] = arrays["flags"].tolist()
        self._wn_offsets, self._wn_targets = _csr(arrays["wn_lengths"], arrays["wn_targets"])
        self._wn_kind = arrays["wn_kind"]
        self._moby_offsets, self._moby_targets = _csr(
            arrays["moby_lengths"], arrays["moby_targets"]
        )
        self._exceptions: dict[tuple[str, int], list[str]] = {}
        for form, base, pos in zip(
            arrays["exc_form"].tolist(),
            arrays["exc_base"].tolist(),
            arrays["exc_pos"].tolist(),
            strict=True,
        ):
            self._exceptions.setdefault((vocab[form], pos), []).append(vocab[base])
        self.max_phrase_tokens = int(arrays["max_phrase_tokens"])
        self._lemma_cache = functools.lru_cache(maxsize=1 << 16)(self._lemmas)

    @classmethod
    def load(cls) -> Thesaurus:
        """The thesaurus shipped with the package (read once per process, then cached)."""
        return _load_shipped()

    # -- vocabulary and lemmas ---------------------------------------------------------------

    def _id(self, entry: str) -> int | None:
        i = bisect_left(self._vocab, entry)
        return i if i < len(self._vocab) and self._vocab[i] == entry else None

    def _pos_flags(self, entry: str) -> int:
        i = self._id(entry)
        return 0 if i is None else self._flags[i]

    def _morphy(self, word: str, pos: int, known: int = 0) -> list[str]:
        """WordNet's morphy for one part of speech: ``word`` and its base forms, kept if they
        are entries with one of the ``known`` flag bits (by default: WordNet words of ``pos``).
        """
        bases = self._exceptions.get((word, pos))
        if bases is None:
            bases = [word[: -len(old)] + new for old, new in _RULES[pos] if word.endswith(old)]
        forms = dict.fromkeys([word, *bases])
        return [f for f in forms if f and self._pos_flags(f) & (known or pos)]

    def _lemmas(self, norm: str) -> frozenset[str]:
        found: set[str] = set()
        if self._pos_flags(norm):
            found.add(norm)
        words = norm.split(" ")
        if len(words) == 1 and norm:
            for pos in (_NOUN, _VERB, _ADJ, _ADV):
                found.update(self._morphy(norm, pos))
            if not found:
                # Spinners inflect Moby synonyms too ("I" -> "you", so "is" -> "yous"); Moby
                # has no parts of speech, so try every rule, only for words WordNet lacks.
                for pos in (_NOUN, _VERB, _ADJ):
                    found.update(self._morphy(norm, pos, _MOBY))
        elif len(words) > 1:
            # Collocations: "legal professionals" -> "legal professional", "looked up" -> "look up".
            head, last = " ".join(words[:-1]), words[-1]
            first, tail = words[0], " ".join(words[1:])
            variants = [f"{head} {base}" for base in self._morphy(last, _NOUN)]
            variants += [f"{base} {tail}" for base in self._morphy(first, _VERB)]
            found.update(v for v in variants if self._pos_flags(v))
        return frozenset(found)

    def lemmas(self, word: str) -> set[str]:
        """Base forms of ``word`` (or phrase) in the vocabulary, including itself if it is there.

        ``"house" in lemmas("houses")``, ``"buy" in lemmas("bought")``, ``"happy" in
        lemmas("happier")``, ``"legal professional" in lemmas("legal professionals")`` (when the
        phrase is an entry); an unknown word gives an empty set. A word WordNet lacks may also
        reduce to a Moby entry by the same suffix rules ("yous" -> "you").
        """
        return set(self._lemma_cache(_normalise(word)))

    def in_vocabulary(self, word_or_phrase: str) -> bool:
        """Whether the thesaurus knows ``word_or_phrase``, as it is or through one of its lemmas.

        A spinner can only replace words its thesaurus knows, so words outside the vocabulary
        (names, typos, rare terms) are the ones it leaves alone.
        """
        return bool(self._lemma_cache(_normalise(word_or_phrase)))

    # -- relations ---------------------------------------------------------------------------

    @staticmethod
    def _row(offsets: _U32, targets: _U32, i: int) -> _U32:
        return targets[int(offsets[i]) : int(offsets[i + 1])]

    def _find(self, offsets: _U32, targets: _U32, a: int, b: int) -> int:
        """Position of the pair (a, b) in ``targets``, or -1."""
        row = self._row(offsets, targets, a)
        k = int(np.searchsorted(row, b))
        return int(offsets[a]) + k if k < len(row) and int(row[k]) == b else -1

    def _pair_relations(self, a: int, b: int) -> set[str]:
        names: set[str] = set()
        k = self._find(self._wn_offsets, self._wn_targets, a, b)
        if k >= 0:
            names.add(_WN_KINDS[int(self._wn_kind[k])])
        if self._find(self._moby_offsets, self._moby_targets, a, b) >= 0:
            names.add("moby")
        return names

    def relations(self, a: str, b: str) -> frozenset[str]:
        """Every relation that links ``a`` and ``b`` or their lemmas (names from RELATIONS)."""
        na, nb = _normalise(a), _normalise(b)
        if na == nb:
            return frozenset({"same"}) if na else frozenset()
        la, lb = self._lemma_cache(na), self._lemma_cache(nb)
        names: set[str] = set()
        if la & lb:
            names.add("lemma")
        for x in la:
            for y in lb:
                i, j = self._id(x), self._id(y)
                if x != y and i is not None and j is not None:
                    names |= self._pair_relations(i, j)
        return frozenset(names)

    def related(self, a: str, b: str) -> str | None:
        """The strongest relation linking ``a`` and ``b`` (see RELATIONS), or None.

        Symmetric; compares lemma forms too, so ``related("houses", "homes")`` finds the link
        between "house" and "home". ``"same"`` means equal after normalisation, ``"lemma"``
        that both reduce to a common base form ("bought"/"buying").
        """
        names = self.relations(a, b)
        return next((name for name in RELATIONS if name in names), None)

    def synonyms(self, word: str) -> set[str]:
        """Every entry linked to ``word`` or one of its lemmas, by any source and relation.

        For debugging and learning; matching should ask :meth:`related` about a given pair.
        """
        norm = _normalise(word)
        forms = self._lemma_cache(norm)
        found: set[str] = set()
        for form in forms:
            i = self._id(form)
            if i is None:  # pragma: no cover - lemmas are always entries
                continue
            for offsets, targets in (
                (self._wn_offsets, self._wn_targets),
                (self._moby_offsets, self._moby_targets),
            ):
                found.update(self._vocab[j] for j in self._row(offsets, targets, i).tolist())
        return found - forms


@functools.cache
def _load_shipped() -> Thesaurus:
    data = resources.files("spintrace.matcher").joinpath("data", "thesaurus.npz").read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return Thesaurus(arrays)
