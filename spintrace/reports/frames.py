"""The notebook API: the database as pandas DataFrames.

    >>> import spintrace
    >>> db = spintrace.open("sqlite:///spintrace.db")
    >>> db.matches(site="dailytrendwire.example", since="30d").groupby("source_site").size()
    >>> db.pages(columns=["url", "title"]).join(db.match_checks().set_index("page_id"))

Each frame holds the rows of the export of the same name (:data:`spintrace.reports.export.
TABLES`), so a frame and ``spintrace export TABLE`` never disagree; ``matches`` adds the ids
that join it to ``pages`` and ``sources`` (``page_id``, ``source_id``) and to ``evidence``
(``id`` = ``match_id``); ``captures`` and ``match_checks`` are frames only. Every frame takes
``columns=`` (only those are read), ``site=`` (rows of that site) and ``since=`` (rows from
that time on), applied by the database (:mod:`spintrace.reports.frame_queries`): asking for
titles never reads the full texts. :meth:`Database.frame` runs any read-only SQL.

pandas is imported when a frame is first asked for, never when ``spintrace`` is imported.
Times are timezone-aware UTC; site names, kinds, roles and relations are categoricals.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from spintrace.config import DB_ENV_VAR, DEFAULT_DB_URL, check_environment
from spintrace.db.engine import open_engine
from spintrace.db.migrate import require_current_schema
from spintrace.errors import ReportError
from spintrace.reports.frame_queries import Since, frame_rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Database", "open_database"]

_TIMES = {"published", "added_at", "matched_at", "first_seen", "last_seen", "source_published",
          "page_added_at", "found_at", "page_published", "page_time", "source_time",
          "fetched_at", "processed_at", "checked_at"}  # fmt: skip
_CATEGORIES = {"site", "page_site", "source_site", "relation", "kind", "page_a_site",
               "page_b_site", "order", "page_time_basis", "source_time_basis", "basis",
               "outcome", "role"}  # fmt: skip

Columns = Sequence[str] | None

# What a read-only query may do in SQLite (sqlite3's authorizer): read tables and call
# functions, and the pragmas that only describe the schema (whatever their argument).
_SQLITE_READS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_SQLITE_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "foreign_key_list"}
)


def _sqlite_read_only(action: int, arg1: str | None, *_: object) -> int:
    if action in _SQLITE_READS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _SQLITE_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class Database:
    """A spintrace database, read as DataFrames. Use :func:`spintrace.open` to get one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<spintrace.Database {self.engine.url.render_as_string(hide_password=True)}>"

    def table(
        self,
        name: str,
        columns: Columns = None,
        since: Since | None = None,
        site: str | None = None,
        index: str | None = None,
    ) -> pd.DataFrame:
        """Frame ``name`` (an export table, ``captures`` or ``match_checks``): only
        ``columns`` (all when ``None``; the ``index`` column is always read), the rows of
        ``site`` (a host or URL: its registered domain, on either side of a link) and from
        ``since`` on (a datetime, a date, or text such as ``2026-11-30`` or ``7d``).
        """
        import pandas as pd

        if isinstance(columns, str):
            columns = [columns]
        keep = (index,) if index else ()
        names, rows = frame_rows(self.engine, name, columns, since, site, keep)
        frame = pd.DataFrame(list(rows), columns=list(names))
        return _typed(frame, index)

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The rows of a read-only SQL query (``:name`` placeholders filled from ``params``).

        The query runs where it cannot change anything: on SQLite every statement but a read
        is refused, on PostgreSQL it runs in a ``READ ONLY`` transaction. A statement that
        would write (``INSERT``, ``DROP``, ...) is a :class:`~spintrace.errors.ReportError`.
        """
        import pandas as pd

        try:
            with self._read_only() as connection:
                result = connection.execute(text(sql), dict(params or {}))
                if not result.returns_rows:
                    return pd.DataFrame()
                return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except DBAPIError as exc:
            message = str(exc.orig).strip() if exc.orig is not None else str(exc)
            if _refused_write(exc):
                raise ReportError(
                    f"db.frame() only reads: the database refused {_head(sql)!r} ({message})"
                ) from None
            raise ReportError(f"db.frame() query failed: {message}") from exc

    @contextmanager
    def _read_only(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                raw: Any = connection.connection.driver_connection
                raw.set_authorizer(_sqlite_read_only)
                try:
                    yield connection
                finally:
                    raw.set_authorizer(None)
                    connection.rollback()
                return
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            # A query takes the snapshot: from then on the transaction cannot be made
            # read-write again (SET TRANSACTION READ WRITE in the user's text is refused).
            connection.exec_driver_sql("SELECT 1")
            try:
                yield connection
            finally:
                connection.rollback()

    def pages(self, columns: Columns = None, since: Since | None = None,
              site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Suspect pages, one row per stored text (index ``id``), with how many sources each
        is linked to; ``since`` compares ``added_at``. Leave ``text`` out of ``columns`` to
        keep a large database's texts in it."""
        return self.table("pages", columns, since, site, index="id")

    def sources(self, columns: Columns = None, since: Since | None = None,
                site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Original articles (index ``id``), with how many pages copy each."""
        return self.table("sources", columns, since, site, index="id")

    def matches(self, columns: Columns = None, since: Since | None = None,
                site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """One row per (page, source) link: ``id`` (``match_id`` in :meth:`evidence`),
        ``page_id`` and ``source_id`` (the index of :meth:`pages` and :meth:`sources`), scores,
        evidence counts, both sides' times and who came first (``page_time``, ``source_time``,
        their ``*_basis``, ``order``), and the ``lag`` from the source's publication to the
        page's arrival in the database (when both columns are read). ``site`` keeps links with
        the site on either side; ``since`` compares ``matched_at``."""
        frame = self.table("matches", columns, since, site)
        if {"page_added_at", "source_published"} <= set(frame.columns):
            frame["lag"] = frame["page_added_at"] - frame["source_published"]
        return frame

    def copy_timing(self, since: Since | None = None, site: str | None = None) -> pd.DataFrame:
        """One row per site of copies: how fast it copies. ``links``; ``timed`` (links whose
        source has a published date and whose page was crawled); the median and quartiles of
        ``copy_delay_hours`` (source published -> the page's first capture); how many of the
        timed copies were captured within 2 and 24 hours; and the median of
        ``published_delay_hours`` (to the page's own published date, where it has one)."""
        import pandas as pd

        wanted = ["page_site", "copy_delay_hours", "published_delay_hours"]
        links = self.table("matches", wanted, since, site)
        delay = pd.to_numeric(links["copy_delay_hours"], errors="coerce")
        published = pd.to_numeric(links["published_delay_hours"], errors="coerce")
        grouped = pd.DataFrame(
            {"site": links["page_site"], "delay": delay, "published": published}
        ).groupby("site", observed=True)
        frame = pd.DataFrame(
            {
                "links": grouped.size(),
                "timed": grouped["delay"].count(),
                "median_hours": grouped["delay"].median(),
                "q1_hours": grouped["delay"].quantile(0.25),
                "q3_hours": grouped["delay"].quantile(0.75),
                "within_2h": grouped["delay"].agg(lambda d: int(((d >= 0) & (d <= 2)).sum())),
                "within_24h": grouped["delay"].agg(lambda d: int(((d >= 0) & (d <= 24)).sum())),
                "median_published_hours": grouped["published"].median(),
            }
        )
        frame.index = frame.index.astype(str)
        frame.index.name = "site"
        return frame.sort_values(["within_2h", "links"], ascending=False)

    def evidence(self, columns: Columns = None, since: Since | None = None,
                 site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """One row per substitution found in a link: spun -> original, where, and why;
        ``match_id`` joins :meth:`matches`' ``id``. ``site`` is the page's; ``since``
        compares the link's ``matched_at``."""
        return self.table("evidence", columns, since, site)

    def sites(self, columns: Columns = None, since: Since | None = None,
              site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """One row per site (index ``site``): pages, sources, pages linked to a source,
        sources they copied; ``since`` compares ``first_seen``."""
        return self.table("sites", columns, since, site, index="site")

    def indicators(self, columns: Columns = None, since: Since | None = None,
                   site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Operator traces per site (tracking and ad IDs, generator, theme, favicon, links);
        ``since`` compares ``last_seen``."""
        return self.table("indicators", columns, since, site)

    def spin_pairs(self, columns: Columns = None, since: Since | None = None,
                   site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Pages of two sites publishing the same spin of one source (index ``id``): both
        URLs, the source, estimated and exact Jaccard, and the substitutions they share
        (``evidence``); ``since`` compares ``found_at``."""
        return self.table("spin_pairs", columns, since, site, index="id")

    def substitutions(self, columns: Columns = None, since: Since | None = None,
                      site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """The learned spinner substitutions, one row per site that used each; ``since``
        compares ``last_seen``."""
        return self.table("substitutions", columns, since, site)

    def captures(self, columns: Columns = None, since: Since | None = None,
                 site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Stored captures without their bodies (index ``id``): URL, site, HTTP status,
        content type, size, SHA-256, ``fetched_at`` (what ``since`` compares), crawl role and
        depth, what processing made of it and ``document_id`` (the document extracted from
        it; ``pages()`` / ``sources()`` index), and the HTTP headers."""
        return self.table("captures", columns, since, site, index="id")

    def match_checks(self, columns: Columns = None, since: Since | None = None,
                     site: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Every checked page's last check: ``page_id`` (joins :meth:`pages`), URL, site,
        ``outcome`` (linked, unlinked, too-short), ``links``, the ``matcher`` that judged it
        (with its non-default verdict settings, e.g. ``align-v4 threshold=0.6``), the sources
        it was judged against and ``checked_at`` (what ``since`` compares)."""
        return self.table("match_checks", columns, since, site)


def _typed(frame: pd.DataFrame, index: str | None) -> pd.DataFrame:
    import pandas as pd

    for column in frame.columns:
        if column in _TIMES:
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif column in _CATEGORIES:
            frame[column] = frame[column].astype("category")
    if index:
        frame = frame.set_index(index)
    return frame


def _refused_write(exc: DBAPIError) -> bool:
    """Whether the database refused the statement for writing: SQLite's authorizer said no,
    or PostgreSQL's read-only transaction did (SQLSTATE 25006)."""
    if getattr(exc.orig, "sqlstate", None) == "25006":
        return True
    return "not authorized" in str(exc.orig)


def _head(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


def open_database(url: str | None = None) -> Database:
    """Open a migrated spintrace database (``url``, else ``$SPINTRACE_DB``, else the default).

    A misspelt ``SPINTRACE_*`` variable (``DB`` misspelt as ``BD``) is a
    :class:`~spintrace.errors.ConfigError` here as in the CLI: ignored, it would open another
    database without a word."""
    check_environment()
    url = url or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    engine = open_engine(url)
    try:
        require_current_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return Database(engine)
