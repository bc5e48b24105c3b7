"""Abuse contacts for the complaint pack, from a file the rights holder keeps.

Where a takedown notice goes is the host's abuse or copyright address, which spintrace does
not look up (that is a WHOIS/RDAP query about the server's network, made by a person who then
checks it). The person records what they found in a CSV file, one site per line::

    site,abuse_contact
    newsbuzzhub.example,abuse@hosting.example
    www.dailytrendwire.example,https://hosting.example/report-abuse

A site may be written as a host or a URL (it is reduced to its registered domain, as spintrace
names sites); a contact is an email address (``mailto:`` optional) or an http(s) address of an
abuse form. The pack's ``infringements.csv`` carries it in ``abuse_contact``, and the site's
notice draft is addressed to it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import urlsplit

from spintrace.db.urls import site_domain
from spintrace.errors import ReportError

__all__ = ["read_contacts"]

_EMAIL = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]+")
_MAX_BYTES = 10 * 1024 * 1024


def _contact(value: str) -> str | None:
    """``value`` as a contact: an email address or an http(s) URL with a host; else ``None``."""
    value = value.strip()
    email = value[7:] if value[:7].lower() == "mailto:" else value
    if _EMAIL.fullmatch(email):
        return email
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # http://[oops: not a URL either
        return None
    if parts.scheme in ("http", "https") and host and not re.search(r"\s", value):
        return value
    return None


def read_contacts(path: Path) -> dict[str, str]:
    """Site -> abuse contact from the CSV file at ``path`` (columns ``site`` and
    ``abuse_contact``; others are ignored). A file that cannot be read, a missing column, a bad
    site or contact, or one site given two different contacts is a :class:`ReportError` naming
    the line: a pack must not go out with a contact nobody meant."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ReportError(f"{path}: the contacts file is over 10 MiB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ReportError(f"cannot read the contacts file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: the contacts file is not UTF-8 text") from None
    # Not text.splitlines(): it also breaks at form feeds and other separators inside a
    # quoted field, and the csv module would join the pieces without them.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"site", "abuse_contact"} - set(reader.fieldnames or ())
    if missing:
        raise ReportError(
            f"{path}: the contacts file needs a header line with the columns site and "
            f"abuse_contact (missing: {', '.join(sorted(missing))})"
        )
    contacts: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        raw_site, raw_contact = (row.get("site") or "").strip(), row.get("abuse_contact") or ""
        if not raw_site and not raw_contact.strip():
            continue  # a blank line
        site = site_domain(raw_site) if raw_site else ""
        if not site or re.search(r"\s", site):
            raise ReportError(f"{path}, line {line}: {raw_site!r} is not a site")
        contact = _contact(raw_contact)
        if contact is None:
            raise ReportError(
                f"{path}, line {line}: {raw_contact.strip()!r} is not an email address or an "
                "http(s) address of an abuse form"
            )
        if contacts.get(site, contact) != contact:
            raise ReportError(
                f"{path}, line {line}: {site} already has the contact {contacts[site]!r}"
            )
        contacts[site] = contact
    return contacts
