"""The crawler's user-facing error (a :class:`~spintrace.errors.SpintraceError`)."""

from __future__ import annotations

from spintrace.errors import SpintraceError

__all__ = ["CrawlError"]


class CrawlError(SpintraceError):
    """A crawl cannot start or reached nothing: bad URL, unreachable host, bad setting.

    ``url`` is the start URL concerned, when there is one.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
