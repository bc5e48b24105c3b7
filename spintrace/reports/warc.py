"""WARC export of stored captures (ISO 28500, WARC/1.1 via warcio), for evidence.

Each crawled capture becomes a ``response`` record: the HTTP status line and headers as
fetched, and the body as stored. The body is stored decoded (Scrapy removes gzip/deflate
transfer codings), so ``Content-Encoding`` and ``Transfer-Encoding`` are left out and
``Content-Length`` is the stored body's length; the original values are kept as
``X-Spintrace-Original-*`` headers. Captures made by ``sources/pages import`` were never
fetched and become ``resource`` records.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator
from http import HTTPStatus
from io import BytesIO
from typing import IO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spintrace._version import __version__
from spintrace.db.models import Capture
from spintrace.records import Role

__all__ = ["write_warc"]

_DROPPED = {"content-encoding", "transfer-encoding", "content-length"}


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _captures(
    engine: Engine, role: Role | None, capture_ids: Collection[int] | None
) -> Iterator[Capture]:
    with Session(engine) as session:
        query = select(Capture).order_by(Capture.id)
        if role is not None:
            query = query.where(Capture.role == role)
        if capture_ids is None:
            yield from session.scalars(query.execution_options(yield_per=200))
            return
        ids = sorted(set(capture_ids))
        # Chunked: a database limits the bound parameters of one statement.
        for start in range(0, len(ids), 500):
            yield from session.scalars(query.where(Capture.id.in_(ids[start : start + 500])))


def write_warc(
    engine: Engine,
    stream: IO[bytes],
    role: Role | None = None,
    capture_ids: Collection[int] | None = None,
) -> int:
    """Write the captures (of ``role``, or all) to ``stream`` as gzipped WARC; the count.

    ``capture_ids`` restricts the file to those captures (in id order); ``None`` means all.
    """
    from warcio.statusandheaders import (  # type: ignore[import-untyped,unused-ignore]
        StatusAndHeaders,
    )
    from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped,unused-ignore]

    writer = WARCWriter(stream, gzip=True, warc_version="WARC/1.1")
    info = {"software": f"spintrace/{__version__}", "format": "WARC File Format 1.1"}
    writer.write_record(writer.create_warcinfo_record("spintrace-captures.warc.gz", info))
    count = 0
    for capture in _captures(engine, role, capture_ids):
        body = zlib.decompress(capture.body)
        # The URL as requested, not its canonical form: the archive records what was fetched.
        requested = capture.seen_url or capture.url
        date = capture.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        warc_headers = {"WARC-Date": date}
        if capture.role:
            warc_headers["WARC-Spintrace-Role"] = capture.role
        if capture.status is None:
            ctype = (capture.headers or {}).get("content-type", "text/html")
            record = writer.create_warc_record(
                requested,
                "resource",
                payload=BytesIO(body),
                length=len(body),
                warc_content_type=ctype,
                warc_headers_dict=warc_headers,
            )
        else:
            headers = []
            for name, value in (capture.headers or {}).items():
                if name.lower() in _DROPPED:
                    headers.append((f"X-Spintrace-Original-{name}", value))
                else:
                    headers.append((name, value))
            headers.append(("Content-Length", str(len(body))))
            http_headers = StatusAndHeaders(
                _status_line(capture.status), headers, protocol="HTTP/1.1"
            )
            if capture.final_url and capture.final_url != requested:
                warc_headers["WARC-Spintrace-Requested-URI"] = requested
            record = writer.create_warc_record(
                capture.final_url or requested,
                "response",
                payload=BytesIO(body),
                length=len(body),
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
        writer.write_record(record)
        count += 1
    return count
