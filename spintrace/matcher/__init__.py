"""Pure text matching: tokens, signatures, candidate retrieval and alignment.

Nothing here touches a database, the network, Scrapy or pandas; everything works on strings,
token lists and numpy arrays, so it can be tested and benchmarked in isolation.
"""

from __future__ import annotations

from spintrace.matcher.align import align
from spintrace.matcher.candidates import CandidateIndex
from spintrace.matcher.features import content_features, skeleton_tokens
from spintrace.matcher.signatures import Signature, sign
from spintrace.matcher.tokens import Token, tokenize

__all__ = [
    "CandidateIndex",
    "Signature",
    "Token",
    "align",
    "content_features",
    "sign",
    "skeleton_tokens",
    "tokenize",
]
