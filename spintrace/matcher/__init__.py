"""Pure text matching: tokens, de-spinning, MinHash signatures, the containment index and alignment.

Nothing here touches a database, the network, Scrapy or pandas; everything works on strings,
token tables and numpy arrays, so it can be tested and benchmarked in isolation.
"""

from __future__ import annotations

from spintrace.matcher.align import align, bigram_starts
from spintrace.matcher.despin import Despinner, Substitutions
from spintrace.matcher.features import content_features, skeleton_tokens
from spintrace.matcher.index import ContainmentIndex, Features, Segment, sketch, text_features
from spintrace.matcher.minhash import minhash, minhash_many
from spintrace.matcher.thesaurus import Thesaurus
from spintrace.matcher.tokens import Token, TokenTable, normalise_phrase, tokenize

__all__ = [
    "ContainmentIndex",
    "Despinner",
    "Features",
    "Segment",
    "Substitutions",
    "Thesaurus",
    "Token",
    "TokenTable",
    "align",
    "bigram_starts",
    "content_features",
    "minhash",
    "minhash_many",
    "normalise_phrase",
    "skeleton_tokens",
    "sketch",
    "text_features",
    "tokenize",
]
