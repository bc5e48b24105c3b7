"""A crawled page whose bytes contradict its charset label is stored with the right text.

A real Scrapy crawl (in a subprocess) of a server on 127.0.0.1 that the test starts.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from test_crawler import FAST, run_cli

from spintrace.db import Capture, Document, open_engine, upgrade
from spintrace.demo.loopback import LoopbackServer, Reply, article_html

QUOTE = (
    "\u201cÀ la carte, c\u2019est fini,\u201d said the chef of the crème brûlée bar on the Rue "
    "de la Mañana \u2013 the café had served the same menu for thirty years."
)


def test_a_windows_1252_page_labelled_utf8_is_stored_readable(tmp_path: Path) -> None:
    """Regression (issue 9.15): header and ``<meta>`` say UTF-8, the bytes are Windows-1252;
    the document read "crčme brűlée" and "Ŕ la carte" (decoded as Windows-1250)."""
    db_url = f"sqlite:///{tmp_path / 'charset.db'}"
    engine = open_engine(db_url, create=True)
    upgrade(engine)
    with LoopbackServer() as server:
        html = article_html(7, server.url, extra=f"<p>{QUOTE}</p>")
        assert b"<meta charset='utf-8'>" in html
        raw = html.decode("utf-8").encode("cp1252")
        server.routes["/news/brief.html"] = Reply(
            raw, headers=(("Content-Type", "text/html; charset=utf-8"),)
        )
        result = run_cli(db_url, "crawl", "--list", server.url + "/news/brief.html", *FAST)
        assert result.returncode == 0, result.stderr
        assert "1 new document," in result.stdout, result.stdout
    with Session(engine) as session:
        capture = session.scalars(select(Capture)).one()
        text = session.scalars(select(Document.text)).one()
    engine.dispose()
    assert capture.sha256 and capture.body_size == len(raw)  # the bytes are kept as received
    assert QUOTE in text
    assert not {"č", "ű", "Ŕ", "ń", "\ufffd"} & set(text)
