"""Pure text matching: tokens, de-spinning, MinHash signatures, the containment index and alignment.

Nothing here touches a database, the network, Scrapy or pandas; everything works on strings,
token tables and numpy arrays, so it can be tested and benchmarked in isolation.
"""

from __future__ import annotations

from spintrace.matcher.align import Stretch, align, bigram_starts, evidence, stretches
from spintrace.matcher.despin import Despinner, Substitutions
from spintrace.matcher.features import content_features, skeleton_tokens
from spintrace.matcher.index import ContainmentIndex, Features, Segment, sketch, text_features
from spintrace.matcher.minhash import minhash, minhash_many
from spintrace.matcher.paraphrase import Paraphrase, ParaphraseRules, Profile, profile
from spintrace.matcher.rarity import DocumentFrequencies
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import Token, TokenTable, normalise_phrase, tokenize
from spintrace.matcher.verdict import Judgement, Rules, Side, credit, judge

__all__ = [
    "ContainmentIndex",
    "Despinner",
    "DocumentFrequencies",
    "Features",
    "Judgement",
    "Paraphrase",
    "ParaphraseRules",
    "Profile",
    "Rules",
    "Segment",
    "Side",
    "Stretch",
    "Substitutions",
    "Thesaurus",
    "Token",
    "TokenTable",
    "align",
    "bigram_starts",
    "content_features",
    "credit",
    "evidence",
    "judge",
    "minhash",
    "minhash_many",
    "normalise_phrase",
    "profile",
    "skeleton_tokens",
    "sketch",
    "stretches",
    "text_features",
    "tokenize",
]
