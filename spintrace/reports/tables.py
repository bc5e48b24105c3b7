"""Cells of the CSV files that reports write for people to open in a spreadsheet.

Values in them (URLs, titles, site names) come from scraped pages and are hostile.
"""

from __future__ import annotations

from spintrace.reports.rendering import show_bidi

__all__ = ["spreadsheet_safe"]

# A spreadsheet runs a cell starting with = + - @ as a formula (CSV injection), and some strip
# a leading tab or carriage return before looking. URLs, titles and host names of honest
# pages never start with these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value``, with a leading apostrophe when it is text a spreadsheet would run as a formula,
    and bidirectional controls shown as ``[U+XXXX]`` (see ``rendering.show_bidi``).

    Anything that is not a string (numbers, dates, ``None``) is returned as it is.
    """
    value = show_bidi(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
