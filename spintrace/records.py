"""Frozen dataclasses that cross stage boundaries.

They carry plain values only (no database rows, no numpy arrays) so that every layer can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "Evidence",
    "ExtractedText",
    "InputRecord",
    "Passage",
    "Role",
    "Substitution",
]

Role = Literal["source", "page"]


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One valid line of an import file: a URL with either its text or its HTML."""

    url: str
    line: int
    text: str | None = None
    html: str | None = None
    title: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """The main text and metadata of a page. ``None`` fields were not found."""

    text: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A stretch of the page aligned with a stretch of the source.

    Offsets are character offsets into the two original texts (``text[start:end]``).
    ``substitutions`` counts the spun words inside it; 0 means an exact, unspun passage.
    """

    page_start: int
    page_end: int
    source_start: int
    source_end: int
    tokens: int
    substitutions: int


@dataclass(frozen=True, slots=True)
class Substitution:
    """A word or phrase of the source replaced in the page (``spun`` -> ``original``)."""

    spun: str
    original: str
    page_start: int
    source_start: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the alignment of a page with a source found.

    - ``score``: how sure the link is, 0..1 (the containment, for now);
    - ``containment``: share of the page's tokens aligned with the source;
    - ``coverage``: share of the source's tokens that were copied;
    - ``spin_rate``: share of the aligned page tokens that were substituted;
    - ``longest_exact``: the longest run of words copied verbatim (an unspun passage: the
      strongest evidence of all, as a spinner leaves no such run in an independent text).
    """

    score: float
    containment: float
    coverage: float
    spin_rate: float
    page_tokens: int
    source_tokens: int
    longest_exact: int = 0
    passages: tuple[Passage, ...] = field(default=())
    substitutions: tuple[Substitution, ...] = field(default=())
