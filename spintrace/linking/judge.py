"""Judging one page: its candidates from the index, alignment and the link rule, and the
paraphrase channel; the part of the match stage that runs in worker processes.

:class:`Judge` holds what judging needs for a run — the index, the sources' texts, tokens and
rarity weights (loaded in batches and cached), the de-spinner with the run's frozen learned
substitutions, and the settings — and opens its own database session to read sources, so a
worker process builds one and judges pages without writing anything.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace.config import Settings
from spintrace.db.models import Document, DocumentTokens
from spintrace.linking.index import TOKENS_KIND, stored_tokens, text_tokens_and_features
from spintrace.matcher import paraphrase
from spintrace.matcher.align import Bigrams, bigram_starts, evidence, stretches
from spintrace.matcher.despin import Despinner
from spintrace.matcher.features import skeleton_mask
from spintrace.matcher.index import ContainmentIndex
from spintrace.matcher.rarity import DocumentFrequencies
from spintrace.matcher.tokens import TokenTable
from spintrace.matcher.verdict import Rules, Side, credit
from spintrace.records import Evidence

__all__ = ["Judge", "Verdict"]

Verdict = tuple[str, list[tuple[int, Evidence]]]
"""A page's outcome (``linked``, ``unlinked``, ``too-short``) and its links: (source, evidence)."""


class _Source(NamedTuple):
    text: str
    table: TokenTable
    bigrams: Bigrams
    side: Side


def _side(table: TokenTable, text: str, rarity: DocumentFrequencies) -> Side:
    mask = skeleton_mask(table.norms, table.starts, table.ends, table.capitalised, text)
    return Side(table.norms, rarity.token_weights(table.norms), np.array(mask, dtype=np.bool_))


class _Sources:
    """Source texts, stored tokens and rarity weights, loaded in batches and kept for the run
    (the most recently used :data:`CACHE` of them)."""

    CACHE = 2_000  # about 150 KB each in memory (tokens, bigram index, weights): bench/scale.py

    def __init__(self, despinner: Despinner, rarity: DocumentFrequencies) -> None:
        self.despinner = despinner
        self.rarity = rarity
        self.cache: OrderedDict[int, _Source] = OrderedDict()
        self.profiles: dict[int, paraphrase.Profile] = {}

    def profile(self, key: int) -> paraphrase.Profile:
        """A loaded source's paraphrase profile (computed on first use)."""
        if key not in self.profiles:
            src = self.cache[key]
            self.profiles[key] = paraphrase.profile(src.side, src.text, self.rarity)
        return self.profiles[key]

    def get(self, session: Session, ids: Sequence[int]) -> dict[int, _Source]:
        missing = [i for i in ids if i not in self.cache]
        if missing:
            rows = session.execute(
                select(Document.id, Document.text, DocumentTokens.data)
                .outerjoin(
                    DocumentTokens,
                    (DocumentTokens.document_id == Document.id)
                    & (DocumentTokens.kind == TOKENS_KIND),
                )
                .where(Document.id.in_(missing))
            ).all()
            for source_id, text, data in rows:
                table = stored_tokens(source_id, text, data, self.despinner)
                side = _side(table, text, self.rarity)
                self.cache[source_id] = _Source(text, table, bigram_starts(table.norms), side)
        found = {}
        for i in ids:
            if i in self.cache:
                self.cache.move_to_end(i)
                found[i] = self.cache[i]
        while len(self.cache) > self.CACHE:
            key, _ = self.cache.popitem(last=False)
            self.profiles.pop(key, None)
        return found


class _Page(NamedTuple):
    text: str
    table: TokenTable
    side: Side


def _links(
    page: _Page,
    candidates: dict[int, _Source],
    linked: Callable[[str, str], bool],
    rules: Rules,
) -> list[tuple[int, Evidence]]:
    """The alignment links of a page (rarest evidence credited once), with their evidence."""
    found = {
        key: stretches(page.table.norms, src.table.norms, linked, src.bigrams)
        for key, src in candidates.items()
    }
    pairs = [(key, found[key], src.side) for key, src in candidates.items()]
    judged = credit(page.side, pairs, rules)
    out = []
    for key, verdict in judged:
        src = candidates[key]
        kept = [found[key][i] for i in verdict.kept]
        plain = evidence(page.table, src.table, page.text, src.text, kept)
        out.append(
            (
                key,
                replace(
                    plain,
                    score=verdict.score,
                    containment=verdict.containment,
                    coverage=verdict.coverage,
                    basis=verdict.basis or "alignment",
                    weighted_containment=verdict.weighted_containment,
                    weighted_coverage=verdict.weighted_coverage,
                    spine=verdict.spine,
                    rare_passage=verdict.rare_passage,
                ),
            )
        )
    return out


def _paraphrase(
    page: _Page,
    candidates: dict[int, _Source],
    sources: _Sources,
    rules: paraphrase.ParaphraseRules,
) -> list[tuple[int, Evidence]]:
    """The best paraphrase link of a page that no alignment links, if any."""
    profiles = [(key, sources.profile(key)) for key in candidates]
    mine = paraphrase.profile(page.side, page.text, sources.rarity)
    found = paraphrase.best(mine, profiles, sources.rarity.documents, rules)
    if found is None:
        return []
    key, measures = found
    src = candidates[key]
    return [
        (
            key,
            Evidence(
                score=measures.score,
                containment=measures.page_share,
                coverage=measures.source_share,
                spin_rate=0.0,
                page_tokens=len(page.table),
                source_tokens=len(src.table),
                basis="paraphrase",
                weighted_containment=measures.page_share,
                weighted_coverage=measures.source_share,
                cosine=measures.cosine,
                number_share=measures.number_share,
                shared_words=measures.words,
                shared_numbers=measures.numbers,
                shared_names=measures.names,
                shared_quotes=measures.quotes,
            ),
        )
    ]


class Judge:
    """Judges pages for one run (see the module docstring); not thread-safe, one per process."""

    def __init__(
        self,
        engine: Engine,
        index: ContainmentIndex,
        despinner: Despinner,
        rarity: DocumentFrequencies,
        settings: Settings,
    ) -> None:
        self.engine, self.index, self.settings = engine, index, settings
        self.sources = _Sources(despinner, rarity)

    @property
    def despinner(self) -> Despinner:
        """The de-spinner, with the run's frozen learned substitutions."""
        return self.sources.despinner

    def judge(self, text: str, since: int | None = None) -> Verdict | None:
        """The page's verdict; ``None`` when it was judged against every source up to id
        ``since`` and none of its candidates is newer (its verdict stands)."""
        with Session(self.engine) as session:
            return _match_one(session, text, self.index, self.sources, self.settings, since)


def _match_one(
    session: Session,
    text: str,
    index: ContainmentIndex,
    sources: _Sources,
    settings: Settings,
    since: int | None = None,
) -> Verdict | None:
    despinner = sources.despinner
    tokens, features = text_tokens_and_features(despinner, text, source=False)
    if len(tokens) < settings.min_page_tokens:
        return "too-short", []
    keys = [key for key, _, _ in index.candidates(features, limit=settings.max_candidates)]
    if since is not None and all(key <= since for key in keys):
        return None
    table = TokenTable.from_tokens(tokens)
    page = _Page(text, table, _side(table, text, sources.rarity))
    candidates = sources.get(session, keys)
    rules = Rules(link_score=settings.match_threshold, passage_weight=settings.passage_weight)
    links = _links(page, candidates, despinner.linked, rules)
    if not links:
        # A raised match_threshold raises the paraphrase bar too: every link scores at least it.
        bar = max(paraphrase.ParaphraseRules().min_share, settings.match_threshold)
        links = _paraphrase(page, candidates, sources, paraphrase.ParaphraseRules(min_share=bar))
    return ("linked" if links else "unlinked"), links
