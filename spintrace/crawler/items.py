"""The item the spider yields for every fetched page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spintrace.records import Role

__all__ = ["FetchedFavicon", "FetchedPage"]


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """One HTML response as fetched: raw (decompressed) body, status, headers, final URL.

    ``url`` is the URL that was requested; ``final_url`` the one answered after redirects.
    ``replayed`` is true when a resumed crawl served the page from its stored capture instead
    of fetching it again (the pipeline then stores nothing).
    """

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime
    role: Role
    depth: int
    content_type: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class FetchedFavicon:
    """A site's favicon as fetched: its hash ties sites that share a custom icon."""

    page_url: str
    url: str
    body: bytes
