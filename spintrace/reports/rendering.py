"""Jinja2 environments for the HTML and text reports, safe on hostile scraped content.

Everything a report shows from pages and sources (titles, texts, URLs, site names,
substitutions) comes from content farms and must be treated as hostile:

- HTML templates are rendered with ``autoescape=True``, and nothing from the data is ever
  marked safe or used as a template: ``{{ 7*7 }}`` in a title stays those nine characters;
- only ``http(s)`` URLs become links (:func:`http_url`); anything else is shown as text;
- every HTML page carries :data:`CSP` (inline CSS only, no scripts, no remote loads, no forms),
  set in ``templates/base.html``, so even a missed escape could not run or fetch anything;
- text templates (notices) are not escaped, but every value is folded onto one line
  (:func:`one_line`), so a hostile title cannot add lines that pass for statements.
"""

from __future__ import annotations

import re
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from spintrace._version import __version__
from spintrace.records import plural

__all__ = [
    "CSP",
    "html_environment",
    "http_url",
    "one_line",
    "plural",
    "render_html",
    "render_text",
    "show_bidi",
]


CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)

# A literal http(s) scheme and no whitespace or control characters anywhere: browsers drop tabs
# and newlines inside URLs, which could otherwise turn "java\tscript:" back into a scheme.
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_SPACES = re.compile(r"[\s\x00-\x1f\x7f\u2028\u2029]+")


def http_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL that is safe to link to, else ``None``."""
    if isinstance(value, str) and _HTTP_URL.fullmatch(value):
        return value
    return None


# Unicode bidirectional controls (embeddings, overrides, isolates): from a scraped title
# they can make text read in another order than it is stored ("Invoice <RLO>gnp.exe" shows
# as "Invoice exe.png"). Reports show each as a visible code instead.
# The marks (U+200E, U+200F, U+061C) are left alone: they are ordinary in Arabic, Hebrew and
# Persian text and cannot reorder a run on their own.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def show_bidi(value: object) -> object:
    """``value`` with every bidirectional control character replaced by a visible ``[U+XXXX]``;
    other values are returned as they are."""
    if isinstance(value, str) and _BIDI.search(value):
        return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
    return value


def one_line(value: object) -> str:
    """``value`` as text on one line: runs of whitespace and control characters become a space."""
    text = _SPACES.sub(" ", "" if value is None else str(value)).strip()
    return str(show_bidi(text))


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("spintrace.reports", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Every value a template prints passes through here, escaped or not.
        finalize=show_bidi,
    )
    env.filters["http_url"] = http_url
    env.filters["one_line"] = one_line
    env.filters["percent"] = lambda value: f"{float(value):.0%}"
    env.globals["version"] = __version__
    env.globals["csp"] = CSP
    return env


@cache
def html_environment() -> Environment:
    """The environment for ``*.html`` templates (autoescaped)."""
    return _environment(autoescape=True)


@cache
def _text_environment() -> Environment:
    return _environment(autoescape=False)


def render_html(template: str, **context: object) -> str:
    """Render an HTML template of ``spintrace/reports/templates``; every value is escaped."""
    return html_environment().get_template(template).render(**context)


def render_text(template: str, **context: object) -> str:
    """Render a plain-text template (not escaped: pass values through ``one_line``)."""
    return _text_environment().get_template(template).render(**context)
