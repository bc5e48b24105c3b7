"""IAB ads.txt / app-ads.txt and sellers.json: who may sell a site's ad space, and who they are.

A site's ``/ads.txt`` (``/app-ads.txt`` for apps; IAB Tech Lab spec 1.1) lists the ad systems
and account IDs allowed to sell its inventory, one record a line::

    # ad system, account ID, relationship, certification authority (TAG) ID
    google.com, pub-1234567890123456, DIRECT, f08c47fec0942fa0
    contact=ads@example.com  # a variable: name=value

An ad system's ``/sellers.json`` names the owner of each account (``seller_id``): a publisher,
an intermediary or both. Sites that share a ``DIRECT`` account are very likely one operator's;
sellers.json says whose.

:func:`parse_ads_txt` and :func:`parse_sellers_json` are pure (no network, no database).

Malformed input: in ads.txt a bad line (fewer than 3 fields, an ad system that is not a domain,
an empty account ID, a relationship other than DIRECT/RESELLER, an over-long line) is skipped
with a reason in :attr:`AdsTxt.skipped` and an INFO log line, and parsing goes on; ``#`` starts
a comment anywhere, text after ``;`` (spec extension data) and fields past the fourth are
ignored, identical records (same system, account, relationship) are kept once, silently. An HTML
page served instead (a soft 404) gives no records. A UTF-8 (or UTF-16) BOM, CRLF/CR line ends
and undecodable bytes (replaced) are accepted. In sellers.json a bad entry is skipped the same
way (its position is its index in ``sellers``); a file that is not JSON or has no ``sellers``
list raises :class:`ValueError` with a one-line message. Nothing else raises.

Hostile input is bounded by size: ads.txt is read up to :data:`MAX_ADS_TXT_BYTES` (characters
for ``str`` input) and :data:`MAX_RECORDS` records, lines over :data:`MAX_LINE_CHARS` are
skipped, at most :data:`MAX_SKIPPED` skipped lines are listed (then one summary entry); a
sellers.json over :data:`MAX_SELLERS_JSON_BYTES` raises :class:`ValueError`. Parsing is linear.
"""

from __future__ import annotations

import codecs
import functools
import io
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "MAX_ADS_TXT_BYTES",
    "MAX_LINE_CHARS",
    "MAX_RAW_CHARS",
    "MAX_RECORDS",
    "MAX_SELLERS_JSON_BYTES",
    "MAX_SKIPPED",
    "MAX_VARIABLES",
    "AdsRecord",
    "AdsTxt",
    "Relationship",
    "Seller",
    "SellersJson",
    "Skipped",
    "ads_txt_url",
    "parse_ads_txt",
    "parse_sellers_json",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MAX_ADS_TXT_BYTES = 20_000_000
"""Large publishers' files are 100 KB - 2 MB; beyond this the file is cut (one skipped entry)."""
MAX_LINE_CHARS = 2000
"""A record is under ~150 characters; a longer line is skipped."""
MAX_RECORDS = 500_000
"""Distinct records kept; reaching it ends the parse (one skipped entry)."""
MAX_VARIABLES = 10_000
"""``name=value`` lines kept; later ones are skipped."""
MAX_SKIPPED = 10_000
"""Skipped lines or entries listed and logged one by one; the rest are counted in one entry."""
MAX_SELLERS_JSON_BYTES = 200_000_000
"""The largest exchanges' sellers.json are ~100 MB; a larger file raises :class:`ValueError`."""
MAX_RAW_CHARS = 200
"""The raw line or entry kept in a :class:`Skipped` is cut to this."""

Relationship = Literal["DIRECT", "RESELLER"]
_RELATIONSHIPS: dict[str, Relationship] = {"DIRECT": "DIRECT", "RESELLER": "RESELLER"}

# Letters-digits-hyphen labels, at least two, a letter TLD or an IDNA (xn--) one.
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"  # labels
    r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"  # top-level domain
)
_VARIABLE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)", re.DOTALL)
_STARTS_WITH_TAG = re.compile(r"\s*<")
_HTML_TAG = re.compile(r"<html", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input part that was not used, and why.

    ``position`` is the 1-based line number in ads.txt, or the 0-based index of the entry in the
    ``sellers`` list of sellers.json; ``raw`` is the line or entry (as JSON), cut to 200 chars.
    """

    position: int
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class AdsRecord:
    """One ads.txt record: ``account_id`` on ``ad_system`` may sell the site's inventory.

    ``ad_system`` is a lower-cased domain; ``account_id`` keeps its case; ``certification_id``
    (the TAG ID of the ad system) is ``None`` when not given; ``line`` is 1-based; ``raw`` is
    the line as written (the evidence a report shows; not compared).
    """

    ad_system: str
    account_id: str
    relationship: Relationship
    certification_id: str | None
    line: int
    raw: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AdsTxt:
    """A parsed ads.txt: records in file order, ``(name, value)`` variables with lower-cased
    names in file order (a name may repeat, e.g. several ``subdomain``), and skipped lines."""

    records: tuple[AdsRecord, ...]
    variables: tuple[tuple[str, str], ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class Seller:
    """One sellers.json entry.

    ``seller_type`` is upper-cased as given (``PUBLISHER``, ``INTERMEDIARY``, ``BOTH``, or an
    unknown value kept as is); ``name`` and ``domain`` (lower-cased) are ``None`` when missing or
    when the seller is confidential.
    """

    seller_id: str
    name: str | None
    domain: str | None
    seller_type: str
    is_confidential: bool
    is_passthrough: bool


@dataclass(frozen=True, slots=True)
class SellersJson:
    """A parsed sellers.json: sellers by ``seller_id`` (first entry wins), the file's contact and
    version (``None`` when missing), ``(name, value)`` identifiers and skipped entries."""

    sellers: dict[str, Seller]
    contact_email: str | None
    contact_address: str | None
    version: str | None
    identifiers: tuple[tuple[str, str], ...]
    skipped: tuple[Skipped, ...]


class _Skips:
    """Skipped entries, listed and logged up to :data:`MAX_SKIPPED`, then only counted."""

    def __init__(self, source: str, unit: str) -> None:
        self.source = source
        self.unit = unit
        self.items: list[Skipped] = []
        self.unlisted = 0
        self.first_unlisted = 0

    def add(self, position: int, reason: str, raw: str, *, always: bool = False) -> None:
        if always or len(self.items) < MAX_SKIPPED:
            self.items.append(Skipped(position, reason, raw[:MAX_RAW_CHARS]))
            logger.info("%s %s %d skipped: %s", self.source, self.unit, position, reason)
        else:
            if not self.unlisted:
                self.first_unlisted = position
            self.unlisted += 1

    def done(self) -> tuple[Skipped, ...]:
        if self.unlisted:
            reason = f"{self.unlisted} more bad {self.unit}s from here on, not listed"
            self.add(self.first_unlisted, reason, "", always=True)
            self.items.sort(key=lambda skip: skip.position)
        return tuple(self.items)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows Notepad files
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def parse_ads_txt(data: bytes | str, source: str = "ads.txt") -> AdsTxt:
    """Parse an ads.txt or app-ads.txt file; ``source`` (a URL or path) names it in log lines.

    Never raises on bad content: see the module docstring for what is skipped and the limits.
    """
    cut = len(data) > MAX_ADS_TXT_BYTES
    text = _decode(data[:MAX_ADS_TXT_BYTES])
    skips = _Skips(source, "line")
    if _STARTS_WITH_TAG.match(text) or _HTML_TAG.search(text):
        skips.add(1, "not an ads.txt file (HTML)", text, always=True)
        return AdsTxt(records=(), variables=(), skipped=skips.done())

    records: list[AdsRecord] = []
    variables: list[tuple[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    number = 0
    for number, raw_line in enumerate(io.StringIO(text, newline=None), start=1):
        raw = raw_line.removesuffix("\n")
        if cut and raw == raw_line:  # the last line, cut short by the size limit
            reason = f"file over {MAX_ADS_TXT_BYTES} bytes: cut here, the rest is not read"
            skips.add(number, reason, raw, always=True)
            break
        if len(raw) > MAX_LINE_CHARS:
            skips.add(number, f"line longer than {MAX_LINE_CHARS} characters", raw)
            continue
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        variable = _VARIABLE.fullmatch(line) if "=" in line else None
        if variable is not None:
            if len(variables) >= MAX_VARIABLES:
                skips.add(number, f"more than {MAX_VARIABLES} variables", raw)
            else:
                variables.append((variable[1].lower(), variable[2].strip()))
            continue
        record = _record(line, number, raw)
        if isinstance(record, str):
            skips.add(number, record, raw)
            continue
        key = (record.ad_system, record.account_id, record.relationship)
        if key in seen:
            continue
        if len(records) >= MAX_RECORDS:
            reason = f"more than {MAX_RECORDS} records: the rest is not read"
            skips.add(number, reason, raw, always=True)
            break
        seen.add(key)
        records.append(record)
    else:
        if cut:  # the size limit fell right after a line end
            reason = f"file over {MAX_ADS_TXT_BYTES} bytes: cut here, the rest is not read"
            skips.add(number + 1, reason, "", always=True)
    return AdsTxt(records=tuple(records), variables=tuple(variables), skipped=skips.done())


def _record(line: str, number: int, raw: str) -> AdsRecord | str:
    """The record of a comment-free, stripped line, or the reason it is not one."""
    fields = line.partition(";")[0].split(",")
    if len(fields) < 3:
        return f"expected at least 3 comma-separated fields, found {len(fields)}"
    ad_system = _domain(fields[0].strip())
    if ad_system is None:
        return f"ad system is not a domain: {fields[0].strip()[:60]!r}"
    account_id = fields[1].strip()
    if not account_id:
        return "empty account id"
    relationship = _RELATIONSHIPS.get(fields[2].strip().upper())
    if relationship is None:
        return f"relationship must be DIRECT or RESELLER, not {fields[2].strip()[:60]!r}"
    certification_id = fields[3].strip() or None if len(fields) > 3 else None
    return AdsRecord(ad_system, account_id, relationship, certification_id, number, raw.strip())


@functools.lru_cache(maxsize=4096)  # a file names ~10-2,000 ad systems, each many times
def _domain(field: str) -> str | None:
    """``field`` as a lower-cased domain name, or ``None`` when it is not one."""
    domain = field.lower().removesuffix(".")
    return domain if len(domain) <= 253 and _DOMAIN.fullmatch(domain) else None


def parse_sellers_json(data: bytes | str, source: str = "sellers.json") -> SellersJson:
    """Parse a sellers.json file; ``source`` (a URL or path) names it in messages and log lines.

    Raises :class:`ValueError` (a one-line message) when the file is over
    :data:`MAX_SELLERS_JSON_BYTES`, is not JSON, or has no ``sellers`` list; bad entries are
    skipped with a reason.
    """
    if len(data) > MAX_SELLERS_JSON_BYTES:
        raise ValueError(f"{source}: larger than {MAX_SELLERS_JSON_BYTES} bytes, not read")
    text = _decode(data)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        what = "an HTML page" if _STARTS_WITH_TAG.match(text) else str(exc).splitlines()[0]
        raise ValueError(f"{source}: not a sellers.json file (not JSON: {what})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("sellers"), list):
        raise ValueError(f'{source}: not a sellers.json file (no "sellers" list)')

    skips = _Skips(source, "entry")
    sellers: dict[str, Seller] = {}
    first_at: dict[str, int] = {}
    for index, entry in enumerate(document["sellers"]):
        seller = _seller(entry)
        if isinstance(seller, str):
            skips.add(index, seller, _dump(entry))
        elif seller.seller_id in sellers:
            first = first_at[seller.seller_id]
            reason = f"duplicate seller_id {seller.seller_id[:60]!r} (first at entry {first})"
            skips.add(index, reason, _dump(entry))
        else:
            sellers[seller.seller_id] = seller
            first_at[seller.seller_id] = index
    listed = document.get("identifiers")
    identifiers = tuple(
        (name, value)
        for item in (listed if isinstance(listed, list) else ())
        if isinstance(item, dict)
        and (name := _text(item.get("name"))) is not None
        and (value := _text(item.get("value"))) is not None
    )
    return SellersJson(
        sellers=sellers,
        contact_email=_text(document.get("contact_email")),
        contact_address=_text(document.get("contact_address")),
        version=_text(document.get("version")),
        identifiers=identifiers,
        skipped=skips.done(),
    )


def _seller(entry: object) -> Seller | str:
    """The :class:`Seller` of one ``sellers`` entry, or the reason it is not one."""
    if not isinstance(entry, dict):
        return f"entry is not an object but {type(entry).__name__}"
    seller_id = _text(entry.get("seller_id"))
    if seller_id is None:
        return "no seller_id"
    seller_type = entry.get("seller_type")
    if not isinstance(seller_type, str) or not seller_type.strip():
        return "no seller_type"
    confidential = _flag(entry.get("is_confidential"))
    name = None if confidential else _text(entry.get("name"))
    domain = None if confidential else _text(entry.get("domain"))
    return Seller(
        seller_id=seller_id,
        name=name,
        domain=domain.lower() if domain is not None else None,
        seller_type=seller_type.strip().upper(),
        is_confidential=confidential,
        is_passthrough=_flag(entry.get("is_passthrough")),
    )


def _text(value: object) -> str | None:
    """A string or number as stripped text (``12.0`` as ``"12"``); ``None`` for empty or other."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _flag(value: object) -> bool:
    """The spec's 0/1 flags; ``true``/``"1"``/``"true"`` are also seen in the wild."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return value is True or (isinstance(value, int | float) and value == 1)


def _dump(entry: object) -> str:
    try:
        return json.dumps(entry, ensure_ascii=False)[:MAX_RAW_CHARS]
    except (ValueError, RecursionError):
        return type(entry).__name__


def ads_txt_url(site_url: str, app: bool = False) -> str:
    """``scheme://host/ads.txt`` (``/app-ads.txt`` when ``app``) for any URL of a site.

    The host is lower-cased, user info and a default port dropped, a non-default port kept; a
    URL without a scheme (``example.com/page``) gets ``https``. Raises :class:`ValueError`
    when ``site_url`` has no host or a scheme other than http(s).
    """
    url = site_url.strip()
    if url.startswith("//"):
        url = "https:" + url
    elif "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"not a site URL (bad port): {site_url!r}") from None
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"not a site URL (need http(s) and a host): {site_url!r}")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}/{'app-ads.txt' if app else 'ads.txt'}"
