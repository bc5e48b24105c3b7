"""Judging a link from an alignment: both directions, rare text, names and numbers, credit.

A page copies a source when, after alignment (:mod:`spintrace.matcher.align`):

1. **Both directions.** ``max(weighted containment, weighted coverage) * spine >= link_score``.
   Containment is the share of the page aligned with the source, coverage the share of the
   source found in the page (what a rights holder asks: how much of *our* work was taken).
   Both are weighted by rarity: each token counts ``1 / sqrt(df)`` of the rarer word pair it
   belongs to (``df`` per 5,000 sources in a larger corpus: :mod:`spintrace.matcher.rarity`),
   so a formula many sources share (a market report's sentences, a disclaimer, a dateline)
   adds little, and a rare sentence a lot. Only
   stretches of at least ``min(min_passage, max(min_passage_floor, shorter / 4))`` tokens count
   (``shorter``: the shorter text's length): a shared formula sentence never makes a copy of a
   brief, while a 40-word brief copied whole still can.
2. **The spine.** Spinners never change digits and rarely names. Consecutive stretches (in page
   and source order, gaps under ``chain_gap`` tokens) form a chain; within the spans a chain
   covers, the source's names and numbers are looked up in the page's. ``spine = (shared +
   spine_prior) / (all + spine_prior)``: a formulaic item with other figures aligns around its
   numbers and loses here; a copy keeps them.
3. **A rare exact passage** of at least ``passage_weight`` rarity-weighted tokens (a paragraph
   pasted into otherwise original text) is a link on its own; its score is raised to
   ``link_score``, so every link scores at least that.

The score (``max(...) * spine``) sorts links by how sure they are. :func:`credit` judges a
page's candidate sources best first and re-judges each later one without the page words
already credited to an earlier link, so two editions of one story do not both take the same
passage, while a page stitched from two stories links both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from spintrace.matcher.align import Stretch

__all__ = ["Judgement", "Rules", "Side", "credit", "judge"]

Bools = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]


class Side(NamedTuple):
    """One text of a pair: its normalised words, their rarity weights, and which are names or
    numbers (the spine)."""

    norms: Sequence[str]
    weights: F64
    skeleton: Bools


@dataclass(frozen=True)
class Rules:
    """The thresholds of the link rule (docs/matching.md gives the measurements behind them)."""

    link_score: float = 0.46
    min_passage: int = 8
    min_passage_floor: int = 3
    passage_weight: float = 36.0
    spine_prior: float = 1.0
    chain_gap: int = 40


@dataclass(frozen=True)
class Judgement:
    """What the rule found for one (page, source) pair; ``basis`` is None when not a link."""

    score: float
    basis: str | None  # "alignment", "passage" or None
    containment: float
    coverage: float
    weighted_containment: float
    weighted_coverage: float
    spine: float
    rare_passage: float  # rarity-weighted length of the longest exact passage counted
    page_mask: Bools  # the page words this pair was credited with
    kept: tuple[int, ...] = ()  # the stretches that counted, by index

    @property
    def linked(self) -> bool:
        return self.basis is not None


class _Kept(NamedTuple):
    page: npt.NDArray[np.int64]
    source: npt.NDArray[np.int64]


def _kept(stretch: Stretch, credited: Bools | None) -> tuple[_Kept, list[tuple[int, int, int]]]:
    """The page and source positions of a stretch not credited elsewhere, and its exact runs
    left whole (page start, source start, length)."""
    pages: list[npt.NDArray[np.int64]] = []
    sources: list[npt.NDArray[np.int64]] = []
    runs: list[tuple[int, int, int]] = []
    for k, ((i, j, length), _) in enumerate(stretch):
        page = np.arange(i, i + length)
        source = np.arange(j, j + length)
        if credited is not None:
            free = ~credited[i : i + length]
            if free.all():
                runs.append((i, j, length))
            page, source = page[free], source[free]
        else:
            runs.append((i, j, length))
        pages.append(page)
        sources.append(source)
        if k + 1 < len(stretch):
            (ni, nj, _), _ = stretch[k + 1]
            if credited is None or not credited[i + length : ni].any():
                pages.append(np.arange(i + length, ni))
                sources.append(np.arange(j + length, nj))
    return _Kept(np.concatenate(pages), np.concatenate(sources)), runs


def _spine(chains: list[list[_Kept]], page: Side, source: Side) -> tuple[int, int]:
    """(shared, all) names and numbers of the source within the spans the chains cover."""
    shared = total = 0
    for chain in chains:
        s_lo = min(int(k.source.min()) for k in chain)
        s_hi = max(int(k.source.max()) for k in chain)
        p_lo = min(int(k.page.min()) for k in chain)
        p_hi = max(int(k.page.max()) for k in chain)
        wanted = {source.norms[x] for x in range(s_lo, s_hi + 1) if source.skeleton[x]}
        have = {page.norms[x] for x in range(p_lo, p_hi + 1) if page.skeleton[x]}
        shared += len(wanted & have)
        total += len(wanted)
    return shared, total


def judge(
    found: Sequence[Stretch],
    page: Side,
    source: Side,
    rules: Rules | None = None,
    credited: Bools | None = None,
) -> Judgement:
    """Judge a pair from its alignment's stretches, without the page words in ``credited``."""
    rules = rules or Rules()
    n, m = len(page.norms), len(source.norms)
    shortest = min(rules.min_passage, max(rules.min_passage_floor, min(n, m) // 4))
    page_mask = np.zeros(n, dtype=np.bool_)
    source_mask = np.zeros(m, dtype=np.bool_)
    chains: list[list[_Kept]] = []
    rare_passage = 0.0
    counted: list[int] = []
    for index, stretch in enumerate(found):
        kept, runs = _kept(stretch, credited)
        # A stretch whose runs went to another source may keep only page-side insertions.
        if len(kept.page) < shortest or not len(kept.source):
            continue
        counted.append(index)
        page_mask[kept.page] = True
        source_mask[kept.source] = True
        for _, j, length in runs:
            rare_passage = max(rare_passage, float(source.weights[j : j + length].sum()))
        if chains:
            last = chains[-1][-1]
            page_gap = int(kept.page.min()) - int(last.page.max())
            source_gap = int(kept.source.min()) - int(last.source.max())
            if 0 < page_gap <= rules.chain_gap and 0 < source_gap <= rules.chain_gap:
                chains[-1].append(kept)
                continue
        chains.append([kept])
    if not page_mask.any():
        return Judgement(0.0, None, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, page_mask)
    shared, total = _spine(chains, page, source)
    spine = (shared + rules.spine_prior) / (total + rules.spine_prior)
    w_page = float(page.weights.sum()) or 1.0
    w_source = float(source.weights.sum()) or 1.0
    w_containment = float(page.weights[page_mask].sum()) / w_page
    w_coverage = float(source.weights[source_mask].sum()) / w_source
    score = max(w_containment, w_coverage) * spine
    basis: str | None = None
    if score >= rules.link_score:
        basis = "alignment"
    elif rare_passage >= rules.passage_weight:
        basis, score = "passage", rules.link_score
    return Judgement(
        score=round(score, 4),
        basis=basis,
        containment=round(float(page_mask.mean()), 4),
        coverage=round(float(source_mask.mean()), 4),
        weighted_containment=round(w_containment, 4),
        weighted_coverage=round(w_coverage, 4),
        spine=round(spine, 4),
        rare_passage=round(rare_passage, 2),
        page_mask=page_mask,
        kept=tuple(counted),
    )


def credit(
    page: Side,
    candidates: Sequence[tuple[int, Sequence[Stretch], Side]],
    rules: Rules | None = None,
) -> list[tuple[int, Judgement]]:
    """The candidates that are links, best first, each credited only with page words no
    better candidate explains. ``candidates`` are ``(key, stretches, source side)``; on equal
    scores the one explaining more of the page goes first, then the smaller key (the source
    held first)."""
    rules = rules or Rules()
    alone = [(judge(found, page, side, rules), key, found, side) for key, found, side in candidates]
    # Best first: the higher score, then the source explaining more of the page (an edition
    # with a paragraph the page also has), then more of itself found, then the source held first.
    alone.sort(
        key=lambda c: (-c[0].score, -c[0].weighted_containment, -c[0].weighted_coverage, c[1])
    )
    credited = np.zeros(len(page.norms), dtype=np.bool_)
    links: list[tuple[int, Judgement]] = []
    for first, key, found, side in alone:
        # A pair that fails alone may pass once words are credited elsewhere: a formula
        # paragraph with other figures, taken by another source, no longer lowers its spine.
        if not first.kept:
            continue
        judged = judge(found, page, side, rules, credited) if credited.any() else first
        if judged.linked:
            links.append((key, judged))
            credited |= judged.page_mask
    return links
